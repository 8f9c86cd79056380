import type { Queryable } from '../db/client';
import type { Job } from '../queue/types';
import type { Snooze } from './errors';

export interface JobContext {
	/**
	 * Aborted when the job is cancelled, claimed by another worker, or the worker shuts down. Made
	 * when first read (a getter on the pool's context): pass it on by name, not by spreading the context.
	 */
	readonly signal: AbortSignal;
	workerId: string;
	/** The database, for handlers that record their own progress. */
	sql: Queryable;
}

/** Resolves on success (or with a Snooze); throws to fail. See errors.ts for the kinds of failure. */
export type JobHandler = (job: Job, context: JobContext) => Promise<void | Snooze>;

export type JobHandlers = Record<string, JobHandler>;

export interface WorkerCounts {
	processed: number;
	errors: number;
}
