// Throughput of trivial jobs: enqueue -> claim -> complete with the real worker, one claim per free
// slot and batched claims; and single enqueue_job calls from concurrent clients.
import { performance } from 'node:perf_hooks';
import { enqueueJob } from '../src/lib/server/queue';
import { drain } from './drive';
import { emit, insertPending, log, QUICK, round, type BenchServer, type Measurement } from './support';

// Each runs until its jobs are done or maxSeconds pass, so a slow (or busy) machine still finishes.
export const SINGLE = { jobs: QUICK ? 3_000 : 30_000, maxSeconds: QUICK ? 3 : 8, concurrency: 10, batchSize: 1, connections: 10 };
export const BATCHED = { jobs: QUICK ? 20_000 : 200_000, maxSeconds: QUICK ? 3 : 8, concurrency: 1_000, batchSize: 500, connections: 10 };
export const ENQUEUE = { jobs: QUICK ? 2_000 : 20_000, maxSeconds: QUICK ? 3 : 8, clients: 10 };

async function drainMeasurement(
	server: BenchServer,
	name: string,
	config: typeof SINGLE,
	note: string
): Promise<void> {
	const db = await server.freshDatabase(name, { max: config.connections });
	try {
		await insertPending(db.sql, config.jobs);
		await db.sql`vacuum analyze public.job_queue`;
		log(`${name}: ${config.jobs} jobs, concurrency ${config.concurrency}, batch ${config.batchSize}`);
		const result = await drain(db.sql, config);
		emit({
			name,
			value: result.jobsPerSecond,
			unit: 'jobs/s',
			jobs: result.jobs,
			seconds: result.seconds,
			queued: config.jobs,
			concurrency: config.concurrency,
			batch_size: config.batchSize,
			connections: config.connections,
			worker: 'ContinuousWorker (WorkerPool, complete_jobs batching), trivial handler',
			note,
			settings: server.settings
		});
	} finally {
		await db.drop();
	}
}

export const single: Measurement = {
	names: ['queue.single.jobs_per_s'],
	run: (server) =>
		drainMeasurement(server, 'queue.single.jobs_per_s', SINGLE, 'one claim_jobs(limit 1) per free slot')
};

export const batched: Measurement = {
	names: ['queue.batched.jobs_per_s'],
	run: (server) =>
		drainMeasurement(
			server,
			'queue.batched.jobs_per_s',
			BATCHED,
			`claim_jobs(limit ${BATCHED.batchSize}) into ${BATCHED.concurrency} slots`
		)
};

/** Up to config.jobs calls of call(n), n = 1, 2, ..., from config.clients concurrent callers. */
export async function callFromClients(
	config: { jobs: number; maxSeconds: number; clients: number },
	call: (n: number) => Promise<unknown>
): Promise<{ done: number; seconds: number }> {
	let next = 0;
	let done = 0;
	const started = performance.now();
	const deadline = started + config.maxSeconds * 1000;
	const client = async () => {
		while (next < config.jobs && performance.now() < deadline) {
			next++;
			await call(next);
			done++;
		}
	};
	await Promise.all(Array.from({ length: config.clients }, client));
	return { done, seconds: (performance.now() - started) / 1000 };
}

export const enqueue: Measurement = {
	names: ['queue.enqueue.jobs_per_s'],
	async run(server) {
		const name = 'queue.enqueue.jobs_per_s';
		const db = await server.freshDatabase(name, { max: ENQUEUE.clients });
		try {
			// Open every connection before the clock starts.
			await Promise.all(Array.from({ length: ENQUEUE.clients }, () => db.sql`select pg_sleep(0.01)`));
			log(`${name}: up to ${ENQUEUE.jobs} enqueue_job calls from ${ENQUEUE.clients} clients`);
			const { done, seconds } = await callFromClients(ENQUEUE, (n) => enqueueJob(db.sql, 'bench', { payload: { n } }));
			const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from public.job_queue`;
			if (row!.count !== done) throw new Error(`expected ${done} jobs, found ${row!.count}`);
			emit({
				name,
				value: Math.round(done / seconds),
				unit: 'jobs/s',
				jobs: done,
				seconds: round(seconds, 3),
				clients: ENQUEUE.clients,
				note: 'one enqueue_job() per transaction; each commit also NOTIFYs job_queue_inserted',
				settings: server.settings
			});
		} finally {
			await db.drop();
		}
	}
};
