// The queue's retention, run from worker ticks: at most once per `everySeconds` across every
// process (a row in queue_maintenance decides who), in small batches under a time cap, so a tick is
// never held up for long and a backlog drains over a few runs.
import type { Queryable } from '../db/client';
import { claimMaintenanceRun, foldSettledJobs, purgeFinishedJobs, purgeWorkerRuns, recordMaintenanceResult } from '../queue';

export interface RetentionOptions {
	/** Finished jobs (and worker_runs rows) older than this many days go; 0 turns retention off. */
	days: number;
	/** Failed jobs are kept longer, for their errors: twice `days` by default. */
	failedDays?: number;
	/** How often, across all processes (default 5 minutes). */
	everySeconds?: number;
	batchSize?: number;
	/** Time cap of one run (default 5 s); what is left goes in the next. */
	maxMs?: number;
}

export interface RetentionResult {
	jobs: number;
	workerRuns: number;
}

export const RETENTION_TASK = 'retention';

/** How often each process folds settled history into queue_health's totals (0038): its live part is what lies above. */
export const FOLD_EVERY_MS = 10_000;

/** Runs the retention if it is on and due; null when it did not run. */
export async function runRetention(sql: Queryable, options: RetentionOptions): Promise<RetentionResult | null> {
	if (!(options.days > 0)) return null;
	if (!(await claimMaintenanceRun(sql, RETENTION_TASK, options.everySeconds ?? 300))) return null;
	const maxMs = options.maxMs ?? 5000;
	const started = Date.now();
	const batchSize = options.batchSize ?? 500;
	const jobs = await purgeFinishedJobs(sql, {
		olderThanDays: options.days,
		failedOlderThanDays: options.failedDays ?? options.days * 2,
		batchSize,
		maxMs
	});
	const workerRuns = await purgeWorkerRuns(sql, {
		olderThanDays: options.days,
		batchSize,
		maxMs: Math.max(0, maxMs - (Date.now() - started))
	});
	const result = { jobs, workerRuns };
	await recordMaintenanceResult(sql, RETENTION_TASK, { ...result });
	return result;
}

/**
 * A tick-sized wrapper for worker loops: cheap to call on every tick (one check of the clock;
 * the database decides only every `everySeconds`), and never throws (a failed run waits its turn).
 * It also folds settled jobs every FOLD_EVERY_MS, retention on or off (a fold another process holds is skipped).
 */
export function retentionTicker(sql: Queryable, options: RetentionOptions | null | undefined, log?: (m: string) => void) {
	let nextCheck = 0;
	let nextFold = 0;
	return async (): Promise<void> => {
		if (Date.now() >= nextFold) {
			nextFold = Date.now() + FOLD_EVERY_MS;
			await foldSettledJobs(sql).catch((error: Error) => log?.(`fold of settled jobs failed: ${error.message}`));
		}
		if (!options || !(options.days > 0) || Date.now() < nextCheck) return;
		nextCheck = Date.now() + Math.min(60, options.everySeconds ?? 300) * 1000;
		try {
			const result = await runRetention(sql, options);
			if (result && (result.jobs > 0 || result.workerRuns > 0)) {
				log?.(`retention: purged ${result.jobs} job(s) and ${result.workerRuns} worker run(s)`);
			}
		} catch (error) {
			log?.(`retention failed: ${(error as Error).message}`);
		}
	};
}
