// An app SIGKILLed with its embedded Postgres running leaves that postgres behind (the child
// outlives its parent). The next start adopts it, and a graceful stop then stops it too: nothing is
// left running for that data directory.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import postgres from 'postgres';
import { startApp } from '../../support/app-process';

/** Live (not zombie) postmasters started with `-D clusterDir`, read from /proc as `ps` would. */
async function postmastersOf(clusterDir: string): Promise<number[]> {
	const pids: number[] = [];
	for (const entry of await readdir('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		const [cmdline, stat] = await Promise.all([
			readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''),
			readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
		]);
		const args = cmdline.split('\0');
		const zombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
		if (!zombie && path.basename(args[0] ?? '') === 'postgres' && args[args.indexOf('-D') + 1] === clusterDir) pids.push(Number(entry));
	}
	return pids;
}

async function selectOne(dataDir: string): Promise<number> {
	const credentials = JSON.parse(await readFile(path.join(dataDir, 'postgres-credentials.json'), 'utf8'));
	const port = Number((await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[3]);
	const sql = postgres({ host: '127.0.0.1', port, database: 'picture', username: credentials.user, password: credentials.password, max: 1, onnotice: () => {} });
	try {
		const [row] = await sql`select 1 as one`;
		return row!.one as number;
	} finally {
		await sql.end();
	}
}

test('a postgres left by a SIGKILLed app is adopted by the next start and stopped with it', async () => {
	test.setTimeout(120_000);
	const dataDir = await mkdtemp(path.join(tmpdir(), 'picture-orphan-'));
	await chmod(dataDir, 0o755); // the embedded server runs as the OS user postgres
	const clusterDir = path.join(dataDir, 'postgres');
	try {
		const first = await startApp({ DATA_DIR: dataDir }, { embedded: true });
		const [postmaster] = await postmastersOf(clusterDir);
		expect(postmaster).toBeDefined();
		const exited = once(first.child, 'exit');
		first.child.kill('SIGKILL');
		await exited;
		// The orphan: still running, still answering.
		expect(await postmastersOf(clusterDir)).toEqual([postmaster]);
		expect(await selectOne(dataDir)).toBe(1);

		const second = await startApp({ DATA_DIR: dataDir }, { embedded: true });
		expect(second.output()).toContain(`adopting the server a killed app left running`);
		expect(second.output()).toContain(`(pid ${postmaster})`);
		expect(second.output()).not.toContain('creating a new cluster');
		expect(await postmastersOf(clusterDir)).toEqual([postmaster]); // the same server, not a second one

		// A command beside the running app joins its server and leaves it running: it is not an orphan.
		const migrate = spawnSync('npx', ['tsx', 'scripts/migrate.ts', '--status'], { env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' }, encoding: 'utf8' });
		expect(migrate.status, migrate.stderr).toBe(0);
		expect(migrate.stdout).toContain(`joining the server of the app running as pid ${second.child.pid}`);
		expect(await postmastersOf(clusterDir)).toEqual([postmaster]);
		expect((await fetch(`${second.origin}/api/health`)).status).toBe(200);

		await second.stop(); // SIGTERM, and the app's own graceful shutdown

		expect(second.child.exitCode).toBe(0);
		expect(await postmastersOf(clusterDir)).toEqual([]);
		await expect(readFile(path.join(clusterDir, 'postmaster.pid'))).rejects.toThrow(/ENOENT/); // a clean shutdown

		// And a third start finds nothing running and starts its own.
		const third = await startApp({ DATA_DIR: dataDir }, { embedded: true });
		expect(third.output()).not.toContain('adopting');
		await third.stop();
		expect(await postmastersOf(clusterDir)).toEqual([]);
	} finally {
		// Whatever failed above, leave no postgres behind.
		for (const pid of await postmastersOf(clusterDir)) process.kill(pid, 'SIGINT');
		await expect.poll(() => postmastersOf(clusterDir), { timeout: 30_000 }).toEqual([]);
		await rm(dataDir, { recursive: true, force: true });
	}
});
