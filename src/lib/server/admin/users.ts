// The console's users page: each user's generations against their limits (get_user_limits, the
// same function that admits a generation), and per-user overrides of the default limits.
import type { AppUser } from '../auth/user';
import type { Queryable, Sql } from '../db/client';
import { NotFoundError } from '../errors';
import { isUuid } from '../generations/read';
import type { UserLimits } from '../generations/types';
import { recordAudit } from './audit';
import { wholeNumber } from './worker';

/** The defaults get_user_limits applies where a user has no override (0007). */
export const DEFAULT_LIMITS = { hourly: 20, daily: 100 } as const;
/** Far above any sensible limit, and inside the integer column. */
export const LIMIT_MAX = 1_000_000;

export interface UserUsage {
	id: string;
	email: string | null;
	created_at: Date;
	limits: UserLimits;
	/** The override row's values; null means the default applies. */
	hourly_override: number | null;
	daily_override: number | null;
	total: number;
}

export interface UserPage {
	users: UserUsage[];
	/** Pass as `before` for the next (older) page; null on the last page. */
	nextCursor: string | null;
}

/** Matches the text anywhere in the address: LIKE's wildcards in it are taken literally. */
function emailPattern(query: string): string {
	return `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Newest accounts first, keyset paged by (created_at, id), optionally searched by email. */
export async function listUsers(
	sql: Queryable,
	options: { query?: string | null; before?: string | null; limit?: number } = {}
): Promise<UserPage> {
	const limit = Math.min(Math.max(options.limit ?? 25, 1), 100);
	const query = options.query?.trim().slice(0, 200) || null;
	const before = options.before && isUuid(options.before) ? options.before : null;
	const rows = await sql<(Omit<UserUsage, 'total'> & { total: string })[]>`
		select u.id, u.email, u.created_at, public.get_user_limits(u.id) as limits,
		       l.hourly_limit as hourly_override, l.daily_limit as daily_override,
		       (select count(*) from public.image_generations g where g.user_id = u.id) as total
		from auth.users u
		left join public.user_limits l on l.user_id = u.id
		where true
			${query ? sql`and u.email ilike ${emailPattern(query)}` : sql``}
			${before ? sql`and (u.created_at, u.id) < (select c.created_at, c.id from auth.users c where c.id = ${before})` : sql``}
		order by u.created_at desc, u.id desc
		limit ${limit + 1}`;
	const users = rows.slice(0, limit).map((row) => ({ ...row, total: Number(row.total) }));
	return { users, nextCursor: rows.length > limit ? users.at(-1)!.id : null };
}

function limitField(field: string, label: string, raw: unknown): number | null {
	if (raw === null || raw === undefined || (typeof raw === 'string' && raw.trim() === '')) return null;
	return wholeNumber(field, label, raw, 0, LIMIT_MAX);
}

async function lockUser(tx: Queryable, rawId: unknown) {
	const id = typeof rawId === 'string' ? rawId.trim() : '';
	if (!isUuid(id)) throw new NotFoundError('No such user');
	const [user] = await tx<{ id: string; email: string | null; hourly_limit: number | null; daily_limit: number | null }[]>`
		select u.id, u.email, l.hourly_limit, l.daily_limit
		from auth.users u left join public.user_limits l on l.user_id = u.id
		where u.id = ${id}`;
	if (!user) throw new NotFoundError('No such user');
	return user;
}

/**
 * Sets a user's overrides. A blank field means "the default"; both blank removes the override.
 * Returns the limits now in force, as get_user_limits computes them.
 */
export async function setUserLimits(
	sql: Sql,
	actor: AppUser,
	rawId: unknown,
	input: { hourly: unknown; daily: unknown }
): Promise<UserLimits> {
	const hourly = limitField('hourly_limit', 'The hourly limit', input.hourly);
	const daily = limitField('daily_limit', 'The daily limit', input.daily);
	return sql.begin(async (tx) => {
		const user = await lockUser(tx, rawId);
		if (hourly === null && daily === null) {
			await tx`delete from public.user_limits where user_id = ${user.id}`;
		} else {
			await tx`
				insert into public.user_limits (user_id, hourly_limit, daily_limit, updated_at, updated_by)
				values (${user.id}, ${hourly}, ${daily}, now(), ${actor.id})
				on conflict (user_id) do update
				set hourly_limit = excluded.hourly_limit, daily_limit = excluded.daily_limit,
				    updated_at = now(), updated_by = excluded.updated_by`;
		}
		const changed = user.hourly_limit !== hourly || user.daily_limit !== daily;
		await recordAudit(tx, actor, hourly === null && daily === null ? 'user.limits.clear' : 'user.limits.set', {
			target: user.email ?? user.id,
			details: {
				user_id: user.id,
				hourly_limit: hourly,
				daily_limit: daily,
				previous: { hourly_limit: user.hourly_limit, daily_limit: user.daily_limit }
			},
			affectedRows: changed ? 1 : 0
		});
		const [row] = await tx<{ limits: UserLimits }[]>`select public.get_user_limits(${user.id}) as limits`;
		return row!.limits;
	});
}

/** Back to the defaults (20 an hour, 100 a day). */
export function clearUserLimits(sql: Sql, actor: AppUser, rawId: unknown): Promise<UserLimits> {
	return setUserLimits(sql, actor, rawId, { hourly: null, daily: null });
}
