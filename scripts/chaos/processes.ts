// The app's real processes, as an operator runs them: `scripts/worker.ts` workers and generation
// enqueuers, each its own Node process (node --import tsx: one process, so SIGKILL kills it all).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface Proc {
	name: string;
	child: ChildProcess;
	exited: Promise<number | null>;
	/** The last lines it printed, for diagnosing a failure. */
	tail: string[];
}

function start(name: string, script: string, args: string[], env: Record<string, string>, log?: (m: string) => void): Proc {
	const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
		cwd: path.resolve('.'),
		env: { ...process.env, ...env },
		stdio: ['ignore', 'pipe', 'pipe']
	});
	const tail: string[] = [];
	const keep = (chunk: Buffer) => {
		for (const line of chunk.toString().split('\n').filter(Boolean)) {
			tail.push(line);
			if (tail.length > 40) tail.shift();
			if (process.env.CHAOS_VERBOSE) log?.(`${name}: ${line}`);
		}
	};
	child.stdout!.on('data', keep);
	child.stderr!.on('data', keep);
	const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
	return { name, child, exited, tail };
}

export interface WorkerEnv {
	databaseUrl: string;
	imageDir: string;
	dataDir: string;
	leaseSeconds: number;
	concurrency: number;
	msPerImage: number;
	pollSeconds?: number;
	extra?: Record<string, string>;
}

export function workerEnv(options: WorkerEnv): Record<string, string> {
	return {
		DATABASE_URL: options.databaseUrl,
		IMAGE_DIR: options.imageDir,
		DATA_DIR: options.dataDir,
		WORKER_LEASE_SECONDS: String(options.leaseSeconds),
		WORKER_CONCURRENCY: String(options.concurrency),
		WORKER_POLL_SECONDS: String(options.pollSeconds ?? 1),
		LOCAL_MODEL_MS_PER_IMAGE: String(options.msPerImage),
		DATABASE_POOL_SIZE: '4',
		WORKER_SHUTDOWN_SECONDS: '2',
		...options.extra
	};
}

export function startWorker(name: string, env: Record<string, string>, log?: (m: string) => void): Proc {
	return start(name, 'scripts/worker.ts', [], env, log);
}

/** Submits `count` generations through the generation service, `parallel` at a time; exits 0 when all are in. */
export function startEnqueuer(
	name: string,
	options: { databaseUrl: string; userId: string; count: number; parallel: number; modelId: string; label: string },
	log?: (m: string) => void
): Proc {
	return start(
		name,
		'scripts/chaos/enqueuer.ts',
		[options.userId, String(options.count), String(options.parallel), options.modelId, options.label],
		{ DATABASE_URL: options.databaseUrl },
		log
	);
}

export function sigkill(proc: Proc): Promise<number | null> {
	if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
	return proc.exited;
}

/** SIGTERM (graceful: running jobs finish or are handed back), SIGKILL after graceMs. */
export async function terminate(proc: Proc, graceMs = 10_000): Promise<void> {
	if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
	proc.child.kill('SIGTERM');
	const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
	await proc.exited;
	clearTimeout(timer);
}
