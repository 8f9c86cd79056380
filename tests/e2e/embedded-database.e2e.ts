// The zero-setup path: no DATABASE_URL, so the app starts its own Postgres under DATA_DIR and
// finds the same data when started again.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import postgres from 'postgres';

async function freePort(): Promise<number> {
	const server = createServer().listen(0, '127.0.0.1');
	await once(server, 'listening');
	const port = (server.address() as { port: number }).port;
	server.close();
	return port;
}

async function startApp(dataDir: string) {
	const port = await freePort();
	const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, IN_PROCESS_WORKER: 'off' };
	delete env.DATABASE_URL;
	const child = spawn(process.execPath, [process.env.BUILD_DIR ?? 'build'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
	let output = '';
	child.stdout!.on('data', (chunk) => (output += chunk));
	child.stderr!.on('data', (chunk) => (output += chunk));
	const url = `http://127.0.0.1:${port}/api/health`;
	// Wait for the server to answer: the health endpoint is the readiness signal.
	await expect
		.poll(async () => (await fetch(url).catch(() => null))?.status ?? 0, { timeout: 60_000, intervals: [100] })
		.toBe(200);
	return { child, url, output: () => output };
}

async function stopApp(child: ChildProcess) {
	const exited = once(child, 'exit');
	child.kill('SIGTERM');
	await exited;
}

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
		const first = await startApp(dataDir);
		const health = await (await fetch(first.url)).json();
		expect(health).toMatchObject({ status: 'ok', migrations: { current: true } });
		expect(first.output()).toContain('creating a new cluster');

		let sql = await connect(dataDir);
		const [marker] = await sql`select enqueue_job('marker', '{"kept": true}'::jsonb) as id`;
		const id = marker!.id as string;
		await sql.end();
		await stopApp(first.child);

		const second = await startApp(dataDir);
		expect(second.output()).not.toContain('creating a new cluster');
		expect(second.output()).toContain('migrations current');
		sql = await connect(dataDir);
		const rows = await sql`select payload from job_queue where id = ${id}`;
		await sql.end();
		expect(rows[0]?.payload).toEqual({ kept: true });
		await stopApp(second.child);
	} finally {
		await rm(dataDir, { recursive: true, force: true });
	}
});
