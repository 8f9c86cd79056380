// Runs pre-enqueued trivial jobs through the real ContinuousWorker (WorkerPool inside) and times it.
import { performance } from 'node:perf_hooks';
import type { Sql } from '../src/lib/server/db/client';
import { ContinuousWorker } from '../src/lib/server/worker/continuous';
import { countByStatus, round, until } from './support';

export interface DrainOptions {
	concurrency: number;
	batchSize: number;
	jobs: number;
	jobType?: string;
	timeoutMs?: number;
}

export interface DrainResult {
	jobs: number;
	seconds: number;
	jobsPerSecond: number;
	handlerCalls: number;
}

/**
 * Starts a ContinuousWorker on a queue already holding `jobs` pending jobs and stops the clock when
 * the last completion has committed (the pool's processed count only moves after complete_jobs).
 */
export async function drain(sql: Sql, options: DrainOptions): Promise<DrainResult> {
	let handlerCalls = 0;
	const worker = new ContinuousWorker({
		sql,
		handlers: {
			[options.jobType ?? 'bench']: async () => {
				handlerCalls++;
			}
		},
		concurrency: options.concurrency,
		batchSize: options.batchSize,
		leaseSeconds: 60,
		pollMs: 1000,
		listen: true,
		trigger: 'manual'
	});
	let seconds = 0;
	const started = performance.now();
	await worker.start();
	try {
		await until(() => worker.pool.counts.processed >= options.jobs, options.timeoutMs ?? 120_000, 'the queue to drain', 2);
	} finally {
		seconds = (performance.now() - started) / 1000;
		await worker.stop(5_000);
	}
	if (worker.pool.counts.errors > 0) throw new Error(`${worker.pool.counts.errors} trivial job(s) failed`);
	const statuses = await countByStatus(sql);
	if ((statuses.completed ?? 0) < options.jobs) {
		throw new Error(`expected ${options.jobs} completed jobs, found ${JSON.stringify(statuses)}`);
	}
	return { jobs: options.jobs, seconds: round(seconds, 3), jobsPerSecond: Math.round(options.jobs / seconds), handlerCalls };
}
