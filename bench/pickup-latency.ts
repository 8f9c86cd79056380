// Pickup latency: an idle ContinuousWorker (LISTEN + slow poll); one job enqueued at a time; how
// long from the enqueue to its handler starting.
import { performance } from 'node:perf_hooks';
import { enqueueJob } from '../src/lib/server/queue';
import { ContinuousWorker } from '../src/lib/server/worker/continuous';
import type { Sql } from '../src/lib/server/db/client';
import { emit, log, percentile, QUICK, round, sleep, type Measurement } from './support';

const SAMPLES = QUICK ? 60 : 500;
/** Fewer samples rather than a run that never ends on a machine that is busy elsewhere. */
const MAX_SECONDS = QUICK ? 5 : 20;
const WARMUP = QUICK ? 10 : 30;
/** Pause between a job's start and the next enqueue, so the worker is idle (asleep) each time. */
const GAP_MS = { min: 2, max: 8 };
/** The backstop poll: long enough that it never finds a sample job before the notification does. */
export const POLL_MS = 5_000;

export interface PickupSamples {
	/** From just before the enqueue call to the handler's start, ascending. */
	fromCall: number[];
	/** From the enqueue call's return (its commit acknowledged) to the handler's start, ascending. */
	fromCommit: number[];
	/** The enqueue calls themselves, ascending. */
	enqueueMs: number[];
}

/**
 * One job at a time into an idle worker: the worker's handler calls started(payload.n), sample()
 * enqueues n = 0, 1, ... through the given call and waits for each to start before the next.
 */
export function pickupProbe() {
	const starts = new Map<number, number>();
	let waiting: { n: number; resolve: () => void } | null = null;
	return {
		started(n: number): void {
			starts.set(n, performance.now());
			if (waiting?.n === n) waiting.resolve();
		},
		async sample(enqueue: (n: number) => Promise<unknown>): Promise<PickupSamples> {
			const fromCall: number[] = [];
			const fromCommit: number[] = [];
			const enqueueMs: number[] = [];
			const deadline = performance.now() + MAX_SECONDS * 1000;
			for (let n = 0; n < WARMUP + SAMPLES && performance.now() < deadline; n++) {
				const started = new Promise<void>((resolve) => (waiting = { n, resolve }));
				const beforeCall = performance.now();
				await enqueue(n);
				const afterCommit = performance.now();
				await Promise.race([
					started,
					sleep(POLL_MS * 2).then(() => Promise.reject(new Error(`job ${n} was not picked up`)))
				]);
				const handlerStart = starts.get(n)!;
				if (n >= WARMUP) {
					fromCall.push(handlerStart - beforeCall);
					fromCommit.push(Math.max(0, handlerStart - afterCommit));
					enqueueMs.push(afterCommit - beforeCall);
				}
				await sleep(GAP_MS.min + Math.random() * (GAP_MS.max - GAP_MS.min));
			}
			for (const list of [fromCall, fromCommit, enqueueMs]) list.sort((a, b) => a - b);
			if (fromCall.length === 0) throw new Error('no sample within the time limit');
			return { fromCall, fromCommit, enqueueMs };
		}
	};
}

/** An idle ContinuousWorker as the pickup measurement runs it, reporting each job to the probe. */
export function pickupWorker(sql: Sql, started: (n: number) => void): ContinuousWorker {
	return new ContinuousWorker({
		sql,
		handlers: { bench: async (job) => started(Number(job.payload.n)) },
		concurrency: 10,
		batchSize: 1,
		leaseSeconds: 60,
		pollMs: POLL_MS,
		listen: true,
		trigger: 'manual'
	});
}

export const pickup: Measurement = {
	names: ['queue.pickup.p50_ms', 'queue.pickup.p99_ms', 'queue.pickup.after_commit.p50_ms', 'queue.pickup.after_commit.p99_ms'],
	async run(server) {
		const db = await server.freshDatabase('queue.pickup', { max: 10 });
		const producer = db.connect(1);
		const probe = pickupProbe();
		const worker = pickupWorker(db.sql, probe.started);
		try {
			await worker.start();
			await producer`select 1`;
			log(`queue.pickup: ${SAMPLES} samples (+${WARMUP} warm-up), one job at a time`);
			const { fromCall, fromCommit, enqueueMs } = await probe.sample((n) => enqueueJob(producer, 'bench', { payload: { n } }));
			const details = {
				samples: fromCall.length,
				measured_from: 'just before the enqueue_job call (includes its round trip and commit)',
				after_commit_p50_ms: round(percentile(fromCommit, 50), 3),
				after_commit_p99_ms: round(percentile(fromCommit, 99), 3),
				enqueue_call_p50_ms: round(percentile(enqueueMs, 50), 3),
				max_ms: round(fromCall[fromCall.length - 1]!, 3),
				worker: 'ContinuousWorker, LISTEN job_queue_inserted, concurrency 10, batch 1, poll 5 s',
				settings: server.settings
			};
			emit({ name: 'queue.pickup.p50_ms', value: round(percentile(fromCall, 50), 3), unit: 'ms', ...details });
			emit({ name: 'queue.pickup.p99_ms', value: round(percentile(fromCall, 99), 3), unit: 'ms', ...details });
			// The same pickups timed from the moment enqueue_job's commit was acknowledged: the queue's
			// own share (notification, wake-up, claim), without the producer's commit.
			const afterCommit = { ...details, measured_from: 'when the enqueue_job call returned (its commit done)' };
			emit({ name: 'queue.pickup.after_commit.p50_ms', value: details.after_commit_p50_ms, unit: 'ms', ...afterCommit });
			emit({ name: 'queue.pickup.after_commit.p99_ms', value: details.after_commit_p99_ms, unit: 'ms', ...afterCommit });
		} finally {
			await worker.stop(5_000).catch(() => {});
			await db.drop();
		}
	}
};
