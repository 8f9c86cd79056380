// Typed calls of the SQL queue functions (supabase/migrations). The rules live in SQL; this
// module only names the arguments.
import type postgres from 'postgres';
import type { Queryable } from '../db/client';
import type { Claim, EnqueueOptions, FailureOptions, Job } from './types';

export * from './types';

/** The channel the job_queue insert trigger notifies; continuous workers LISTEN on it. */
export const JOB_INSERTED_CHANNEL = 'job_queue_inserted';

export async function enqueueJob(sql: Queryable, jobType: string, options: EnqueueOptions = {}): Promise<string> {
	const call = sql`public.enqueue_job(
			${jobType}, ${sql.json((options.payload ?? {}) as never)}, ${options.priority ?? 0},
			${options.scheduledAt ?? null}::timestamptz, ${options.maxAttempts ?? 3},
			${options.dedupeKey ?? null}, ${options.createdBy ?? null}::uuid)`;
	if (!options.waker) {
		const [row] = await sql<{ id: string }[]>`select ${call} as id`;
		return row!.id;
	}
	// picture.defer_wake (0024) silences the insert trigger's NOTIFY for this transaction; the
	// subquery sets it before the call, and it is switched off again right after (the target list
	// is evaluated in order), so nothing else in a surrounding transaction goes unannounced.
	const [row] = await sql<{ id: string }[]>`
		select ${call} as id, set_config('picture.defer_wake', 'off', true)
		from (select set_config('picture.defer_wake', 'on', true)) as deferred`;
	options.waker.wake();
	return row!.id;
}

export interface ClaimOptions {
	workerId: string;
	limit?: number;
	leaseSeconds?: number;
	/** Only these job types (the ones this worker has handlers for); all when omitted. */
	jobTypes?: string[] | null;
}

export async function claimJobs(sql: Queryable, options: ClaimOptions): Promise<Job[]> {
	return sql<Job[]>`
		select * from public.claim_jobs(${options.workerId}, ${options.limit ?? 1}, ${options.leaseSeconds ?? 30},
			${options.jobTypes ?? null}::text[])`;
}

/** Marks many held jobs completed in one round trip; returns the ids that were still held. */
export async function completeJobs(sql: Queryable, workerId: string, claims: Array<Pick<Claim, 'jobId' | 'claimCount'> & Partial<Claim>>): Promise<Set<string>> {
	if (claims.length === 0) return new Set();
	const rows = await sql<{ id: string }[]>`
		select id from public.complete_jobs(${claims.map((c) => c.jobId)}::uuid[], ${workerId},
			${claims.map((c) => c.claimCount)}::integer[]) as id`;
	return new Set(rows.map((row) => row.id));
}

/**
 * Gives back jobs this worker claimed but never started (its prefetch buffer): pending again in
 * their place in line, the claim's attempt refunded; fenced by claim count. Returns the ids given back.
 */
export async function releaseJobs(sql: Queryable, workerId: string, claims: Array<Pick<Claim, 'jobId' | 'claimCount'>>): Promise<Set<string>> {
	if (claims.length === 0) return new Set();
	const rows = await sql<{ id: string }[]>`
		select id from public.release_jobs(${claims.map((c) => c.jobId)}::uuid[], ${workerId},
			${claims.map((c) => c.claimCount)}::integer[]) as id`;
	return new Set(rows.map((row) => row.id));
}

export async function completeJob(sql: Queryable, claim: Claim): Promise<boolean> {
	const [row] = await sql<{ ok: boolean }[]>`
		select public.complete_job(${claim.jobId}, true, null, null, ${claim.workerId}, ${claim.claimCount}) as ok`;
	return row!.ok;
}

/** Records a failure: retried with backoff while attempts remain, else failed. False if no longer held. */
export async function failJob(sql: Queryable, claim: Claim, failure: FailureOptions): Promise<boolean> {
	const [row] = await sql<{ ok: boolean }[]>`
		select public.complete_job(${claim.jobId}, false, ${failure.message},
			${failure.details ? sql.json(failure.details as never) : null}, ${claim.workerId}, ${claim.claimCount},
			${failure.permanent ?? false}, ${failure.retryAfterSeconds ?? null}) as ok`;
	return row!.ok;
}

/** Extends leases; returns the ids still held (a missing one was cancelled or reclaimed: stop it). */
export async function heartbeatJobs(
	sql: Queryable,
	workerId: string,
	claims: Array<Pick<Claim, 'jobId' | 'claimCount'>>,
	leaseSeconds: number
): Promise<Set<string>> {
	if (claims.length === 0) return new Set();
	const rows = await sql<{ id: string }[]>`
		select id from public.heartbeat_jobs(${claims.map((c) => c.jobId)}::uuid[], ${workerId}, ${leaseSeconds},
			${claims.map((c) => c.claimCount)}::integer[]) as id`;
	return new Set(rows.map((row) => row.id));
}

export async function snoozeJob(sql: Queryable, claim: Claim, delaySeconds: number): Promise<boolean> {
	const [row] = await sql<{ ok: boolean }[]>`
		select public.snooze_job(${claim.jobId}, ${claim.workerId}, ${delaySeconds}, ${claim.claimCount}) as ok`;
	return row!.ok;
}

export async function cancelJob(sql: Queryable, jobId: string, reason?: string): Promise<boolean> {
	const [row] = await sql<{ ok: boolean }[]>`select public.cancel_job(${jobId}, ${reason ?? null}) as ok`;
	return row!.ok;
}

export async function retryJob(sql: Queryable, jobId: string): Promise<boolean> {
	const [row] = await sql<{ ok: boolean }[]>`select public.retry_job(${jobId}) as ok`;
	return row!.ok;
}

export async function reapExpiredJobs(sql: Queryable): Promise<number> {
	const [row] = await sql<{ count: number }[]>`select public.reap_expired_jobs() as count`;
	return row!.count;
}

/**
 * Deletes finished jobs older than the retention, a batch per statement (each a short transaction);
 * failed jobs after failedOlderThanDays when given. Stops after maxMs (the rest waits for the next
 * call); returns the total.
 */
export async function purgeFinishedJobs(
	sql: Queryable,
	options: { olderThanDays: number; failedOlderThanDays?: number; batchSize?: number; maxMs?: number }
): Promise<number> {
	const failed = options.failedOlderThanDays ?? null;
	return repeatBatches(options.maxMs, async () => {
		const [row] = await sql<{ count: number }[]>`
			select public.purge_finished_jobs(make_interval(days => ${options.olderThanDays}), ${options.batchSize ?? 1000},
				case when ${failed}::int is null then null else make_interval(days => ${failed}::int) end) as count`;
		return row!.count;
	});
}

/** fold_settled_jobs (0038): settled history into queue_health's totals, a bounded step; returns the rows folded. */
export async function foldSettledJobs(sql: Queryable, batchSize = 100_000): Promise<number> {
	const [row] = await sql<{ count: number }[]>`select public.fold_settled_jobs(${batchSize}) as count`;
	return row!.count;
}

/** Deletes worker_runs rows not seen for olderThanDays, a batch per statement; returns the total. */
export async function purgeWorkerRuns(
	sql: Queryable,
	options: { olderThanDays: number; batchSize?: number; maxMs?: number }
): Promise<number> {
	return repeatBatches(options.maxMs, async () => {
		const [row] = await sql<{ count: number }[]>`
			select public.purge_worker_runs(make_interval(days => ${options.olderThanDays}), ${options.batchSize ?? 1000}) as count`;
		return row!.count;
	});
}

async function repeatBatches(maxMs: number | undefined, batch: () => Promise<number>): Promise<number> {
	const until = maxMs === undefined ? Infinity : Date.now() + maxMs;
	let total = 0;
	for (;;) {
		const count = await batch();
		total += count;
		if (count === 0 || Date.now() >= until) return total;
	}
}

/** True for one caller per `everySeconds` across all processes: that caller runs the task. */
export async function claimMaintenanceRun(sql: Queryable, task: string, everySeconds: number): Promise<boolean> {
	const [row] = await sql<{ ok: boolean }[]>`
		select public.claim_maintenance_run(${task}, make_interval(secs => ${everySeconds})) as ok`;
	return row!.ok;
}

/** Workers claim none of the type until resumed; true when this call paused it. */
export async function pauseJobType(sql: Queryable, jobType: string, pausedBy?: string, reason?: string): Promise<boolean> {
	const [row] = await sql<{ paused: boolean }[]>`
		select public.pause_job_type(${jobType}, ${pausedBy ?? null}::uuid, ${reason ?? null}) as paused`;
	return row!.paused;
}

/** True when it was paused; the workers are woken. */
export async function resumeJobType(sql: Queryable, jobType: string): Promise<boolean> {
	const [row] = await sql<{ resumed: boolean }[]>`select public.resume_job_type(${jobType}) as resumed`;
	return row!.resumed;
}

/** Brings a job waiting for a later time (a snoozed prediction) forward, waking the workers. */
export async function wakeJob(sql: Queryable, jobId: string): Promise<boolean> {
	const [row] = await sql<{ woken: boolean }[]>`select public.wake_job(${jobId}) as woken`;
	return row!.woken;
}

export async function recordMaintenanceResult(sql: Queryable, task: string, result: Record<string, unknown>): Promise<void> {
	await sql`select public.record_maintenance_result(${task}, ${sql.json(result as never)})`;
}

/**
 * Which jobs a bulk call changes: ids, or a query selecting one column of job ids (run inside the
 * same statement, so what is picked and what is changed cannot drift apart).
 */
export type JobSelection = string[] | postgres.PendingQuery<postgres.Row[]>;

const idsOf = (sql: Queryable, selection: JobSelection) =>
	Array.isArray(selection) ? sql`${selection}::uuid[]` : sql`array(${selection})`;

/** retry_jobs: failed or cancelled jobs back to pending with fresh attempts; returns how many. */
export async function retryJobs(sql: Queryable, selection: JobSelection): Promise<number> {
	const [row] = await sql<{ n: number }[]>`select count(*)::int as n from public.retry_jobs(${idsOf(sql, selection)})`;
	return row!.n;
}

/** cancel_jobs: pending or running jobs cancelled with the reason; returns how many. */
export async function cancelJobs(sql: Queryable, selection: JobSelection, reason: string): Promise<number> {
	const [row] = await sql<{ n: number }[]>`select count(*)::int as n from public.cancel_jobs(${idsOf(sql, selection)}, ${reason})`;
	return row!.n;
}

/**
 * One batch of a bulk retry or cancel in one statement: the batch query is run once, its ids are
 * changed, and the caller learns how many were picked, the last id (to continue after) and how
 * many changed.
 */
export async function changeJobBatch(
	sql: Queryable,
	batch: postgres.PendingQuery<postgres.Row[]>,
	change: { op: 'retry' } | { op: 'cancel'; reason: string }
): Promise<{ picked: number; last: string | null; changed: number }> {
	const changing =
		change.op === 'retry' ? sql`public.retry_jobs(array(select id from batch))` : sql`public.cancel_jobs(array(select id from batch), ${change.reason})`;
	const [row] = await sql<{ picked: number; last: string | null; changed: number }[]>`
		with batch as (${batch}),
		     changed as (select * from ${changing})
		select (select count(*)::int from batch) as picked, (select id::text from batch order by id desc limit 1) as last,
		       (select count(*)::int from changed) as changed`;
	return row!;
}

/** reset_stuck_jobs: still-stuck jobs back to pending, their attempt given back; null: every stuck job. */
export async function resetStuckJobs(sql: Queryable, ids: string[] | null): Promise<number> {
	const [row] = await sql<{ n: number }[]>`select count(*)::int as n from public.reset_stuck_jobs(${ids}::uuid[])`;
	return row!.n;
}

/**
 * cancel_all_pending_jobs: the rollback step, bounded by a confirmation: jobs created by asOf (text
 * to the microsecond), running ones too when asked; cancels nothing if more match than confirmed.
 */
export async function cancelAllPendingJobs(
	sql: Queryable,
	options: { asOf: string; includeProcessing: boolean; confirmed: number; reason: string }
): Promise<{ cancelled: number; matched: number }> {
	const [row] = await sql<{ cancelled: number; matched: number }[]>`
		select * from public.cancel_all_pending_jobs(${options.asOf}::text::timestamptz, ${options.includeProcessing}, ${options.confirmed}, ${options.reason})`;
	return row!;
}
