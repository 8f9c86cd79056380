// How the embedded database tells an orphaned postmaster of its data directory (adopted, and
// stopped with the app) from anything else a stale postmaster.pid may name (left alone), against
// real processes: a system Postgres cluster started by pg_ctl (so its parent is init, as an orphan's
// is) and a plain node process.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startEmbeddedPostgres } from '$lib/server/db/embedded';
import { findPostmaster, isAlive, liveOwner, stopPostmaster } from '$lib/server/db/postmaster';
import { startSystemPostgres, type SystemPostgres } from '../../support/system-postgres';

let cluster: SystemPostgres;
let clusterDir: string;
let clusterPid: number;
let bystander: ChildProcess;
let scratch: string;

beforeAll(async () => {
	cluster = await startSystemPostgres();
	clusterDir = path.join(cluster.dir, 'data');
	clusterPid = Number((await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
	// A live process that is not postgres, as a pid reused after a reboot would be.
	bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
	await once(bystander, 'spawn');
	scratch = await mkdtemp(path.join(tmpdir(), 'picture-postmaster-'));
	await chmod(scratch, 0o755);
}, 60_000);

afterAll(async () => {
	bystander?.kill('SIGKILL');
	await cluster?.stop();
	await rm(scratch, { recursive: true, force: true });
});

/** A data directory whose postgres/postmaster.pid is a copy of the cluster's, its pid line replaced by pid. */
async function dataDirNaming(name: string, pid: number): Promise<string> {
	const dataDir = path.join(scratch, name);
	await mkdir(path.join(dataDir, 'postgres'), { recursive: true });
	const lines = (await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n');
	lines[0] = String(pid);
	await writeFile(path.join(dataDir, 'postgres', 'postmaster.pid'), lines.join('\n'));
	return dataDir;
}

async function exitedPid(): Promise<number> {
	const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
	await once(child, 'exit');
	return child.pid!;
}

test('a live postgres of the data directory is found with its port and status', async () => {
	expect(await findPostmaster(clusterDir)).toEqual({ kind: 'ours', pid: clusterPid, port: cluster.port, status: 'ready' });
});

test('a postmaster.pid naming a postgres of another data directory, or another program, is foreign', async () => {
	const copied = path.join(scratch, 'copied', 'postgres');
	await mkdir(copied, { recursive: true });
	await copyFile(path.join(clusterDir, 'postmaster.pid'), path.join(copied, 'postmaster.pid'));
	expect(await findPostmaster(copied)).toEqual({ kind: 'foreign', pid: clusterPid });

	const reused = await dataDirNaming('reused', bystander.pid!);
	expect(await findPostmaster(path.join(reused, 'postgres'))).toEqual({ kind: 'foreign', pid: bystander.pid });
});

test('a postmaster.pid naming a process that has exited is nothing', async () => {
	const stale = await dataDirNaming('stale', await exitedPid());
	expect(await findPostmaster(path.join(stale, 'postgres'))).toEqual({ kind: 'none' });
});

test('the owner is the live process the owner file names, else the parent unless that is init', async () => {
	const ownerFile = path.join(scratch, 'owner.pid');
	await writeFile(ownerFile, String(bystander.pid));
	expect(await liveOwner(ownerFile, clusterPid)).toBe(bystander.pid);
	await writeFile(ownerFile, String(process.pid));
	expect(await liveOwner(ownerFile, clusterPid)).toBe(process.pid);
	await writeFile(ownerFile, String(await exitedPid())); // the app that started it was killed
	expect(await liveOwner(ownerFile, clusterPid)).toBeNull();
	// No owner file: pg_ctl has exited, so the cluster's parent is init, as a killed app's child's is.
	expect(await liveOwner(path.join(scratch, 'no-such-file'), clusterPid)).toBeNull();
});

test('start leaves a foreign process named by postmaster.pid alone, and says so', async () => {
	for (const [name, pid] of [
		['beside-bystander', bystander.pid!],
		['beside-other-postgres', clusterPid]
	] as const) {
		const dataDir = await dataDirNaming(name, pid);
		const logs: string[] = [];
		// initdb refuses the directory that is not empty; Postgres itself would refuse the live pid's lock file.
		await expect(startEmbeddedPostgres({ dataDir, log: (line) => logs.push(line) })).rejects.toThrow(/not empty/);
		expect(logs.join('\n')).toContain(`names pid ${pid}, which is not a postgres of this data directory: leaving it alone`);
		expect(await isAlive(pid)).toBe(true);
	}
	expect(await findPostmaster(clusterDir)).toMatchObject({ kind: 'ours', pid: clusterPid });
}, 60_000);

test('an orphan is stopped by its pid, though it is not our child, and its postmaster.pid goes with it', async () => {
	await stopPostmaster(clusterPid);
	expect(await isAlive(clusterPid)).toBe(false);
	expect(await findPostmaster(clusterDir)).toEqual({ kind: 'none' });
	await stopPostmaster(clusterPid); // already gone: nothing to do
});
