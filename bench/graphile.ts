// The reference queue of the comparisons: graphile-worker 0.17.3 (the last release for Node 20),
// installed into bench/anchors/ on first use so the app's own install never downloads it.
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { log, round, sleep, type BenchServer } from './support';

export const GRAPHILE_VERSION = '0.17.3';
const ANCHORS_DIR = path.resolve('bench/anchors');
const PACKAGE_DIR = path.join(ANCHORS_DIR, 'node_modules', 'graphile-worker');

// The few parts of graphile-worker's API the bench calls, typed here so that type-checking the
// project never needs the package installed.
interface Job {
	payload: unknown;
}
interface Runner {
	stop(): Promise<void>;
}
interface WorkerUtils {
	addJob(identifier: string, payload: unknown): Promise<Job>;
	withPgClient<T>(callback: (client: { query(text: string): Promise<unknown> }) => Promise<T>): Promise<T>;
	release(): Promise<void>;
}
interface GraphileWorker {
	run(options: Record<string, unknown>): Promise<Runner>;
	runMigrations(options: Record<string, unknown>): Promise<void>;
	makeWorkerUtils(options: Record<string, unknown>): Promise<WorkerUtils>;
	Logger: new (factory: () => () => void) => unknown;
}
interface PgPool {
	on(event: 'error', listener: (error: Error) => void): void;
	on(event: 'connect', listener: (client: { on(event: 'error', listener: () => void): void }) => void): void;
	end(): Promise<void>;
}
interface Pg {
	Pool: new (options: { connectionString: string; max: number }) => PgPool;
}

let loaded: Promise<GraphileWorker> | null = null;

/**
 * A pg pool (the driver graphile-worker brings) that the bench owns and ends itself: a pool that
 * graphile-worker makes from a connection string can outlive runner.stop(), and an idle client of it
 * killed by the database's drop would be an unhandled error.
 */
async function pgPool(url: string, max: number): Promise<PgPool> {
	await loadGraphile();
	const module = (await import(pathToFileURL(path.join(ANCHORS_DIR, 'node_modules', 'pg', 'lib', 'index.js')).href)) as Pg & { default?: Pg };
	const pool = new (module.default ?? module).Pool({ connectionString: url, max });
	// graphile-worker checks for both handlers (and warns without them); a killed connection is
	// the end of a measurement here, not something to report.
	pool.on('error', () => {});
	pool.on('connect', (client) => client.on('error', () => {}));
	return pool;
}

/** Installs graphile-worker into bench/anchors/ when it is not there yet, then loads it. */
export function loadGraphile(): Promise<GraphileWorker> {
	return (loaded ??= (async () => {
		if (!existsSync(path.join(PACKAGE_DIR, 'package.json'))) {
			log(`graphile-worker ${GRAPHILE_VERSION} is not installed: npm install --prefix bench/anchors --no-audit --no-fund`);
			execFileSync('npm', ['install', '--prefix', ANCHORS_DIR, '--no-audit', '--no-fund'], { stdio: ['ignore', process.stderr, process.stderr] });
		}
		// Read once at load time: without it graphile-worker formats a log line per completed job,
		// which is not what a trivial-job benchmark should time (its docs recommend it for speed).
		process.env.NO_LOG_SUCCESS = '1';
		const module = (await import(pathToFileURL(path.join(PACKAGE_DIR, 'dist', 'index.js')).href)) as GraphileWorker & { default?: GraphileWorker };
		const gw = module.default ?? module;
		const { version } = JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string };
		if (version !== GRAPHILE_VERSION) throw new Error(`bench/anchors has graphile-worker ${version}, expected ${GRAPHILE_VERSION}`);
		return gw;
	})());
}

const quiet = (gw: GraphileWorker) => new gw.Logger(() => () => {});

/** Installs graphile-worker's schema into the (fresh) database at url. */
export async function migrateGraphile(url: string): Promise<void> {
	const gw = await loadGraphile();
	const pool = await pgPool(url, 1);
	try {
		await gw.runMigrations({ pgPool: pool, logger: quiet(gw) });
	} finally {
		await pool.end();
	}
}

/** count trivial jobs queued in one statement through its own add_jobs function, before any clock starts. */
export async function insertGraphileJobs(url: string, count: number): Promise<void> {
	const gw = await loadGraphile();
	const pool = await pgPool(url, 1);
	const utils = await gw.makeWorkerUtils({ pgPool: pool, logger: quiet(gw) });
	try {
		await utils.withPgClient((client) =>
			client.query(`
				select count(*) from graphile_worker.add_jobs(array(
					select row('bench', json_build_object('n', g), null, null, null, null, null, null)::graphile_worker.job_spec
					from generate_series(1, ${Math.trunc(count)}) as g))`)
		);
		await utils.withPgClient((client) => client.query('vacuum analyze graphile_worker._private_jobs'));
	} finally {
		await utils.release();
		await pool.end();
	}
}

async function remainingJobs(utils: WorkerUtils): Promise<number> {
	const result = (await utils.withPgClient((client) =>
		client.query('select count(*)::int as count from graphile_worker._private_jobs')
	)) as { rows: { count: number }[] };
	return result.rows[0]!.count;
}

export interface GraphileDrainOptions {
	jobs: number;
	maxSeconds: number;
	concurrency: number;
	/** graphile-worker's localQueue.size; off when omitted. */
	localQueueSize?: number;
	/** completeJobBatchDelay in ms; off (-1) when omitted. */
	completeBatchDelayMs?: number;
}

/**
 * Runs graphile-worker on a database holding `jobs` queued trivial jobs and stops the clock when the
 * table is empty (graphile deletes a job when its completion commits), or at maxSeconds, when the
 * jobs done are those no longer in the table.
 */
export async function drainGraphile(url: string, options: GraphileDrainOptions) {
	const gw = await loadGraphile();
	const utilsPool = await pgPool(url, 1);
	const utils = await gw.makeWorkerUtils({ pgPool: utilsPool, logger: quiet(gw) });
	const pool = await pgPool(url, 10);
	let handled = 0;
	let errors = 0;
	const worker: Record<string, unknown> = {};
	if (options.localQueueSize) worker.localQueue = { size: options.localQueueSize };
	if (options.completeBatchDelayMs !== undefined) worker.completeJobBatchDelay = options.completeBatchDelayMs;
	await remainingJobs(utils); // its connection open before the clock starts
	// Handed in, so the listeners are there before the first job runs.
	const events = new EventEmitter();
	events.on('job:success', () => handled++);
	events.on('job:error', () => errors++);
	const started = performance.now();
	const deadline = started + options.maxSeconds * 1000;
	const runner = await gw.run({
		events,
		pgPool: pool,
		concurrency: options.concurrency,
		pollInterval: 1000,
		noHandleSignals: true,
		logger: quiet(gw),
		taskList: { bench: async () => {} },
		preset: { worker }
	});
	let done = 0;
	let seconds = 0;
	try {
		// The handled count is only a hint (a completion may still be waiting for its batch); the
		// table decides, and is only asked once the hint says the work is (nearly) done.
		for (;;) {
			if (performance.now() >= deadline) {
				done = options.jobs - (await remainingJobs(utils));
				seconds = (performance.now() - started) / 1000;
				break;
			}
			if (handled >= options.jobs && (await remainingJobs(utils)) === 0) {
				done = options.jobs;
				seconds = (performance.now() - started) / 1000;
				break;
			}
			await sleep(2);
		}
	} finally {
		await runner.stop();
		await utils.release();
		await Promise.all([pool.end(), utilsPool.end()]);
	}
	if (errors > 0) throw new Error(`graphile-worker: ${errors} trivial job(s) failed`);
	return { jobs: done, seconds: round(seconds, 3), jobsPerSecond: Math.round(done / seconds), drained: done >= options.jobs };
}

/** A graphile-worker producer: addJob through WorkerUtils on a pool of `connections`. */
/** One round of graphile-worker: a fresh database, `jobs` queued trivial jobs, drained as `worker` says. */
export async function drainGraphileRound(
	server: BenchServer,
	label: string,
	run: { jobs: number; maxSeconds: number },
	worker: Pick<GraphileDrainOptions, 'concurrency' | 'localQueueSize' | 'completeBatchDelayMs'>
) {
	const db = await server.freshDatabase(label, { max: 1 });
	try {
		await migrateGraphile(db.url);
		await insertGraphileJobs(db.url, run.jobs);
		return await drainGraphile(db.url, { jobs: run.jobs, maxSeconds: run.maxSeconds, ...worker });
	} finally {
		await db.drop();
	}
}

export async function graphileProducer(url: string, connections: number) {
	const gw = await loadGraphile();
	const pool = await pgPool(url, connections);
	const utils = await gw.makeWorkerUtils({ pgPool: pool, logger: quiet(gw) });
	// Open every connection before any clock starts.
	await Promise.all(Array.from({ length: connections }, () => utils.withPgClient((client) => client.query('select pg_sleep(0.01)'))));
	return {
		add: (payload: unknown) => utils.addJob('bench', payload),
		count: () => remainingJobs(utils),
		release: async () => {
			await utils.release();
			await pool.end();
		}
	};
}

/**
 * An idle graphile-worker (LISTEN for new jobs, slow poll) whose handler reports each job's
 * payload.n; no local queue, so each notification leads to its own fetch.
 */
export async function startGraphileListener(url: string, options: { concurrency: number; pollMs: number }, started: (n: number) => void) {
	const gw = await loadGraphile();
	const pool = await pgPool(url, 10);
	const runner = await gw.run({
		pgPool: pool,
		concurrency: options.concurrency,
		pollInterval: options.pollMs,
		noHandleSignals: true,
		logger: quiet(gw),
		taskList: { bench: async (payload: { n: number }) => started(Number(payload.n)) }
	});
	return {
		stop: async () => {
			await runner.stop();
			await pool.end();
		}
	};
}
