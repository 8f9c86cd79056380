// The console's models page: how each model is doing (model_generation_stats in 0012) and the two
// switches an operator needs: take a model out of service, and cap how many of its jobs run at once;
// and its price per second, which every completed generation's cost_usd is computed from (0027).
import { assertActor, assertReader, type ConsoleAccess } from './access';
import type { Queryable, Sql } from '../db/client';
import { NotFoundError } from '../errors';
import { recordAudit } from './audit';
import { moneyField } from './money';
import { wholeNumber } from './worker';

export const STATS_DAYS = 7;
export const CONCURRENCY_MIN = 1;
export const CONCURRENCY_MAX = 1000;

export interface ModelStats {
	id: string;
	provider: 'local' | 'replicate';
	display_name: string;
	enabled: boolean;
	max_concurrency: number;
	cost_per_second: number | null;
	generations_recent: number;
	generations_total: number;
	completed_recent: number;
	failed_recent: number;
	/** completed / (completed + failed) over the window; null before anything finished. */
	success_rate: number | null;
	avg_seconds: number | null;
	p95_seconds: number | null;
	/** Summed predict_time_seconds x cost_per_second; null when the price or the times are unknown. */
	cost: number | null;
	running: number;
}

const num = (value: string | number | null): number | null => (value === null ? null : Number(value));

export async function listModelStats(access: ConsoleAccess, sql: Queryable, days = STATS_DAYS): Promise<ModelStats[]> {
	assertReader(access);
	const rows = await sql<Record<string, string | number | boolean | null>[]>`
		select m.id, m.provider, m.display_name, m.enabled, m.max_concurrency, m.cost_per_second,
		       s.generations_recent, s.generations_total, s.completed_recent, s.failed_recent,
		       s.success_rate, s.avg_seconds, s.p95_seconds, s.cost, s.running
		from public.model_generation_stats(${days}) s
		join public.models m on m.id = s.model_id
		order by m.sort_order, m.id`;
	return rows.map((row) => ({
		id: row.id as string,
		provider: row.provider as ModelStats['provider'],
		display_name: row.display_name as string,
		enabled: row.enabled as boolean,
		max_concurrency: Number(row.max_concurrency),
		cost_per_second: num(row.cost_per_second as string | null),
		generations_recent: Number(row.generations_recent),
		generations_total: Number(row.generations_total),
		completed_recent: Number(row.completed_recent),
		failed_recent: Number(row.failed_recent),
		success_rate: num(row.success_rate as string | null),
		avg_seconds: num(row.avg_seconds as string | null),
		p95_seconds: num(row.p95_seconds as string | null),
		cost: num(row.cost as string | null),
		running: Number(row.running)
	}));
}

function modelId(raw: unknown): string {
	const id = typeof raw === 'string' ? raw.trim() : '';
	if (!id) throw new NotFoundError('No such model');
	return id;
}

/** Turns a model on or off for new generations; queued ones still run. Returns whether it changed. */
export async function setModelEnabled(access: ConsoleAccess, sql: Sql, rawId: unknown, enabled: boolean): Promise<boolean> {
	const actor = assertActor(access);
	const id = modelId(rawId);
	return sql.begin(async (tx) => {
		const [row] = await tx<{ was: boolean }[]>`
			update public.models m set enabled = ${enabled}, updated_at = now()
			from (select id, enabled as was from public.models where id = ${id} for update) old
			where m.id = old.id
			returning old.was`;
		if (!row) throw new NotFoundError(`No model ${id}`);
		const changed = row.was !== enabled;
		await recordAudit(tx, actor, enabled ? 'model.enable' : 'model.disable', { target: id, affectedRows: changed ? 1 : 0 });
		return changed;
	});
}

/** Caps how many of the model's generations run at once (the generate-image handler checks it). */
export async function setModelConcurrency(access: ConsoleAccess, sql: Sql, rawId: unknown, rawValue: unknown): Promise<number> {
	const actor = assertActor(access);
	const id = modelId(rawId);
	const value = wholeNumber('max_concurrency', 'Max concurrency', rawValue, CONCURRENCY_MIN, CONCURRENCY_MAX);
	return sql.begin(async (tx) => {
		const [row] = await tx<{ was: number }[]>`
			update public.models m set max_concurrency = ${value}, updated_at = now()
			from (select id, max_concurrency as was from public.models where id = ${id} for update) old
			where m.id = old.id
			returning old.was`;
		if (!row) throw new NotFoundError(`No model ${id}`);
		await recordAudit(tx, actor, 'model.concurrency', {
			target: id,
			details: { from: row.was, to: value },
			affectedRows: row.was === value ? 0 : 1
		});
		return value;
	});
}

/** Above any published per-second price; the column holds 6 decimals. */
export const PRICE_MAX = 100;

/** The model's price per second of model time (what cost_usd is computed from); blank: unknown. */
export async function setModelPrice(access: ConsoleAccess, sql: Sql, rawId: unknown, rawPrice: unknown): Promise<number | null> {
	const actor = assertActor(access);
	const id = modelId(rawId);
	const price = moneyField('cost_per_second', 'The price per second', rawPrice, PRICE_MAX, 6);
	return sql.begin(async (tx) => {
		const [row] = await tx<{ was: string | null }[]>`
			update public.models m set cost_per_second = ${price}, updated_at = now()
			from (select id, cost_per_second as was from public.models where id = ${id} for update) old
			where m.id = old.id
			returning old.was`;
		if (!row) throw new NotFoundError(`No model ${id}`);
		const was = row.was === null ? null : Number(row.was);
		await recordAudit(tx, actor, 'model.price', { target: id, details: { from: was, to: price }, affectedRows: was === price ? 0 : 1 });
		return price;
	});
}
