// The zero-setup path: no DATABASE_URL, so the app starts its own Postgres under DATA_DIR and
// finds the same data when started again.
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import postgres from 'postgres';
import { startApp } from '../../support/app-process';

/** The embedded server's address, from the files it keeps in DATA_DIR. */
async function connect(dataDir: string) {
	const credentials = JSON.parse(await readFile(path.join(dataDir, 'postgres-credentials.json'), 'utf8'));
	const port = (await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[3];
	return postgres({ host: '127.0.0.1', port: Number(port), database: 'picture', ...{ username: credentials.user, password: credentials.password }, max: 1, onnotice: () => {} });
}

test('starts its own Postgres in DATA_DIR, and finds the same data on a second start', async () => {
	test.setTimeout(120_000);
	const dataDir = await mkdtemp(path.join(tmpdir(), 'picture-embedded-'));
	await chmod(dataDir, 0o755);
	try {
		const first = await startApp({ DATA_DIR: dataDir }, { embedded: true });
		const health = await (await fetch(`${first.origin}/api/health`)).json();
		expect(health).toMatchObject({ status: 'ok', migrations: { current: true } });
		expect(first.output()).toContain('creating a new cluster');

		let sql = await connect(dataDir);
		const [marker] = await sql`select enqueue_job('marker', '{"kept": true}'::jsonb) as id`;
		const id = marker!.id as string;
		await sql.end();
		await first.stop();

		const second = await startApp({ DATA_DIR: dataDir }, { embedded: true });
		expect(second.output()).not.toContain('creating a new cluster');
		expect(second.output()).toContain('migrations current');
		sql = await connect(dataDir);
		const rows = await sql`select payload from job_queue where id = ${id}`;
		await sql.end();
		expect(rows[0]?.payload).toEqual({ kept: true });
		await second.stop();
	} finally {
		await rm(dataDir, { recursive: true, force: true });
	}
});
