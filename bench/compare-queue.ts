// The queue against its references, on the same Postgres server, interleaved rounds, medians:
// graphile-worker 0.17.3 (single claims, batched, enqueue, pickup latency) and the queue's own
// DB-only ceiling (its claim and complete SQL driven by a bare postgres.js loop, no WorkerPool).
import { performance } from 'node:perf_hooks';
import type { Sql } from '../src/lib/server/db/client';
import { enqueueJob } from '../src/lib/server/queue';
import { JobWaker } from '../src/lib/server/queue/wake';
import { emitComparison, emitSummary, interleave, ROUNDS } from './compare-support';
import { drain, type DrainResult } from './drive';
import { drainGraphileRound, GRAPHILE_VERSION, graphileProducer, migrateGraphile, startGraphileListener } from './graphile';
import { pickupProbe, pickupWorker, POLL_MS, type PickupSamples } from './pickup-latency';
import { BATCHED, callFromClients, ENQUEUE, SINGLE } from './queue-throughput';
import { insertPending, log, percentile, round, type BenchServer, type Measurement } from './support';

const GRAPHILE = `graphile-worker ${GRAPHILE_VERSION}`;
/** The goal for both claim throughputs. */
export const CLAIM_GOAL = { text: '>= 1.5x graphile-worker', minRatio: 1.5 };
/** graphile-worker's batching as the issue names it: a local queue of 50 and batched completion. */
export const GRAPHILE_BATCHED = { concurrency: 10, localQueueSize: 50, completeBatchDelayMs: 1 };
/**
 * The ceiling loop's connections (each one claim-then-complete loop) and claim size: 50 as the issue
 * measured it, and Picture's own batch size, which is the fairer ceiling for its batched config.
 */
const CEILING = { connections: BATCHED.connections, claimLimits: [...new Set([50, BATCHED.batchSize])] };

async function picture(server: BenchServer, label: string, config: typeof SINGLE): Promise<DrainResult> {
	const db = await server.freshDatabase(label, { max: config.connections });
	try {
		await insertPending(db.sql, config.jobs);
		await db.sql`vacuum analyze public.job_queue`;
		return await drain(db.sql, config);
	} finally {
		await db.drop();
	}
}

/** claim_jobs(limit claimLimit) then complete_jobs for those ids, on each connection, until the queue is empty. */
async function ceilingLoop(sql: Sql, claimLimit: number, jobs: number, maxSeconds: number): Promise<DrainResult> {
	let done = 0;
	const started = performance.now();
	const deadline = started + maxSeconds * 1000;
	const loop = async (i: number) => {
		const workerId = `ceiling-${i}`;
		while (performance.now() < deadline) {
			const claimed = await sql<{ id: string; claim_count: number }[]>`
				select id, claim_count from public.claim_jobs(${workerId}, ${claimLimit}, 60, null)`;
			if (claimed.length === 0) return;
			const completed = await sql`
				select id from public.complete_jobs(${claimed.map((j) => j.id)}::uuid[], ${workerId},
					${claimed.map((j) => j.claim_count)}::integer[]) as id`;
			if (completed.length !== claimed.length) throw new Error(`ceiling: ${claimed.length - completed.length} completion(s) refused`);
			done += completed.length;
		}
	};
	await Promise.all(Array.from({ length: CEILING.connections }, (_, i) => loop(i)));
	const seconds = (performance.now() - started) / 1000;
	return { jobs: done, seconds: round(seconds, 3), jobsPerSecond: Math.round(done / seconds), drained: done >= jobs };
}

async function ceiling(server: BenchServer, label: string, claimLimit: number): Promise<DrainResult> {
	const db = await server.freshDatabase(label, { max: CEILING.connections });
	try {
		await insertPending(db.sql, BATCHED.jobs);
		await db.sql`vacuum analyze public.job_queue`;
		// Open every connection before the clock starts.
		await Promise.all(Array.from({ length: CEILING.connections }, () => db.sql`select pg_sleep(0.01)`));
		return await ceilingLoop(db.sql, claimLimit, BATCHED.jobs, BATCHED.maxSeconds);
	} finally {
		await db.drop();
	}
}

const drainDetails = (rounds: DrainResult[]) => rounds.map((r) => ({ jobs: r.jobs, seconds: r.seconds, drained: r.drained }));

export const compareSingle: Measurement = {
	names: ['compare.queue.single'],
	async run(server) {
		const name = 'compare.queue.single';
		const rounds = await interleave(
			name,
			(r) => picture(server, `${name}_p${r}`, SINGLE),
			(r) => drainGraphileRound(server, `${name}_g${r}`, SINGLE, { concurrency: SINGLE.concurrency })
		);
		emitComparison({
			name,
			unit: 'jobs/s',
			picture: rounds.picture.map((r) => r.jobsPerSecond),
			reference: rounds.reference.map((r) => r.jobsPerSecond),
			referenceName: `${GRAPHILE}, concurrency ${SINGLE.concurrency}, no local queue, no batched completion`,
			better: 'higher',
			goal: CLAIM_GOAL,
			details: {
				queued: SINGLE.jobs,
				max_seconds: SINGLE.maxSeconds,
				worker: `ContinuousWorker, concurrency ${SINGLE.concurrency}, batch ${SINGLE.batchSize}, ${SINGLE.connections} connections, trivial handler`,
				picture_rounds: drainDetails(rounds.picture),
				reference_rounds: drainDetails(rounds.reference),
				settings: server.settings
			}
		});
	}
};

export const compareBatched: Measurement = {
	names: ['compare.queue.batched', 'compare.queue.ceiling', 'compare.queue.ceiling.same_batch'],
	async run(server) {
		const name = 'compare.queue.batched';
		const rounds = { picture: [] as DrainResult[], graphile: [] as DrainResult[], ceilings: CEILING.claimLimits.map(() => [] as DrainResult[]) };
		// Every party once per round, Picture first: Picture's rounds are compared with each reference.
		for (let r = 1; r <= ROUNDS; r++) {
			log(`${name}: round ${r}/${ROUNDS}, Picture`);
			rounds.picture.push(await picture(server, `${name}_p${r}`, BATCHED));
			log(`${name}: round ${r}/${ROUNDS}, ${GRAPHILE}`);
			rounds.graphile.push(await drainGraphileRound(server, `${name}_g${r}`, BATCHED, GRAPHILE_BATCHED));
			for (const [i, limit] of CEILING.claimLimits.entries()) {
				log(`${name}: round ${r}/${ROUNDS}, DB-only ceiling, claims of ${limit}`);
				rounds.ceilings[i]!.push(await ceiling(server, `${name}_c${limit}_${r}`, limit));
			}
		}
		const common = {
			queued: BATCHED.jobs,
			max_seconds: BATCHED.maxSeconds,
			worker: `ContinuousWorker, concurrency ${BATCHED.concurrency}, batch ${BATCHED.batchSize}, ${BATCHED.connections} connections, trivial handler`,
			picture_rounds: drainDetails(rounds.picture),
			settings: server.settings
		};
		emitComparison({
			name,
			unit: 'jobs/s',
			picture: rounds.picture.map((r) => r.jobsPerSecond),
			reference: rounds.graphile.map((r) => r.jobsPerSecond),
			referenceName: `${GRAPHILE}, concurrency ${GRAPHILE_BATCHED.concurrency}, localQueue.size ${GRAPHILE_BATCHED.localQueueSize}, completeJobBatchDelay ${GRAPHILE_BATCHED.completeBatchDelayMs} ms`,
			better: 'higher',
			goal: CLAIM_GOAL,
			details: { ...common, reference_rounds: drainDetails(rounds.graphile) }
		});
		for (const [i, limit] of CEILING.claimLimits.entries()) {
			emitComparison({
				name: i === 0 ? 'compare.queue.ceiling' : 'compare.queue.ceiling.same_batch',
				unit: 'jobs/s',
				picture: rounds.picture.map((r) => r.jobsPerSecond),
				reference: rounds.ceilings[i]!.map((r) => r.jobsPerSecond),
				referenceName: `DB-only ceiling: claim_jobs(limit ${limit}) then complete_jobs, a postgres.js loop on each of ${CEILING.connections} connections, no WorkerPool`,
				better: 'higher',
				// The issue sets no goal here: it says how much room the batched path has.
				goal: null,
				details: { ...common, claim_limit: limit, reference_rounds: drainDetails(rounds.ceilings[i]!) }
			});
		}
	}
};

export const compareEnqueue: Measurement = {
	names: ['compare.queue.enqueue'],
	async run(server) {
		const name = 'compare.queue.enqueue';
		const rounds = await interleave(
			name,
			async (r) => {
				const db = await server.freshDatabase(`${name}_p${r}`, { max: ENQUEUE.clients });
				try {
					await Promise.all(Array.from({ length: ENQUEUE.clients }, () => db.sql`select pg_sleep(0.01)`));
					// As the app enqueues: silently, and one coalesced wake after the commits (queue/wake.ts).
					const waker = new JobWaker(db.sql);
					const result = await callFromClients(ENQUEUE, (n) => enqueueJob(db.sql, 'bench', { payload: { n }, waker }));
					await waker.idle();
					const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from public.job_queue`;
					if (row!.count !== result.done) throw new Error(`expected ${result.done} jobs, found ${row!.count}`);
					return result;
				} finally {
					await db.drop();
				}
			},
			async (r) => {
				const db = await server.freshDatabase(`${name}_g${r}`, { max: 1 });
				try {
					await migrateGraphile(db.url);
					const producer = await graphileProducer(db.url, ENQUEUE.clients);
					try {
						const result = await callFromClients(ENQUEUE, (n) => producer.add({ n }));
						const count = await producer.count();
						if (count !== result.done) throw new Error(`graphile-worker: expected ${result.done} jobs, found ${count}`);
						return result;
					} finally {
						await producer.release();
					}
				} finally {
					await db.drop();
				}
			}
		);
		const rate = (r: { done: number; seconds: number }) => r.done / r.seconds;
		emitComparison({
			name,
			unit: 'jobs/s',
			picture: rounds.picture.map(rate),
			reference: rounds.reference.map(rate),
			referenceName: `${GRAPHILE} addJob through WorkerUtils on a pool of ${ENQUEUE.clients}`,
			better: 'higher',
			goal: { text: 'keep >= 3x graphile-worker', minRatio: 3 },
			details: {
				clients: ENQUEUE.clients,
				max_jobs: ENQUEUE.jobs,
				max_seconds: ENQUEUE.maxSeconds,
				picture_call: 'enqueueJob with a JobWaker (one enqueue_job() per transaction without NOTIFY; one coalesced pg_notify after the commits)',
				picture_rounds: rounds.picture.map((r) => ({ jobs: r.done, seconds: round(r.seconds, 3) })),
				reference_rounds: rounds.reference.map((r) => ({ jobs: r.done, seconds: round(r.seconds, 3) })),
				settings: server.settings
			}
		});
	}
};

export const comparePickup: Measurement = {
	names: ['compare.queue.pickup.p50_ms', 'compare.queue.pickup.p99_ms'],
	async run(server) {
		const name = 'compare.queue.pickup';
		const rounds = await interleave<PickupSamples>(
			name,
			async (r) => {
				const db = await server.freshDatabase(`${name}_p${r}`, { max: 10 });
				const producer = db.connect(1);
				const probe = pickupProbe();
				const worker = pickupWorker(db.sql, probe.started);
				try {
					await worker.start();
					await producer`select 1`;
					const waker = new JobWaker(producer);
					return await probe.sample((n) => enqueueJob(producer, 'bench', { payload: { n }, waker }));
				} finally {
					await worker.stop(5_000).catch(() => {});
					await db.drop();
				}
			},
			async (r) => {
				const db = await server.freshDatabase(`${name}_g${r}`, { max: 1 });
				try {
					await migrateGraphile(db.url);
					const producer = await graphileProducer(db.url, 1);
					const probe = pickupProbe();
					const worker = await startGraphileListener(db.url, { concurrency: 10, pollMs: POLL_MS }, probe.started);
					try {
						return await probe.sample((n) => producer.add({ n }));
					} finally {
						await worker.stop();
						await producer.release();
					}
				} finally {
					await db.drop();
				}
			}
		);
		const details = {
			measured_from: 'just before the enqueue call (includes its round trip and commit) to the handler starting',
			samples: { picture: rounds.picture.map((s) => s.fromCall.length), reference: rounds.reference.map((s) => s.fromCall.length) },
			picture_worker: `ContinuousWorker, LISTEN, concurrency 10, batch 1, poll ${POLL_MS / 1000} s; producer enqueueJob with a JobWaker (the wake after the commit) on 1 connection`,
			after_commit_p99_ms: {
				picture: rounds.picture.map((s) => round(percentile(s.fromCommit, 99), 3)),
				reference: rounds.reference.map((s) => round(percentile(s.fromCommit, 99), 3))
			},
			settings: server.settings
		};
		const referenceName = `${GRAPHILE}, LISTEN, concurrency 10, no local queue, poll ${POLL_MS / 1000} s; producer addJob on 1 connection`;
		for (const p of [50, 99] as const) {
			emitComparison({
				name: `${name}.p${p}_ms`,
				unit: 'ms',
				picture: rounds.picture.map((s) => percentile(s.fromCall, p)),
				reference: rounds.reference.map((s) => percentile(s.fromCall, p)),
				referenceName,
				better: 'lower',
				goal:
					p === 50
						? { text: 'keep: no slower than graphile-worker', minRatio: 1 }
						: { text: 'keep: no slower than graphile-worker, and p99 <= 5 ms', minRatio: 1, maxValue: 5 },
				details
			});
		}
	}
};

/** Last in the run: one line with every comparison's ratio and whether its goal holds. */
export const compareSummary: Measurement = {
	names: ['compare.summary'],
	run: async () => emitSummary()
};
