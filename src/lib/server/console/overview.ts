// The console overview's numbers. The overview refreshes every few seconds, so every query here is
// bounded: live jobs through the partial indexes of pending and processing rows, history through a
// time range of an index (completed_at: job_queue_finished_at_idx, one read of the last day for the
// counts, the day's totals and the hourly run times; created_at: the hourly folds of 0038).
// None of them walks the whole history the way `select * from queue_health` would. Durations use
// date_part (float8), which aggregates and sorts far faster than extract()'s numeric.
import { assertReader, type ConsoleAccess } from './access';
import type { Config } from '../config';
import type { Queryable } from '../db/client';
import type { JobStatus } from '../queue/types';
import { evaluateAlerts, type AlertThresholds } from '../monitoring/alerts';
import { runAllowanceSeconds } from '../worker/runs';
import { runState, type RunState } from './worker';
import { ReadCache } from '../read-cache';
import { historySeries } from './history';

/** One row per job type and status, in queue_health's shape; finished statuses count the last 24 hours. */
export interface TypeStatusCount {
	job_type: string;
	status: JobStatus;
	count: number;
	avg_duration_seconds: number | null;
	oldest_created_at: Date | null;
	newest_created_at: Date | null;
}

export interface QueueNow {
	pending: number;
	processing: number;
	/** Seconds the longest-waiting due pending job has waited (since its scheduled_at); null when none wait. */
	oldest_pending_seconds: number | null;
	/** Completed in the last 24 hours, and their run time (completed_at - started_at). */
	completed_24h: number;
	failed_24h: number;
	avg_duration_seconds: number | null;
	p95_duration_seconds: number | null;
}

export interface HourlyPoint {
	hour: Date;
	/** Jobs created in that hour, and how many of those have completed or failed (the seed's 6.5). */
	total: number;
	completed: number;
	failed: number;
	/** Run time of the jobs that completed in that hour. */
	avg_duration_seconds: number | null;
	p95_duration_seconds: number | null;
}

export interface ModelTime {
	model: string;
	total_generations: number;
	avg_time_seconds: number;
	min_time_seconds: number;
	max_time_seconds: number;
}

export interface LastWorkerRun {
	id: number;
	worker_id: string;
	trigger: string;
	started_at: Date;
	last_seen_at: Date;
	finished_at: Date | null;
	processed: number;
	errors: number;
	/** now() - last_seen_at, measured by the database's clock. */
	seen_seconds_ago: number;
	state: RunState;
}

export interface Overview {
	generatedAt: Date;
	now: QueueNow;
	counts: TypeStatusCount[];
	hourly: HourlyPoint[];
	models: ModelTime[];
	lastWorkerRun: LastWorkerRun | null;
}

/** Run times of the jobs that completed in one UTC hour (the hourly chart's second part). */
interface HourDurations {
	hour: Date;
	avg_duration_seconds: number | null;
	p95_duration_seconds: number | null;
}

/** The overview's reading of the live jobs and the last day of settled ones: counts, now, run times by hour. */
export interface QueueReading {
	counts: TypeStatusCount[];
	now: QueueNow;
	hours: HourDurations[];
}

type ReadingRow = {
	part: 'count' | 'day' | 'hour';
	job_type: string | null;
	status: JobStatus | null;
	count: number | null;
	failed: number | null;
	avg_duration_seconds: number | null;
	p95_duration_seconds: number | null;
	oldest_created_at: Date | null;
	newest_created_at: Date | null;
	oldest_pending_seconds: number | null;
	hour: Date | null;
};

/**
 * One statement for what three read before, each the same day of settled jobs: the day is read once
 * (job_queue_finished_at_idx) into a materialized set that the counts by type and status, the day's
 * totals and the hourly run times all aggregate, in one snapshot. Live jobs come through the
 * partial indexes of pending and processing rows. Parts are told apart by `part`.
 */
export async function readQueue(access: ConsoleAccess, sql: Queryable): Promise<QueueReading> {
	assertReader(access);
	// Hours are numbered floor(epoch / 3600), plain arithmetic per row, where date_trunc(..., 'UTC')
	// converts time zones per row and costs several times more. The hourly window (the current hour
	// and the 23 before it) lies inside the day's (the last 24 hours).
	const rows = await sql<ReadingRow[]>`
		with finished as materialized (
			select job_type, status, created_at, completed_at, date_part('epoch', completed_at - started_at) as run_seconds
			from public.job_queue
			where status in ('completed', 'failed', 'cancelled') and completed_at > now() - interval '24 hours'
		),
		live as (
			select job_type, status, created_at, date_part('epoch', completed_at - started_at) as run_seconds
			from public.job_queue where status = 'pending'
			union all
			select job_type, status, created_at, date_part('epoch', completed_at - started_at)
			from public.job_queue where status = 'processing'
			union all
			select job_type, status, created_at, run_seconds from finished
		)
		select 'count' as part, job_type, status, count(*)::int as count, null::int as failed,
		       round(avg(run_seconds)::numeric, 3)::float8 as avg_duration_seconds, null::float8 as p95_duration_seconds,
		       min(created_at) as oldest_created_at, max(created_at) as newest_created_at,
		       null::float8 as oldest_pending_seconds, null::timestamptz as hour
		from live
		group by job_type, status
		union all
		select 'day', null, null, count(*) filter (where status = 'completed')::int, count(*) filter (where status = 'failed')::int,
		       avg(run_seconds) filter (where status = 'completed')::float8,
		       (percentile_cont(0.95) within group (order by run_seconds) filter (where status = 'completed'))::float8,
		       null, null,
		       (select date_part('epoch', now() - min(scheduled_at)) from public.job_queue
		         where status = 'pending' and scheduled_at <= now()),
		       null
		from finished
		union all
		select 'hour', null, null, null, null, avg(run_seconds)::float8,
		       (percentile_cont(0.95) within group (order by run_seconds))::float8, null, null, null, to_timestamp(h * 3600)
		from (
			select floor(date_part('epoch', completed_at) / 3600)::int as h, run_seconds
			from finished
			where status = 'completed' and completed_at >= date_trunc('hour', now(), 'UTC') - interval '23 hours'
		) done
		group by h
		order by part, job_type, status`;
	const counts: TypeStatusCount[] = rows
		.filter((row) => row.part === 'count')
		.map((row) => ({
			job_type: row.job_type!, status: row.status!, count: row.count!, avg_duration_seconds: row.avg_duration_seconds,
			oldest_created_at: row.oldest_created_at, newest_created_at: row.newest_created_at
		}));
	const day = rows.find((row) => row.part === 'day')!;
	const live = (status: JobStatus) => counts.reduce((sum, row) => sum + (row.status === status ? row.count : 0), 0);
	return {
		counts,
		now: {
			pending: live('pending'),
			processing: live('processing'),
			oldest_pending_seconds: day.oldest_pending_seconds,
			completed_24h: day.count!,
			failed_24h: day.failed!,
			avg_duration_seconds: day.avg_duration_seconds,
			p95_duration_seconds: day.p95_duration_seconds
		},
		hours: rows
			.filter((row) => row.part === 'hour')
			.map((row) => ({ hour: row.hour!, avg_duration_seconds: row.avg_duration_seconds, p95_duration_seconds: row.p95_duration_seconds }))
	};
}

/** One row per job type and status: live jobs, and settled ones of the last 24 hours. */
export async function queueCounts(access: ConsoleAccess, sql: Queryable): Promise<TypeStatusCount[]> {
	return (await readQueue(access, sql)).counts;
}

export async function queueNow(access: ConsoleAccess, sql: Queryable): Promise<QueueNow> {
	return (await readQueue(access, sql)).now;
}

/** The last 24 hours hour by hour (UTC hours, the current one included), empty hours as zeros. */
export async function hourlyStats(access: ConsoleAccess, sql: Queryable, hours?: () => Promise<HourDurations[]>): Promise<HourlyPoint[]> {
	assertReader(access);
	// Jobs created per hour are the history chart's 24 hours (folded totals plus the live rows, 0038);
	// run times come from the overview's reading of the day (every completion: a p95 does not fold).
	const [created, durations] = await Promise.all([
		historySeries(access, sql, { range: '24h', type: null, model: null }),
		hours ? hours() : readQueue(access, sql).then((reading) => reading.hours)
	]);
	const byHour = new Map(durations.map((d) => [d.hour.getTime(), d]));
	return created.map((point) => {
		const hour = new Date(point.at);
		const d = byHour.get(hour.getTime());
		return {
			hour, total: point.total, completed: point.completed, failed: point.failed,
			avg_duration_seconds: d?.avg_duration_seconds ?? null, p95_duration_seconds: d?.p95_duration_seconds ?? null
		};
	});
}

/**
 * Time to image by model (request to done, the seed's 6.4), over the last `days` days: pictures that
 * an operator's retry or a failed attempt delayed are left out (their clock ran while nobody was
 * rendering), so one picture retried an hour later does not turn 2.5 s into minutes.
 */
export async function modelTimes(access: ConsoleAccess, sql: Queryable, days = 7): Promise<ModelTime[]> {
	assertReader(access);
	// Model by model from the catalogue: each an index-only range of image_generations_model_created_idx
	// (it includes every column read), where one grouping over all models planned a scan of the table.
	return sql<ModelTime[]>`
		select m.id as model, t.total_generations, t.avg_time_seconds, t.min_time_seconds, t.max_time_seconds
		from public.models m
		cross join lateral (
			select count(*)::int as total_generations,
			       avg(date_part('epoch', g.completed_at - g.created_at))::float8 as avg_time_seconds,
			       min(date_part('epoch', g.completed_at - g.created_at))::float8 as min_time_seconds,
			       max(date_part('epoch', g.completed_at - g.created_at))::float8 as max_time_seconds
			from public.image_generations g
			where g.model_id = m.id and g.status = 'completed'
			  and g.created_at > now() - make_interval(days => ${days})
			  and (g.run_started_at is null or g.run_started_at = g.started_at)
		) t
		where t.total_generations > 0
		order by t.avg_time_seconds desc`;
}

export async function lastWorkerRun(access: ConsoleAccess, sql: Queryable, allowanceSeconds = runAllowanceSeconds(Infinity)): Promise<LastWorkerRun | null> {
	assertReader(access);
	const [row] = await sql<LastWorkerRun[]>`
		select id::int as id, worker_id, trigger, started_at, last_seen_at, finished_at, processed, errors,
		       date_part('epoch', now() - last_seen_at) as seen_seconds_ago, ${runState(sql, allowanceSeconds)} as state
		from public.worker_runs
		order by last_seen_at desc
		limit 1`;
	return row ?? null;
}

// The two series that cost the most change slowly: a week of per-model averages (every completion of
// 7 days, each with a heap visit for its model) and the 24 hourly buckets (two scans of a day of
// jobs, with sorts for the p95s). They are served from memory and recomputed in the background once
// older than these, so a refresh every 5 s pays for them only now and then, and never waits for it.
export const MODEL_TIMES_MAX_AGE_MS = 60_000;
export const HOURLY_MAX_AGE_MS = 15_000;
export function cachedModelTimes(access: ConsoleAccess, sql: Queryable, cache: ReadCache, maxAgeMs = MODEL_TIMES_MAX_AGE_MS): Promise<ModelTime[]> {
	assertReader(access);
	return cache.get('console.model_times', maxAgeMs, () => modelTimes(access, sql));
}

/** The hourly points, remembered; `hours`: run times the caller already read (the overview's reading). */
export function cachedHourlyStats(
	access: ConsoleAccess, sql: Queryable, cache: ReadCache, maxAgeMs = HOURLY_MAX_AGE_MS, hours?: () => Promise<HourDurations[]>
): Promise<HourlyPoint[]> {
	assertReader(access);
	return cache.get('console.hourly', maxAgeMs, () => hourlyStats(access, sql, hours));
}

/** Everything the overview shows, read in parallel (each query on its own pooled connection). */
export async function loadOverview(
	access: ConsoleAccess,
	sql: Queryable,
	options: { cache?: ReadCache; cacheMaxAgeMs?: number; allowanceSeconds?: number } = {}
): Promise<Overview> {
	assertReader(access);
	// Without the process's cache (a script, a test), everything is read afresh.
	const cache = options.cache ?? new ReadCache();
	// The hourly chart, when its turn comes, takes its run times from this reading (no second read of the day).
	const reading = readQueue(access, sql);
	const [{ now, counts }, hourly, models, worker] = await Promise.all([
		reading,
		cachedHourlyStats(access, sql, cache, options.cacheMaxAgeMs, () => reading.then((r) => r.hours)),
		cachedModelTimes(access, sql, cache, options.cacheMaxAgeMs),
		lastWorkerRun(access, sql, options.allowanceSeconds)
	]);
	return { generatedAt: new Date(), now, counts, hourly, models, lastWorkerRun: worker };
}

/** What the console's overview page shows, as plain JSON (the page's load and its live refresh share it). */
export interface ConsoleOverview {
	generatedAt: string;
	now: QueueNow;
	counts: { job_type: string; status: JobStatus; count: number; avg_duration_seconds: number | null }[];
	hourly: (Omit<HourlyPoint, 'hour'> & { hour: string })[];
	models: ModelTime[];
	/** The most recently seen run; state by the same rule as the Worker page's (console/worker.ts runState). */
	worker: { trigger: string; seen_seconds_ago: number; running: boolean; state: RunState; processed: number; errors: number } | null;
	alerts: { key: string; title: string; detail: string; href: string; since: string; active_seconds: number }[];
	thresholds: AlertThresholds;
	/** Job types the operators paused: workers claim none of them until resumed. */
	paused: PausedType[];
}

export interface PausedType {
	job_type: string;
	paused_at: string;
	reason: string | null;
	/** Pending jobs of the type (waiting for the resume). */
	waiting: number;
}

/** Paused job types with what waits behind each (pending rows only: the partial index). */
export async function pausedTypes(access: ConsoleAccess, sql: Queryable): Promise<PausedType[]> {
	assertReader(access);
	const rows = await sql<(Omit<PausedType, 'paused_at'> & { paused_at: Date })[]>`
		select p.job_type, p.paused_at, p.reason,
		       (select count(*) from public.job_queue j where j.status = 'pending' and j.job_type = p.job_type)::int as waiting
		from public.job_queue_paused_types p
		order by p.paused_at`;
	return rows.map((row) => ({ ...row, paused_at: row.paused_at.toISOString() }));
}

/** Reads the overview and evaluates the alerts (announcing any change in the background). */
export async function consoleOverview(
	access: ConsoleAccess,
	sql: Queryable,
	config: Pick<Config, 'alerts' | 'publicBaseUrl'>,
	options: { log?: (message: string) => void; cache?: ReadCache } = {}
): Promise<ConsoleOverview> {
	const { log, cache } = options;
	assertReader(access);
	const allowanceSeconds = runAllowanceSeconds(config.alerts.noWorkerSeconds);
	const [overview, alerts, paused] = await Promise.all([
		loadOverview(access, sql, { allowanceSeconds, cache }),
		evaluateAlerts(sql, config, { log }),
		pausedTypes(access, sql)
	]);
	const run = overview.lastWorkerRun;
	const { pendingMax, failureRate, noCompletionSeconds, noWorkerSeconds } = config.alerts;
	return {
		generatedAt: overview.generatedAt.toISOString(),
		now: overview.now,
		counts: overview.counts.map(({ job_type, status, count, avg_duration_seconds }) => ({ job_type, status, count, avg_duration_seconds })),
		hourly: overview.hourly.map((point) => ({ ...point, hour: point.hour.toISOString() })),
		models: overview.models,
		worker: run && {
			trigger: run.trigger,
			seen_seconds_ago: run.seen_seconds_ago,
			running: run.state === 'running',
			state: run.state,
			processed: run.processed,
			errors: run.errors
		},
		alerts: alerts.active.map(({ key, title, detail, href, since, active_seconds }) => ({
			key, title, detail, href, since: since.toISOString(), active_seconds
		})),
		thresholds: { pendingMax, failureRate, noCompletionSeconds, noWorkerSeconds },
		paused
	};
}
