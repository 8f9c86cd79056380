export const JOB_STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A row of public.job_queue as postgres.js returns it. */
export interface Job {
	id: string;
	job_type: string;
	payload: Record<string, unknown>;
	status: JobStatus;
	attempts: number;
	max_attempts: number;
	scheduled_at: Date;
	started_at: Date | null;
	completed_at: Date | null;
	error_message: string | null;
	error_details: Record<string, unknown> | null;
	created_by: string | null;
	priority: number;
	created_at: Date;
	updated_at: Date;
	locked_by: string | null;
	locked_until: Date | null;
	dedupe_key: string | null;
	claim_count: number;
	/** The slot the job needs before it can run (0032); null once it holds one, or for jobs that need none. */
	concurrency_key: string | null;
}

export interface EnqueueOptions {
	payload?: Record<string, unknown>;
	priority?: number;
	scheduledAt?: Date;
	maxAttempts?: number;
	dedupeKey?: string;
	createdBy?: string;
	/**
	 * Wake the workers after the commit instead of inside it (`queue/wake.ts`): the enqueue commits
	 * without NOTIFY, so concurrent enqueues share their WAL flushes instead of queueing behind the
	 * notify lock one fsync at a time, and one coalesced wake carries them all. Only with the pool,
	 * never inside an open transaction (the wake would go out before the job is visible).
	 */
	waker?: { wake(): void } | null;
}

/** Identifies one claim of a job: later calls are refused once someone else holds it. */
export interface Claim {
	jobId: string;
	workerId: string;
	/** The job's claim_count when claimed: identifies this claim among all claims of the job. */
	claimCount: number;
}

export interface FailureOptions {
	message: string;
	details?: Record<string, unknown>;
	/** Fail now, spending no retries (bad input, unknown model, safety filter). */
	permanent?: boolean;
	/** Retry after this many seconds instead of the computed backoff (e.g. a provider's Retry-After). */
	retryAfterSeconds?: number;
}
