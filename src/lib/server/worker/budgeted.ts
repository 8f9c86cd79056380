// One bounded pass over the queue, as a cron call makes it: work until the queue is empty or the
// time budget runs out, stop claiming early enough to finish, hand back whatever is still running.
import type { Sql } from '../db/client';
import { reapExpiredJobs } from '../queue';
import { retentionTicker, type RetentionOptions } from './maintenance';
import { WorkerPool } from './pool';
import { RUN_REPORT_SECONDS, startWorkerRun, updateWorkerRun, type WorkerTrigger } from './runs';
import type { JobHandlers } from './types';

export interface BudgetedRunOptions {
	sql: Sql;
	handlers: JobHandlers;
	trigger: WorkerTrigger;
	budgetMs: number;
	concurrency: number;
	batchSize?: number;
	leaseSeconds: number;
	/** Stop claiming this long before the budget ends (default: a fifth of it, at most 10 s). */
	claimMarginMs?: number;
	/** Purge old history (at most every few minutes across processes); off when omitted. */
	retention?: RetentionOptions | null;
	/** How often the run records that it is alive (default RUN_REPORT_SECONDS). */
	reportEveryMs?: number;
	log?: (message: string) => void;
}

export interface BudgetedRunResult {
	runId: number;
	workerId: string;
	processed: number;
	errors: number;
	reaped: number;
	returned: number;
	durationMs: number;
}

export async function runWorkerForBudget(options: BudgetedRunOptions): Promise<BudgetedRunResult> {
	const startedAt = Date.now();
	const deadline = startedAt + options.budgetMs;
	const claimUntil = deadline - (options.claimMarginMs ?? Math.min(10_000, options.budgetMs / 5));
	const pool = new WorkerPool({
		sql: options.sql,
		handlers: options.handlers,
		concurrency: options.concurrency,
		batchSize: options.batchSize,
		leaseSeconds: options.leaseSeconds,
		log: options.log
	});
	const runId = await startWorkerRun(options.sql, pool.workerId, options.trigger);
	let reaped = 0;
	let returned = 0;
	let failure: unknown = null;
	// A long budget must not look like a dead run: report liveness as a continuous worker does.
	let report: Promise<void> = Promise.resolve();
	const liveness = setInterval(() => {
		report = updateWorkerRun(options.sql, runId, { ...pool.counts, reaped: reaped + pool.reaped }).catch(() => {});
	}, options.reportEveryMs ?? RUN_REPORT_SECONDS * 1000);
	liveness.unref();
	try {
		reaped = await reapExpiredJobs(options.sql);
		await retentionTicker(options.sql, options.retention, options.log)();
		while (Date.now() < claimUntil) {
			const started = await pool.fill();
			if (started === 0 && pool.size === 0) break; // nothing due and nothing running: done
			if (pool.freeSlots <= 0 || started === 0) await pool.waitForSlot(claimUntil - Date.now());
		}
	} catch (error) {
		failure = error;
	} finally {
		returned = await pool.stop(Math.max(0, deadline - Date.now()));
		clearInterval(liveness);
		await report; // a report still in flight must not land after the final one
	}
	const result = { ...pool.counts, reaped: reaped + pool.reaped };
	await updateWorkerRun(options.sql, runId, result, {
		message: failure ? `stopped early: ${(failure as Error).message}` : returned > 0 ? `returned ${returned} unfinished job(s)` : undefined
	});
	if (failure) throw failure;
	return { runId, workerId: pool.workerId, ...result, returned, durationMs: Date.now() - startedAt };
}
