// An app or worker started before its database is up (a deploy racing the database, a restart):
// it answers 503 meanwhile, keeps trying, and comes to life by itself when the database answers,
// running its worker without a restart. A migration history that disagrees is not retried.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { loadConfig } from '$lib/server/config';
import { freePort } from '$lib/server/db/embedded';
import { checkHealth } from '$lib/server/monitoring/health';
import { startServices, type Services } from '$lib/server/runtime';
import { startSystemPostgres, type SystemPostgres } from '../../support/system-postgres';

let cluster: SystemPostgres | null = null;
let services: Services | null = null;
let dataDir: string | null = null;
afterAll(async () => {
	await services?.close();
	await cluster?.stop();
	if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('started before the database, the app retries, then migrates and starts its worker on its own', async () => {
	const port = await freePort();
	dataDir = await mkdtemp(path.join(tmpdir(), 'picture-late-'));
	const logs: string[] = [];
	const config = loadConfig({
		DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres`,
		DATA_DIR: dataDir,
		IN_PROCESS_WORKER: 'on',
		SESSION_SECRET: 'a-session-secret-that-is-long-enough-0123456789'
	});
	services = await startServices(config, { log: (m) => logs.push(m) });
	expect(services.migrationError).not.toBeNull();
	expect(services.worker.inProcess).toBeNull();
	expect((await checkHealth(services)).status).toBe('unavailable');
	expect(logs.join('\n')).toMatch(/retrying until the database answers/);

	cluster = await startSystemPostgres({ settings: { port: String(port) } });
	expect(await services.whenReady()).toBe(true);
	expect(services.migrationError).toBeNull();
	expect(services.worker.inProcess).not.toBeNull();
	expect((await checkHealth(services)).status).toBe('ok');
}, 90_000);
