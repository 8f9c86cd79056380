// The processes of one scale-out configuration: N built apps on their own ports and M
// `npm run worker` processes, each in a process group of its own, so stopping one ends everything it
// started, and an exit handler SIGKILLs any group still alive when the bench ends however it ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../src/lib/server/db/embedded';
import { sleep } from './support';

const alive = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// already gone
	}
}

function installExitHook(): void {
	if (exitHookInstalled) return;
	exitHookInstalled = true;
	// 'exit' handlers run synchronously: a signal is all that can be sent, and SIGKILL cannot be ignored.
	process.on('exit', () => {
		for (const pid of alive) killGroup(pid, 'SIGKILL');
	});
}

export interface Child {
	pid: number;
	label: string;
	stop(): Promise<void>;
}

/** The URL with application_name set, so pg_stat_activity tells each process's connections apart. */
export function named(url: string, applicationName: string): string {
	const parsed = new URL(url);
	parsed.searchParams.set('application_name', applicationName);
	return parsed.toString();
}

/**
 * Spawns node with args in its own process group and resolves once ready() says so (polled every
 * 100 ms, up to 60 s); a child that exits first, or never gets ready, is stopped and reported with
 * the tail of its output.
 */
export async function startChild(label: string, args: string[], env: Record<string, string>, ready: (output: string) => Promise<boolean>): Promise<Child> {
	installExitHook();
	const child: ChildProcess = spawn(process.execPath, args, {
		env: { ...process.env, ...env },
		stdio: ['ignore', 'pipe', 'pipe'],
		detached: true
	});
	const pid = child.pid!;
	alive.add(pid);
	let output = '';
	const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
	child.stdout!.on('data', keep);
	child.stderr!.on('data', keep);
	const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
	exited.then(() => alive.delete(pid));
	const stop = async () => {
		if (child.exitCode === null && child.signalCode === null) killGroup(pid, 'SIGTERM');
		await Promise.race([exited, sleep(8_000).then(() => killGroup(pid, 'SIGKILL'))]);
		await exited;
		// Anything the child itself started and left behind in its group.
		killGroup(pid, 'SIGKILL');
	};
	for (let i = 0; i < 600; i++) {
		if (child.exitCode !== null || child.signalCode !== null) break;
		if (await ready(output).catch(() => false)) return { pid, label, stop };
		await sleep(100);
	}
	await stop();
	throw new Error(`${label} did not start: ${output.trim().slice(-1500) || 'no output'}`);
}

export interface App extends Child {
	origin: string;
}

export async function startApp(buildDir: string, index: number, env: Record<string, string>): Promise<App> {
	const port = await freePort();
	const origin = `http://127.0.0.1:${port}`;
	const child = await startChild(
		`app ${index}`,
		[buildDir],
		{ ...env, DATABASE_URL: named(env.DATABASE_URL!, `picture-app-${index}`), PORT: String(port), HOST: '127.0.0.1', ORIGIN: origin, IN_PROCESS_WORKER: 'off' },
		async () => (await fetch(`${origin}/api/health`)).ok
	);
	return { ...child, origin };
}

/** `npm run worker` without npm and tsx's own launcher in between: one node process, whose CPU is the worker's. */
export async function startWorker(index: number, env: Record<string, string>): Promise<Child> {
	return startChild(
		`worker ${index}`,
		['--import', 'tsx', 'scripts/worker.ts'],
		{ ...env, DATABASE_URL: named(env.DATABASE_URL!, `picture-worker-${index}`) },
		async (output) => / running \d+ job\(s\) at a time/.test(output)
	);
}

/** Starts count children at once with start(i), stopping those that started if any fails. */
export async function startMany<T extends Child>(count: number, start: (index: number) => Promise<T>): Promise<T[]> {
	const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => start(i + 1)));
	const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
	const failed = results.find((r) => r.status === 'rejected');
	if (failed) {
		await stopAll(started);
		throw (failed as PromiseRejectedResult).reason;
	}
	return started;
}

export async function stopAll(children: Child[]): Promise<void> {
	await Promise.all(children.map((c) => c.stop()));
}
