// The console's worker page: the history of worker runs, running the worker by hand, pausing job
// types, and the seed's two bulk operations (cancel everything waiting, purge old finished jobs).
// Every action records an audit entry in the same transaction as its change where it can.
import { assertActor, assertReader, type ConsoleAccess } from './access';
import type { Config } from '../config';
import type { Queryable, Sql } from '../db/client';
import { ConflictError, ValidationError } from '../errors';
import { cancelAllPendingJobs, pauseJobType, purgeFinishedJobs, resumeJobType } from '../queue';
import { runAllowanceSeconds, type WorkerTrigger } from '../worker/runs';
import type { WorkerService } from '../services';
import { recordAudit } from './audit';

export const WORKER_TRIGGERS = ['cron', 'continuous', 'manual'] as const;
/** A hand-started run works this long unless asked otherwise: long enough to drain a small queue. */
const DEFAULT_RUN_BUDGET_SECONDS = 10;
/** A hand-started run holds the admin's request open, so it is shorter than a cron call may be. */
const MAX_RUN_BUDGET_SECONDS = 60;

/** The operator confirmed fewer rows than now match: nothing was changed; confirm again. */
export class ConfirmationError extends ConflictError {
	constructor(public readonly matched: number, confirmed: number) {
		super(`${matched} jobs match now, more than the ${confirmed} you confirmed. Nothing was changed; review the new count.`);
		this.name = 'ConfirmationError';
	}
}

/** A whole number from a form field within [min, max], or a ValidationError naming the field. */
export function wholeNumber(field: string, label: string, raw: unknown, min: number, max: number): number {
	const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : '';
	const value = /^\d+$/.test(text) ? Number(text) : NaN;
	if (!Number.isSafeInteger(value) || value < min || value > max) {
		throw new ValidationError(field, `${label} must be a whole number from ${min} to ${max}`);
	}
	return value;
}

/** finished; running (heard from within its allowance); stopped_responding (not finished, not heard from). */
export type RunState = 'finished' | 'running' | 'stopped_responding';

/** A worker run's state by the database's clock, one rule for the Worker page and the overview. */
export function runState(sql: Queryable, allowanceSeconds: number) {
	return sql`(case when finished_at is not null then 'finished'
	                 when last_seen_at >= now() - make_interval(secs => ${allowanceSeconds}) then 'running'
	                 else 'stopped_responding' end)`;
}

/** How long a run may go unheard before it has stopped responding, under these alert thresholds. */
export const runAllowance = (config: Pick<Config, 'alerts'>) => runAllowanceSeconds(config.alerts.noWorkerSeconds);

export interface WorkerRun {
	id: number;
	state: RunState;
	worker_id: string;
	trigger: WorkerTrigger;
	started_at: Date;
	last_seen_at: Date;
	finished_at: Date | null;
	processed: number;
	errors: number;
	reaped: number;
	message: string | null;
	duration_seconds: number;
}

export interface WorkerRunPage {
	runs: WorkerRun[];
	/** Keyset cursors: pass as `before` for older runs, `after` for newer ones; null at either end. */
	olderCursor: number | null;
	newerCursor: number | null;
}

function parseTrigger(raw: string | null): WorkerTrigger | null {
	if (!raw) return null;
	if ((WORKER_TRIGGERS as readonly string[]).includes(raw)) return raw as WorkerTrigger;
	throw new ValidationError('trigger', `Trigger must be one of ${WORKER_TRIGGERS.join(', ')}`);
}

const parseCursor = (raw: string | null) => (raw && /^\d{1,18}$/.test(raw) ? Number(raw) : null);

/** Newest first, keyset paged by id (either direction), optionally of one trigger. */
export async function listWorkerRuns(
	access: ConsoleAccess,
	sql: Queryable,
	options: { trigger?: string | null; before?: string | null; after?: string | null; limit?: number; allowanceSeconds?: number } = {}
): Promise<WorkerRunPage> {
	assertReader(access);
	const limit = Math.min(Math.max(options.limit ?? 25, 1), 200);
	// Checked against the known triggers, then written as a literal (see lastRunByTrigger).
	const trigger = parseTrigger(options.trigger ?? null);
	const before = parseCursor(options.before ?? null);
	const after = before === null ? parseCursor(options.after ?? null) : null;
	const rows = await sql<(WorkerRun & { id: string })[]>`
		select id, worker_id, trigger, started_at, last_seen_at, finished_at, processed, errors, reaped, message,
		       ${runState(sql, options.allowanceSeconds ?? runAllowanceSeconds(Infinity))} as state,
		       extract(epoch from coalesce(finished_at, last_seen_at) - started_at)::float8 as duration_seconds
		from public.worker_runs
		where true
			${trigger ? sql`and trigger = ${sql.unsafe(`'${trigger}'`)}` : sql``}
			${before !== null ? sql`and id < ${before}` : sql``}
			${after !== null ? sql`and id > ${after}` : sql``}
		order by id ${after !== null ? sql`asc` : sql`desc`}
		limit ${limit + 1}`;
	const more = rows.length > limit;
	const page = rows.slice(0, limit).map((row) => ({ ...row, id: Number(row.id) }));
	if (after !== null) page.reverse();
	const first = page[0]?.id ?? null;
	const last = page.at(-1)?.id ?? null;
	return {
		runs: page,
		olderCursor: (after !== null || more) && last !== null ? last : null,
		newerCursor: (before !== null || (after !== null && more)) && first !== null ? first : null
	};
}

export interface LastRun {
	trigger: WorkerTrigger;
	state: RunState;
	started_at: Date;
	last_seen_at: Date;
	finished_at: Date | null;
}

/** The latest run of each trigger, so the page can say whether cron calls at all. */
export async function lastRunByTrigger(access: ConsoleAccess, sql: Queryable, allowanceSeconds = runAllowanceSeconds(Infinity)): Promise<LastRun[]> {
	assertReader(access);
	const state = runState(sql, allowanceSeconds);
	// One branch per trigger, each naming its trigger as a literal: the planner then knows from the
	// statistics that manual runs are rare and reads worker_runs_trigger_id_idx, instead of walking
	// the primary key back through every cron run to find the last manual one.
	return sql<LastRun[]>`
		(select trigger, started_at, last_seen_at, finished_at, ${state} as state from public.worker_runs where trigger = 'cron' order by id desc limit 1)
		union all
		(select trigger, started_at, last_seen_at, finished_at, ${state} as state from public.worker_runs where trigger = 'continuous' order by id desc limit 1)
		union all
		(select trigger, started_at, last_seen_at, finished_at, ${state} as state from public.worker_runs where trigger = 'manual' order by id desc limit 1)`;
}

export interface JobTypeState {
	job_type: string;
	registered: boolean;
	paused: boolean;
	paused_at: Date | null;
	paused_by_email: string | null;
	reason: string | null;
	pending: number;
	processing: number;
}

/**
 * Job types an operator may want to pause: registered handlers, paused ones, any with jobs waiting or
 * running, and any queued in the last day, with live counts. job_queue has no index led by job_type
 * (every index there slows each write), so only live rows (the partial indexes) and one day of
 * inserts (job_queue_created_at_id_idx) are read: the cost follows the day's traffic, never the
 * table's history.
 */
export async function listJobTypes(access: ConsoleAccess, sql: Queryable, registered: string[]): Promise<JobTypeState[]> {
	assertReader(access);
	return sql<JobTypeState[]>`
		with live as (
			-- One branch per status, so each reads its own partial index (0001) instead of the table.
			select job_type, count(*) filter (where status = 'pending')::int as pending,
			       count(*) filter (where status = 'processing')::int as processing
			from (select job_type, status from public.job_queue where status = 'pending'
			      union all
			      select job_type, status from public.job_queue where status = 'processing') j
			group by job_type
		), types as (
			select job_type from live
			union select unnest(${registered}::text[])
			union select job_type from public.job_queue_paused_types
			union select job_type from public.job_queue where created_at > now() - interval '1 day'
		)
		select t.job_type, t.job_type = any (${registered}::text[]) as registered,
		       p.job_type is not null as paused, p.paused_at, u.email as paused_by_email, p.reason,
		       coalesce(l.pending, 0) as pending, coalesce(l.processing, 0) as processing
		from types t
		left join live l on l.job_type = t.job_type
		left join public.job_queue_paused_types p on p.job_type = t.job_type
		left join auth.users u on u.id = p.paused_by
		order by t.job_type`;
}

function jobTypeField(raw: unknown): string {
	const jobType = typeof raw === 'string' ? raw.trim() : '';
	if (jobType.length < 1 || jobType.length > 128) throw new ValidationError('job_type', 'Name a job type (1-128 characters)');
	return jobType;
}

/** Pauses a job type: workers stop claiming it until resumed. Returns false if it was paused already. */
export async function pauseType(access: ConsoleAccess, sql: Sql, rawType: unknown, rawReason: unknown): Promise<boolean> {
	const actor = assertActor(access);
	const jobType = jobTypeField(rawType);
	const reason = typeof rawReason === 'string' && rawReason.trim() ? rawReason.trim().slice(0, 500) : undefined;
	return sql.begin(async (tx) => {
		const [before] = await tx<{ paused: boolean }[]>`
			select exists (select 1 from public.job_queue_paused_types where job_type = ${jobType}) as paused`;
		await pauseJobType(tx, jobType, actor.id, reason);
		const changed = !before!.paused;
		await recordAudit(tx, actor, 'queue.pause', { target: jobType, details: { reason: reason ?? null }, affectedRows: changed ? 1 : 0 });
		return changed;
	});
}

/** Resumes a paused job type and wakes the workers. Returns false if it was not paused. */
export async function resumeType(access: ConsoleAccess, sql: Sql, rawType: unknown): Promise<boolean> {
	const actor = assertActor(access);
	const jobType = jobTypeField(rawType);
	return sql.begin(async (tx) => {
		const [before] = await tx<{ paused: boolean }[]>`
			select exists (select 1 from public.job_queue_paused_types where job_type = ${jobType}) as paused`;
		await resumeJobType(tx, jobType);
		await recordAudit(tx, actor, 'queue.resume', { target: jobType, affectedRows: before!.paused ? 1 : 0 });
		return before!.paused;
	});
}

/** A hand-started run's budget in seconds. */
export interface RunBudget {
	default: number;
	max: number;
}

/** The hand-started run's budget: its default and maximum, never beyond a cron call's. */
export function runBudget(config: Pick<Config, 'worker'>): RunBudget {
	const max = Math.min(config.worker.budgetSeconds, MAX_RUN_BUDGET_SECONDS);
	return { default: Math.min(DEFAULT_RUN_BUDGET_SECONDS, max), max };
}

/** How this deployment's worker is called from outside: what the "set up the cron" panel shows. */
export interface CronSetup {
	endpoint: string;
	secretConfigured: boolean;
	budgetSeconds: number;
	inProcessWorker: boolean;
}

export interface RunNowResult {
	/** Job types that were paused during the run: it claimed none of them. */
	paused: string[];
	runId: number;
	workerId: string;
	budgetSeconds: number;
	processed: number;
	errors: number;
	reaped: number;
	returned: number;
	durationMs: number;
}

/** "Run the worker now": one budgeted pass, recorded as a manual worker run, as a cron call would. */
export async function runWorkerNow(
	access: ConsoleAccess,
	services: { sql: Sql; config: Pick<Config, 'worker'>; worker: Pick<WorkerService, 'runFor'> },
	rawBudget: unknown
): Promise<RunNowResult> {
	const actor = assertActor(access);
	const { sql, config } = services;
	const limits = runBudget(config);
	const budgetSeconds = wholeNumber('budget_seconds', 'The time budget', rawBudget ?? limits.default, 1, limits.max);
	// The same pass a cron call makes, with the deployment's worker settings (services.ts).
	const result = await services.worker.runFor(budgetSeconds, 'manual');
	const { runId, workerId, processed, errors, reaped, returned, durationMs } = result;
	await recordAudit(sql, actor, 'worker.run', {
		target: `worker_run:${runId}`,
		details: { budget_seconds: budgetSeconds, worker_id: workerId, processed, errors, reaped, returned, duration_ms: durationMs },
		affectedRows: processed
	});
	const paused = (await sql<{ job_type: string }[]>`select job_type from public.job_queue_paused_types order by job_type`).map((r) => r.job_type);
	return { paused, runId, workerId, budgetSeconds, processed, errors, reaped, returned, durationMs };
}

export interface CancelPreview {
	count: number;
	/** The database's time of the count; the cancel then covers only jobs created up to it. */
	asOf: string;
	includeProcessing: boolean;
}

export async function previewCancelAll(access: ConsoleAccess, sql: Queryable, includeProcessing: boolean): Promise<CancelPreview> {
	assertReader(access);
	// Each status counted on its own partial index; a status list would scan the whole table.
	const [row] = await sql<{ count: number; as_of: string }[]>`
		select (select count(*) from public.job_queue where status = 'pending')::int
		       + case when ${includeProcessing} then (select count(*) from public.job_queue where status = 'processing')::int else 0 end
		         as count,
		       to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as as_of`;
	return { count: row!.count, asOf: row!.as_of, includeProcessing };
}

/** The seed's rollback step, bounded by what the operator confirmed (see cancel_all_pending_jobs). */
export async function cancelAllPending(
	access: ConsoleAccess,
	sql: Sql,
	input: { asOf: unknown; includeProcessing: boolean; confirmedCount: unknown }
): Promise<number> {
	const actor = assertActor(access);
	// Kept as text to the microsecond: a Date would round it and the cancel would cover a different set.
	const asOf = typeof input.asOf === 'string' && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(input.asOf) ? input.asOf : null;
	if (asOf === null || Number.isNaN(Date.parse(asOf))) {
		throw new ValidationError('as_of', 'Count the jobs to cancel first, then confirm');
	}
	const confirmed = wholeNumber('confirm_count', 'The confirmed count', input.confirmedCount, 0, 2 ** 31 - 1);
	const reason = 'Cancelled by an administrator (cancel all pending)';
	return sql.begin(async (tx) => {
		const { cancelled, matched } = await cancelAllPendingJobs(tx, { asOf, includeProcessing: input.includeProcessing, confirmed, reason });
		if (matched > confirmed) throw new ConfirmationError(matched, confirmed);
		await recordAudit(tx, actor, 'queue.cancel_all', {
			details: { include_processing: input.includeProcessing, as_of: asOf, confirmed },
			affectedRows: cancelled
		});
		return cancelled;
	});
}

const MAX_RETENTION_DAYS = 3650;

/** How many finished jobs a purge of those older than `days` would delete now. */
export interface PurgePreview {
	days: number;
	count: number;
}

export async function previewPurge(access: ConsoleAccess, sql: Queryable, rawDays: unknown): Promise<PurgePreview> {
	assertReader(access);
	const days = wholeNumber('days', 'Days', rawDays, 1, MAX_RETENTION_DAYS);
	const [row] = await sql<{ count: number }[]>`
		select count(*)::int as count from public.job_queue
		where status in ('completed', 'failed', 'cancelled') and completed_at < now() - make_interval(days => ${days})`;
	return { days, count: row!.count };
}

/** Deletes finished jobs older than N days in batches (purgeFinishedJobs); returns how many. */
export async function purgeFinished(access: ConsoleAccess, sql: Sql, rawDays: unknown, rawConfirmed: unknown): Promise<number> {
	const actor = assertActor(access);
	const days = wholeNumber('days', 'Days', rawDays, 1, MAX_RETENTION_DAYS);
	const confirmed = wholeNumber('confirm_count', 'The confirmed count', rawConfirmed, 0, 2 ** 31 - 1);
	// Batches commit one by one (short locks on the hot table), so the audit follows the last batch.
	const deleted = await purgeFinishedJobs(sql, { olderThanDays: days });
	await recordAudit(sql, actor, 'queue.purge', { details: { older_than_days: days, confirmed }, affectedRows: deleted });
	return deleted;
}
