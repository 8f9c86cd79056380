// The overview's realtime chart: jobs started, completed and failed per 5 seconds over the last 15
// minutes, the queue's depth now, and the wait before pickup per job type, minute by minute.
//
// Read from the rows themselves, through indexes the queue already has, so the hot path writes
// nothing more (no counters, no trigger): every job started in the window is either running (the
// processing partial index), back in line after a failed try (the pending partial index) or
// finished since it started (completed_at >= started_at: a range of job_queue_finished_at_idx).
// The window is 180 buckets, so the cost follows the last 15 minutes' jobs, not the history.
//
// What the counts mean: "started" counts each job by its latest start (a job claimed twice in the
// window counts once, in the later bucket); "failed" counts jobs that ended failed, not tries
// that will be retried (those are in the job's attempt log).
import { assertReader, type ConsoleAccess } from './access';
import type { Queryable } from '../db/client';
import type { ReadCache } from '../read-cache';

export const LIVE_BUCKET_SECONDS = 5;
export const LIVE_BUCKETS = 180; // 15 minutes
const LATENCY_STEP_SECONDS = 60;
const LATENCY_STEPS = 15;

export interface LiveBucket {
	/** Start of the bucket, ISO. */
	at: string;
	started: number;
	completed: number;
	failed: number;
}

export interface LiveLatency {
	job_type: string;
	/** Longest wait (due to started) among the jobs started in each minute, oldest first; null when none started. */
	minutes: (number | null)[];
	/** How long the oldest due job of the type has waited right now; null when none wait. */
	oldest_waiting_seconds: number | null;
	pending: number;
}

export interface LiveSeries {
	generatedAt: string;
	bucketSeconds: number;
	buckets: LiveBucket[];
	depth: { pending: number; due: number; processing: number };
	latency: LiveLatency[];
}

/** The window that ends with the bucket holding `at`: [start, end). */
export function liveWindow(at: Date): { start: Date; end: Date; first: number } {
	const last = Math.floor(at.getTime() / 1000 / LIVE_BUCKET_SECONDS);
	const first = last - LIVE_BUCKETS + 1;
	return { start: new Date(first * LIVE_BUCKET_SECONDS * 1000), end: new Date((last + 1) * LIVE_BUCKET_SECONDS * 1000), first };
}

/** `at` pins the window (tests); by default it is the database's now(), read first so both clocks agree. */
export async function liveSeries(access: ConsoleAccess, sql: Queryable, at?: Date): Promise<LiveSeries> {
	assertReader(access);
	const now = at ?? (await sql<{ now: Date }[]>`select now() as now`)[0]!.now;
	const { start, end, first } = liveWindow(now);
	const latencyStart = new Date(end.getTime() - LATENCY_STEPS * LATENCY_STEP_SECONDS * 1000);
	// One pass over the window's rows (materialized once, read by both aggregates): each branch
	// names its status so it reads only its own partial index, and the bounds are parameters (not a
	// CTE) so the planner sees how narrow the completed_at range is. Pending rows are read for their
	// start only when a failed try left one (started_at is kept until the next claim).
	const [events, depth] = await Promise.all([
		sql<{ kind: 'bucket' | 'wait'; job_type: string | null; i: number; started: number; completed: number; failed: number; wait: number | null }[]>`
			with recent as materialized (
				select status, job_type, started_at, completed_at, scheduled_at from public.job_queue
				where status in ('completed', 'failed', 'cancelled') and completed_at >= ${start} and completed_at < ${end}
				union all
				select status, job_type, started_at, null, scheduled_at from public.job_queue where status = 'processing' and started_at >= ${start}
				union all
				select status, job_type, started_at, null, scheduled_at from public.job_queue where status = 'pending' and started_at >= ${start}
			),
			marks as (
				select floor(date_part('epoch', started_at) / ${LIVE_BUCKET_SECONDS})::bigint - ${first} as b, 1 as started, 0 as completed, 0 as failed
				from recent where started_at >= ${start} and started_at < ${end}
				union all
				select floor(date_part('epoch', completed_at) / ${LIVE_BUCKET_SECONDS})::bigint - ${first},
				       0, (status = 'completed')::int, (status = 'failed')::int
				from recent where completed_at is not null and status <> 'cancelled'
			)
			select 'bucket' as kind, null as job_type, b::int as i, sum(started)::int as started, sum(completed)::int as completed,
			       sum(failed)::int as failed, null::float8 as wait
			from marks group by b
			union all
			select 'wait', job_type, floor(date_part('epoch', started_at - ${latencyStart}::timestamptz) / ${LATENCY_STEP_SECONDS})::int,
			       0, 0, 0, max(greatest(date_part('epoch', started_at - scheduled_at), 0))
			from recent
			where status <> 'pending' and started_at >= ${latencyStart} and started_at < ${end}
			group by 2, 3`,
		sql<{ pending: number; due: number; processing: number; waiting: { job_type: string; pending: number; oldest: number | null }[] }[]>`
			select (select count(*)::int from public.job_queue where status = 'pending') as pending,
			       (select count(*)::int from public.job_queue where status = 'pending' and scheduled_at <= ${now}) as due,
			       (select count(*)::int from public.job_queue where status = 'processing') as processing,
			       (select coalesce(json_agg(w), '[]') from (
			          select job_type, count(*)::int as pending,
			                 max(date_part('epoch', ${now}::timestamptz - scheduled_at)) filter (where scheduled_at <= ${now}) as oldest
			          from public.job_queue where status = 'pending' group by job_type) w) as waiting`
	]);
	const { waiting, ...queueDepth } = depth[0]!;
	const counts = events.filter((row) => row.kind === 'bucket');
	const types = new Map<string, LiveLatency>();
	const typeOf = (job_type: string) => {
		let entry = types.get(job_type);
		if (!entry) types.set(job_type, (entry = { job_type, minutes: Array(LATENCY_STEPS).fill(null), oldest_waiting_seconds: null, pending: 0 }));
		return entry;
	};
	for (const row of events) if (row.kind === 'wait' && row.i >= 0 && row.i < LATENCY_STEPS) typeOf(row.job_type!).minutes[row.i] = row.wait;
	for (const row of waiting) Object.assign(typeOf(row.job_type), { pending: row.pending, oldest_waiting_seconds: row.oldest });
	const latency = [...types.values()].sort((x, y) => (x.job_type < y.job_type ? -1 : 1));
	const byBucket = new Map(counts.map((row) => [row.i, row]));
	const buckets: LiveBucket[] = Array.from({ length: LIVE_BUCKETS }, (_, i) => {
		const row = byBucket.get(i);
		return {
			at: new Date((first + i) * LIVE_BUCKET_SECONDS * 1000).toISOString(),
			started: row?.started ?? 0,
			completed: row?.completed ?? 0,
			failed: row?.failed ?? 0
		};
	});
	return { generatedAt: now.toISOString(), bucketSeconds: LIVE_BUCKET_SECONDS, buckets, depth: queueDepth, latency };
}

// Several open consoles poll every few seconds: they share one reading per second.
export const LIVE_MAX_AGE_MS = 1000;
export function cachedLiveSeries(access: ConsoleAccess, sql: Queryable, cache: ReadCache, maxAgeMs = LIVE_MAX_AGE_MS): Promise<LiveSeries> {
	assertReader(access);
	return cache.get('console.live', maxAgeMs, () => liveSeries(access, sql));
}
