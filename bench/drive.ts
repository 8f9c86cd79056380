// Runs pre-enqueued trivial jobs through the real ContinuousWorker (WorkerPool inside) and times it.
import { performance } from 'node:perf_hooks';
import type { Sql } from '../src/lib/server/db/client';
import { ContinuousWorker } from '../src/lib/server/worker/continuous';
import { countByStatus, round, sleep } from './support';

export interface DrainOptions {
	concurrency: number;
	batchSize: number;
	/** Jobs waiting in the queue when the worker starts. */
	jobs: number;
	/** Stop the clock here even if jobs are left (the queue never ran dry, so the rate holds). */
	maxSeconds: number;
	jobType?: string;
}

export interface DrainResult {
	/** Jobs completed (committed) when the clock stopped. */
	jobs: number;
	seconds: number;
	jobsPerSecond: number;
	/** Whether every queued job was done before maxSeconds. */
	drained: boolean;
}

/**
 * Starts a ContinuousWorker on a queue already holding `jobs` pending jobs and stops the clock when
 * the last completion has committed (the pool's processed count only moves after complete_jobs
 * returns), or at maxSeconds.
 */
export async function drain(sql: Sql, options: DrainOptions): Promise<DrainResult> {
	const worker = new ContinuousWorker({
		sql,
		handlers: { [options.jobType ?? 'bench']: async () => {} },
		concurrency: options.concurrency,
		batchSize: options.batchSize,
		leaseSeconds: 60,
		pollMs: 1000,
		listen: true,
		trigger: 'manual'
	});
	const counts = worker.pool.counts;
	const started = performance.now();
	const deadline = started + options.maxSeconds * 1000;
	let done = 0;
	let seconds = 0;
	await worker.start();
	try {
		for (;;) {
			const now = performance.now();
			done = counts.processed;
			seconds = (now - started) / 1000;
			if (done >= options.jobs || now >= deadline) break;
			await sleep(2);
		}
	} finally {
		await worker.stop(5_000);
	}
	if (counts.errors > 0) throw new Error(`${counts.errors} trivial job(s) failed`);
	const statuses = await countByStatus(sql);
	if ((statuses.completed ?? 0) < done) {
		throw new Error(`the pool counted ${done} jobs done, the table has ${JSON.stringify(statuses)}`);
	}
	return {
		jobs: done,
		seconds: round(seconds, 3),
		jobsPerSecond: Math.round(done / seconds),
		drained: done >= options.jobs
	};
}
