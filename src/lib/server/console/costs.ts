// The console's cost page: what completed generations cost (cost_usd, 0027) per UTC day, per user
// and per model over the last DAYS days, read from image_generations_costed_idx alone.
import { assertReader, type ConsoleAccess } from './access';
import type { Queryable } from '../db/client';

export const COST_DAYS = 30;

export interface CostDay {
	/** The UTC day, YYYY-MM-DD. */
	day: string;
	cost_usd: number;
	generations: number;
}
export interface CostByUser {
	user_id: string;
	email: string | null;
	cost_usd: number;
	generations: number;
}
export interface CostByModel {
	model_id: string;
	cost_usd: number;
	generations: number;
}
export interface CostReport {
	days: CostDay[];
	users: CostByUser[];
	models: CostByModel[];
	total_usd: number;
}

export async function readCosts(access: ConsoleAccess, sql: Queryable, options: { days?: number; topUsers?: number } = {}): Promise<CostReport> {
	assertReader(access);
	const days = Math.min(Math.max(Math.trunc(options.days ?? COST_DAYS), 1), 366);
	const topUsers = Math.min(Math.max(Math.trunc(options.topUsers ?? 20), 1), 200);
	// The first UTC day of the range, as a date and as the instant it starts.
	const firstDay = sql`((now() at time zone 'UTC')::date - ${days - 1}::int)`;
	const since = sql`(${firstDay}::timestamp at time zone 'UTC')`;
	// Every day of the range, the empty ones as 0, so the chart's axis has no gaps.
	const dayRows = await sql<{ day: string; cost_usd: number; generations: number }[]>`
		with costed as (
			select date_trunc('day', g.created_at at time zone 'UTC')::date as day, sum(g.cost_usd)::float8 as cost_usd, count(*)::int as generations
			from public.image_generations g where g.cost_usd is not null and g.created_at >= ${since}
			group by 1
		)
		select to_char(d.day, 'YYYY-MM-DD') as day, coalesce(c.cost_usd, 0) as cost_usd, coalesce(c.generations, 0) as generations
		from generate_series(${firstDay}::timestamp, (now() at time zone 'UTC')::date::timestamp, interval '1 day') as d(day)
		left join costed c on c.day = d.day::date
		order by d.day`;
	const users = await sql<CostByUser[]>`
		select g.user_id, u.email, sum(g.cost_usd)::float8 as cost_usd, count(*)::int as generations
		from public.image_generations g left join auth.users u on u.id = g.user_id
		where g.cost_usd is not null and g.created_at >= ${since}
		group by g.user_id, u.email
		order by 3 desc, g.user_id
		limit ${topUsers}`;
	const models = await sql<CostByModel[]>`
		select g.model_id, sum(g.cost_usd)::float8 as cost_usd, count(*)::int as generations
		from public.image_generations g
		where g.cost_usd is not null and g.created_at >= ${since}
		group by g.model_id
		order by 2 desc, g.model_id`;
	return { days: dayRows, users, models, total_usd: dayRows.reduce((sum, d) => sum + d.cost_usd, 0) };
}
