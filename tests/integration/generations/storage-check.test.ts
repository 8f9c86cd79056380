// A broken image folder is found at start, like a broken database: /api/health names it and no
// in-process worker starts (its every job would fail with ENOTDIR), instead of the first job
// discovering it.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { GET as health } from '$routes/api/health/+server';
import { loadConfig, type Env } from '$lib/server/config';
import { startServices, type Services } from '$lib/server/runtime';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call } from '../../support/routes';

let db: TestDatabase;
let root: string;
let services: Services | null = null;
beforeAll(async () => {
	db = await createTestDatabase();
	root = await mkdtemp(path.join(tmpdir(), 'picture-storage-check-'));
});
afterEach(async () => {
	await services?.close();
	services = null;
});
afterAll(async () => {
	await db.drop();
	await rm(root, { recursive: true, force: true });
});

async function start(env: Env, logs: string[]) {
	const config = loadConfig({
		DATABASE_URL: db.url,
		DATA_DIR: root,
		IN_PROCESS_WORKER: 'on',
		SESSION_SECRET: 'a-session-secret-that-is-long-enough-0123456789',
		...env
	});
	services = await startServices(config, { log: (message) => logs.push(message) });
	await services.whenReady();
	return services;
}

test('IMAGE_DIR pointing at a file: one log line naming it, 503 naming storage, and no worker', async () => {
	const file = path.join(root, 'not-a-folder');
	await writeFile(file, 'in the way');
	const logs: string[] = [];
	const app = await start({ IMAGE_DIR: file }, logs);

	const problems = logs.filter((line) => line.includes('IMAGE STORAGE UNUSABLE'));
	expect(problems).toHaveLength(1);
	expect(problems[0]).toContain(file);
	expect(problems[0]).toMatch(/not a folder/);
	expect(app.worker.inProcess).toBeNull();
	expect(logs.join('\n')).not.toMatch(/in-process worker .* started/);

	const response = await call(health, app, { path: '/api/health' });
	expect(response.status).toBe(503);
	const body = await response.json();
	expect(body).toMatchObject({ status: 'unavailable', database: { ok: true }, migrations: { current: true }, storage: { ok: false } });
	expect(body.storage.error).toContain(file);
});

test('IMAGE_DIR under a file (so it cannot be created): reported the same way', async () => {
	const file = path.join(root, 'a-file');
	await writeFile(file, 'in the way');
	const app = await start({ IMAGE_DIR: path.join(file, 'images') }, []);
	const body = await (await call(health, app, { path: '/api/health' })).json();
	expect(body.storage).toEqual({ ok: false, error: expect.stringMatching(/a part of the path is a file.*ENOTDIR/) });
	expect(app.worker.inProcess).toBeNull();
});

test('a writable IMAGE_DIR that does not exist yet: created, the probe removed, 200 and the worker runs', async () => {
	const folder = path.join(root, 'fresh', 'images');
	const logs: string[] = [];
	const app = await start({ IMAGE_DIR: folder }, logs);

	expect(await readdir(folder)).toEqual([]); // created, and the probe file is gone again
	expect(logs.join('\n')).not.toContain('IMAGE STORAGE UNUSABLE');
	expect(app.worker.inProcess).not.toBeNull();
	const response = await call(health, app, { path: '/api/health' });
	expect(response.status).toBe(200);
	expect(await response.json()).toMatchObject({ status: 'ok', storage: { ok: true } });
});
