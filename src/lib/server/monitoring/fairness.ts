// Fair share, as the console shows it: per user, their queued and running jobs and how long their
// oldest due job has waited, against the median wait of recently started jobs; and the alert that
// fires when some user's oldest waiting job has waited more than ALERT_UNFAIR_WAIT_FACTOR x that
// median (and at least ALERT_UNFAIR_WAIT_MIN_SECONDS, so a queue of sub-second waits stays quiet).
//
// Cheap at any history size: the per-user rows read only active jobs (the pending and processing
// partial indexes), the median the newest 200 entries of job_queue_finished_at_idx.
import type { Config } from '../config';
import type { Queryable } from '../db/client';
import type { AlertCheck } from './alerts';

export interface UserQueueRow {
	user_id: string;
	email: string | null;
	queued: number;
	running: number;
	/** Seconds the user's oldest due pending job has waited; null when none is due. */
	oldest_wait_seconds: number | null;
}

export interface FairnessSnapshot {
	users: UserQueueRow[];
	/** Median of (started - due) over the last 200 finished jobs that ran; null before any did. */
	median_wait_seconds: number | null;
}

export type FairnessThresholds = Pick<Config['alerts'], 'unfairWaitFactor' | 'unfairWaitMinSeconds'>;

export async function readFairness(sql: Queryable, limit = 50): Promise<FairnessSnapshot> {
	const users = await sql<UserQueueRow[]>`
		with active as (
			-- Two branches, not an IN: each reads its partial index (the IN planned a scan of the table, 110 ms at 1M jobs).
			select j.created_by, j.status, j.scheduled_at from public.job_queue j
			where j.status = 'pending' and j.created_by is not null
			union all
			select j.created_by, j.status, j.scheduled_at from public.job_queue j
			where j.status = 'processing' and j.created_by is not null
		), per_user as (
			select created_by,
			       count(*) filter (where status = 'pending')::int as queued,
			       count(*) filter (where status = 'processing')::int as running,
			       date_part('epoch', now() - min(scheduled_at) filter (where status = 'pending' and scheduled_at <= now())) as oldest_wait_seconds
			from active group by created_by
		)
		select p.created_by as user_id, u.email, p.queued, p.running, p.oldest_wait_seconds
		from per_user p left join auth.users u on u.id = p.created_by
		order by p.oldest_wait_seconds desc nulls last, p.queued desc
		limit ${limit}`;
	const [median] = await sql<{ seconds: number | null }[]>`
		select percentile_cont(0.5) within group (order by wait) as seconds
		from (
			select greatest(0, date_part('epoch', started_at - scheduled_at)) as wait from public.job_queue
			where status in ('completed', 'failed', 'cancelled') and completed_at is not null and started_at is not null
			order by completed_at desc limit 200
		) recent`;
	return {
		users: users.map((u) => ({ ...u, oldest_wait_seconds: u.oldest_wait_seconds === null ? null : Number(u.oldest_wait_seconds) })),
		median_wait_seconds: median?.seconds === null || median?.seconds === undefined ? null : Number(median.seconds)
	};
}

/** The wait past which a user's oldest job counts as treated unfairly. */
export function unfairAfterSeconds(snapshot: FairnessSnapshot, t: FairnessThresholds): number {
	return Math.max(t.unfairWaitMinSeconds, (snapshot.median_wait_seconds ?? 0) * t.unfairWaitFactor);
}

export function checkFairness(snapshot: FairnessSnapshot, t: FairnessThresholds): AlertCheck {
	const limit = unfairAfterSeconds(snapshot, t);
	const worst = snapshot.users.find((u) => u.oldest_wait_seconds !== null) ?? null;
	// Before any job ran there is no median to be unfair against (no_worker and no_completion cover that).
	const firing = worst !== null && snapshot.median_wait_seconds !== null && worst.oldest_wait_seconds! > limit;
	const median = snapshot.median_wait_seconds === null ? 'no job has run yet' : `the median wait is ${Math.round(snapshot.median_wait_seconds)} s`;
	return {
		key: 'unfair_wait',
		firing,
		title: `A user's oldest job waited over ${t.unfairWaitFactor}x the median wait`,
		detail: worst
			? `${worst.email ?? worst.user_id}'s oldest queued job has waited ${Math.round(worst.oldest_wait_seconds!)} s; ${median} (alert above ${Math.round(limit)} s).`
			: `Nobody has a job waiting; ${median}.`,
		href: '/admin/costs#fairness'
	};
}
