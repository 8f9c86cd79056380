// The console overview's numbers. The overview refreshes every few seconds, so every query here is
// bounded: live jobs through the partial indexes of pending and processing rows, history through a
// time range of an index (completed_at: job_queue_finished_at_idx; created_at: job_queue_created_at_id_idx
// and job_queue_created_at_id_idx, both from 0011).
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

export async function queueCounts(access: ConsoleAccess, sql: Queryable): Promise<TypeStatusCount[]> {
	assertReader(access);
	// Three branches, not one OR: each is served by its own partial index (an OR would scan the table).
	return sql<TypeStatusCount[]>`
		with live as (
			select job_type, status, completed_at, started_at, created_at from public.job_queue where status = 'pending'
			union all
			select job_type, status, completed_at, started_at, created_at from public.job_queue where status = 'processing'
			union all
			select job_type, status, completed_at, started_at, created_at from public.job_queue
			where status in ('completed', 'failed', 'cancelled') and completed_at > now() - interval '24 hours'
		)
		select job_type, status, count(*)::int as count,
		       round(avg(date_part('epoch', completed_at - started_at))::numeric, 3)::float8 as avg_duration_seconds,
		       min(created_at) as oldest_created_at, max(created_at) as newest_created_at
		from live
		group by job_type, status
		order by job_type, status`;
}

export async function queueNow(access: ConsoleAccess, sql: Queryable): Promise<QueueNow> {
	assertReader(access);
	const [row] = await sql<QueueNow[]>`
		select
			(select count(*)::int from public.job_queue where status = 'pending') as pending,
			(select count(*)::int from public.job_queue where status = 'processing') as processing,
			(select date_part('epoch', now() - min(scheduled_at)) from public.job_queue
			  where status = 'pending' and scheduled_at <= now()) as oldest_pending_seconds,
			d.completed_24h, d.failed_24h, d.avg_duration_seconds, d.p95_duration_seconds
		from (
			select count(*) filter (where status = 'completed')::int as completed_24h,
			       count(*) filter (where status = 'failed')::int as failed_24h,
			       avg(run_seconds) filter (where status = 'completed')::float8 as avg_duration_seconds,
			       (percentile_cont(0.95) within group (order by run_seconds) filter (where status = 'completed'))::float8
			         as p95_duration_seconds
			from (
				select status, date_part('epoch', completed_at - started_at) as run_seconds
				from public.job_queue
				where status in ('completed', 'failed', 'cancelled') and completed_at > now() - interval '24 hours'
			) finished
		) d`;
	return row!;
}

/** The last 24 hours hour by hour (UTC hours, the current one included), empty hours as zeros. */
export async function hourlyStats(access: ConsoleAccess, sql: Queryable): Promise<HourlyPoint[]> {
	assertReader(access);
	// Jobs created per hour are the history chart's 24 hours (folded totals plus the live rows, 0038).
	// Run times need every completion of the day (a p95 does not fold), read through
	// job_queue_finished_at_idx; hours are numbered floor(epoch / 3600), plain arithmetic per row,
	// where date_trunc(..., 'UTC') converts time zones per row and costs several times more.
	const [created, durations] = await Promise.all([
		historySeries(access, sql, { range: '24h', type: null, model: null }),
		sql<{ hour: Date; avg_duration_seconds: number | null; p95_duration_seconds: number | null }[]>`
			select to_timestamp(h * 3600) as hour, avg(run_seconds)::float8 as avg_duration_seconds,
			       (percentile_cont(0.95) within group (order by run_seconds))::float8 as p95_duration_seconds
			from (
				select floor(date_part('epoch', completed_at) / 3600)::int as h, date_part('epoch', completed_at - started_at) as run_seconds
				from public.job_queue
				where status = 'completed' and completed_at >= date_trunc('hour', now(), 'UTC') - interval '23 hours'
			) done
			group by h`
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

export function cachedHourlyStats(access: ConsoleAccess, sql: Queryable, cache: ReadCache, maxAgeMs = HOURLY_MAX_AGE_MS): Promise<HourlyPoint[]> {
	assertReader(access);
	return cache.get('console.hourly', maxAgeMs, () => hourlyStats(access, sql));
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
	const [now, counts, hourly, models, worker] = await Promise.all([
		queueNow(access, sql),
		queueCounts(access, sql),
		cachedHourlyStats(access, sql, cache, options.cacheMaxAgeMs),
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
