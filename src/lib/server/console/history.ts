// The overview's history chart: jobs created per bucket over 24 hours, 7 days or 30 days, with how
// many of them completed or failed, optionally for one job type or one model. Parameters come from
// the page's URL and are allowlisted: a range from the list, a job type a handler is registered
// for, a model in the catalogue; anything else is a 400 naming what is allowed.
//
// Settled history is read from its hourly totals (0038), the live rest through partial indexes, so
// thirty days cost about what one day does. Answers are still kept for a minute per (range, type,
// model): the chart is redrawn on navigation, and the realtime chart is the one that moves by the second.
import type postgres from 'postgres';
import { assertReader, type ConsoleAccess } from './access';
import type { Queryable } from '../db/client';
import { ValidationError } from '../errors';
import type { ReadCache } from '../read-cache';

export const HISTORY_RANGES = {
	'24h': { label: '24 hours', bucketSeconds: 3600, buckets: 24 },
	'7d': { label: '7 days', bucketSeconds: 6 * 3600, buckets: 28 },
	'30d': { label: '30 days', bucketSeconds: 86400, buckets: 30 }
} as const;
export type HistoryRange = keyof typeof HISTORY_RANGES;

export interface HistoryQuery {
	range: HistoryRange;
	type: string | null;
	model: string | null;
}

export interface HistoryPoint {
	/** Start of the bucket, ISO. */
	at: string;
	total: number;
	completed: number;
	failed: number;
}

export interface History extends HistoryQuery {
	bucketSeconds: number;
	points: HistoryPoint[];
	/** What the pickers offer (the allowlists). */
	types: string[];
	models: string[];
}

function one(params: URLSearchParams, name: string): string | null {
	const values = params.getAll(name);
	if (values.length > 1) throw new ValidationError(name, `Give ${name} once`);
	const value = values[0];
	if (value === undefined || value === '') return null;
	if (value.includes('\u0000')) throw new ValidationError(name, `${name} contains a NUL character`);
	return value;
}

/** The picker's parameters, checked against the allowlists; absent means the default (24 h, everything). */
export function parseHistoryQuery(params: URLSearchParams, allowed: { types: string[]; models: string[] }): HistoryQuery {
	const range = one(params, 'range') ?? '24h';
	if (!Object.hasOwn(HISTORY_RANGES, range)) {
		throw new ValidationError('range', `Range must be one of ${Object.keys(HISTORY_RANGES).join(', ')}`);
	}
	const type = one(params, 'type');
	if (type !== null && !allowed.types.includes(type)) {
		throw new ValidationError('type', `Job type must be one of ${allowed.types.join(', ') || '(none registered)'}`);
	}
	const model = one(params, 'model');
	if (model !== null && !allowed.models.includes(model)) throw new ValidationError('model', 'Model must be one in the catalogue');
	return { range: range as HistoryRange, type, model };
}

/** The allowlists: job types with a handler, and the catalogue's models. */
export async function historyChoices(access: ConsoleAccess, sql: Queryable, registeredTypes: string[]): Promise<{ types: string[]; models: string[] }> {
	assertReader(access);
	const models = await sql<{ id: string }[]>`select id from public.models order by id`;
	return { types: [...registeredTypes].sort(), models: models.map((m) => m.id) };
}

/**
 * The buckets of one range ending with the current one (UTC-aligned), empty ones as zeros. Settled
 * history comes from job_queue_settled_hourly (0038, folded by the hour created: every bucket is a
 * whole number of hours), the rest from job_queue through the partial indexes: pending, processing,
 * and settled rows above the watermark. One statement, so both parts are read in one snapshot.
 */
export async function historySeries(access: ConsoleAccess, sql: Queryable, query: HistoryQuery): Promise<HistoryPoint[]> {
	assertReader(access);
	const { bucketSeconds: step, buckets } = HISTORY_RANGES[query.range];
	const start = sql`to_timestamp((floor(date_part('epoch', now()) / ${step}) - ${buckets - 1}) * ${step})`;
	const live = (status: postgres.Fragment) => sql`
		select created_at, status from public.job_queue
		where ${status} and created_at >= ${start}
		  ${query.type ? sql`and job_type = ${query.type}` : sql``}
		  ${query.model ? sql`and payload ->> 'model_id' = ${query.model}` : sql``}`;
	const rows = await sql<{ at: Date; total: number; completed: number; failed: number }[]>`
		with slots as (
			select generate_series(last - ${buckets - 1}, last) as b
			from (select floor(date_part('epoch', now()) / ${step})::bigint as last) bounds
		),
		parts as (
			select floor(date_part('epoch', created_hour) / ${step})::bigint as b, sum(jobs) as total,
			       coalesce(sum(jobs) filter (where status = 'completed'), 0) as completed,
			       coalesce(sum(jobs) filter (where status = 'failed'), 0) as failed
			from public.job_queue_settled_hourly
			where created_hour >= ${start}
			  ${query.type ? sql`and job_type = ${query.type}` : sql``}
			  ${query.model ? sql`and model_id = ${query.model}` : sql``}
			group by 1
			union all
			select floor(date_part('epoch', created_at) / ${step})::bigint, count(*),
			       count(*) filter (where status = 'completed'), count(*) filter (where status = 'failed')
			from (
				${live(sql`status = 'pending'`)}
				union all ${live(sql`status = 'processing'`)}
				union all ${live(sql`status in ('completed', 'failed', 'cancelled') and completed_at > public.read_folded_through()`)}
				union all ${live(sql`status in ('completed', 'failed', 'cancelled') and completed_at is null`)}
			) unfolded
			group by 1
		),
		created as (
			select b, sum(total)::int as total, sum(completed)::int as completed, sum(failed)::int as failed from parts group by b
		)
		select to_timestamp(slots.b * ${step}) as at, coalesce(c.total, 0) as total,
		       coalesce(c.completed, 0) as completed, coalesce(c.failed, 0) as failed
		from slots left join created c on c.b = slots.b
		order by slots.b`;
	return rows.map((row) => ({ ...row, at: row.at.toISOString() }));
}

export const HISTORY_MAX_AGE_MS = 60_000;

/** The chart's data and the pickers' choices; cached per query when a cache is given. */
export async function consoleHistory(
	access: ConsoleAccess,
	sql: Queryable,
	query: HistoryQuery,
	choices: { types: string[]; models: string[] },
	cache?: ReadCache
): Promise<History> {
	assertReader(access);
	const key = `console.history:${query.range}:${query.type ?? ''}:${query.model ?? ''}`;
	const points = cache ? await cache.get(key, HISTORY_MAX_AGE_MS, () => historySeries(access, sql, query)) : await historySeries(access, sql, query);
	return { ...query, bucketSeconds: HISTORY_RANGES[query.range].bucketSeconds, points, ...choices };
}
