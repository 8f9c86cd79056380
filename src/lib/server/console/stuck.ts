// The stuck page: jobs the stuck_jobs view reports, resetting them as the seed's troubleshooting
// step does (without spending an attempt), and what the automatic reaper has done lately.
import { assertActor, assertReader, type ConsoleAccess } from './access';
import type { Queryable, Sql } from '../db/client';
import { ValidationError } from '../errors';
import { recordAudit } from './audit';
import { parseUuid } from './jobs';
import { resetStuckJobs } from '../queue';

const LIST_LIMIT = 500;

export interface StuckJob {
	id: string;
	job_type: string;
	model_id: string | null;
	user_email: string | null;
	attempts: number;
	max_attempts: number;
	locked_by: string | null;
	locked_until: Date | null;
	started_at: Date | null;
	created_at: Date;
	running_seconds: number | null;
	lease_expired: boolean;
}

export async function listStuck(access: ConsoleAccess, sql: Queryable): Promise<{ jobs: StuckJob[]; total: number; thresholdMinutes: number }> {
	assertReader(access);
	const jobs = await sql<StuckJob[]>`
		select s.id, s.job_type, s.payload ->> 'model_id' as model_id, u.email as user_email, s.attempts, s.max_attempts,
		       s.locked_by, s.locked_until, s.started_at, s.created_at,
		       extract(epoch from s.running_for)::float8 as running_seconds, coalesce(s.lease_expired, false) as lease_expired
		from public.stuck_jobs s
		left join auth.users u on u.id = s.created_by
		order by s.started_at nulls first, s.id
		limit ${LIST_LIMIT}`;
	// The threshold is the view's own (stuck_job_threshold()), so the page's words cannot drift from it.
	const [row] = await sql<{ total: number; minutes: number }[]>`
		select (select count(*)::int from public.stuck_jobs) as total,
		       (date_part('epoch', public.stuck_job_threshold()) / 60)::int as minutes`;
	return { jobs, total: row!.total, thresholdMinutes: row!.minutes };
}

/** The ids a form selected (checkboxes named id). */
export function parseSelectedIds(values: unknown[]): string[] {
	if (values.length === 0) throw new ValidationError('id', 'Select the stuck jobs to reset first');
	if (values.length > LIST_LIMIT) throw new ValidationError('id', `Select at most ${LIST_LIMIT} jobs at once`);
	return [...new Set(values.map((value) => parseUuid(value)))];
}

/**
 * Back to pending with the claim's attempt given back (reset_stuck_jobs); only jobs still stuck
 * are touched. ids null: every stuck job. Audited in the same transaction.
 */
export async function resetStuck(access: ConsoleAccess, sql: Sql, ids: string[] | null, confirmedCount?: number): Promise<number> {
	const actor = assertActor(access);
	return sql.begin(async (tx) => {
		const reset = await resetStuckJobs(tx, ids);
		await recordAudit(tx, actor, ids ? 'stuck.reset' : 'stuck.reset_all', {
			target: ids ? (ids.length === 1 ? ids[0] : `${ids.length} jobs`) : 'all stuck jobs',
			details: ids ? { ids } : { confirmed_count: confirmedCount ?? null },
			affectedRows: reset
		});
		return reset;
	});
}

export interface ReaperRun {
	id: number;
	worker_id: string;
	trigger: string;
	started_at: Date;
	finished_at: Date | null;
	reaped: number;
	processed: number;
	errors: number;
}

export interface ReapedJob {
	id: string;
	job_type: string;
	status: string;
	attempts: number;
	max_attempts: number;
	locked_by: string | null;
	updated_at: Date;
}

/** Worker runs that reaped leases, and the jobs the reaper marked in the last day. */
export async function reaperActivity(access: ConsoleAccess, sql: Queryable): Promise<{ runs: ReaperRun[]; jobs: ReapedJob[] }> {
	assertReader(access);
	const runs = await sql<ReaperRun[]>`
		select id, worker_id, trigger, started_at, finished_at, reaped, processed, errors
		from public.worker_runs where reaped > 0 order by started_at desc limit 20`;
	const jobs = await sql<ReapedJob[]>`
		select id, job_type, status, attempts, max_attempts, error_details ->> 'locked_by' as locked_by, updated_at
		from public.job_queue
		where error_details ->> 'reason' = 'lease_expired' and updated_at > now() - interval '24 hours'
		order by updated_at desc limit 20`;
	return { runs: runs.map((run) => ({ ...run, id: Number(run.id) })), jobs };
}
