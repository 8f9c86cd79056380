// The console's users page: each user's generations against their limits (get_user_limits, the
// same function that admits a generation), and per-user overrides of the default limits.
import { assertActor, assertReader, type ConsoleAccess } from './access';
import type { Queryable, Sql } from '../db/client';
import { ACCOUNT_ROLES, type AccountRole } from '../auth/user';
import type { SessionStore } from '../auth/session';
import { NotFoundError, ValidationError } from '../errors';
import { isUuid } from '../../uuid';
import type { UserLimits } from '../generations/types';
import { recordAudit } from './audit';
import { moneyField } from './money';
import { wholeNumber } from './worker';

/** The budget columns' check (0027): at most a million dollars. */
export const BUDGET_MAX = 1_000_000;

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
	/** Money budgets in dollars (0027); null: no budget. */
	daily_budget_usd: number | null;
	monthly_budget_usd: number | null;
	total: number;
	/** 'admin', 'operator' or 'user' (app_metadata.roles; ADMIN_EMAILS are not shown here). */
	role: AccountRole | 'user';
	/** Live local sessions. */
	sessions: number;
}

export interface UserPage {
	users: UserUsage[];
	/** Pass as `before` for the next (older) page; null on the last page. */
	nextCursor: string | null;
	/** What applies where a user has no override: default_user_limits(), the same function admission reads. */
	defaults: { hourly: number; daily: number };
}

/** Matches the text anywhere in the address: LIKE's wildcards in it are taken literally. */
function emailPattern(query: string): string {
	return `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Newest accounts first, keyset paged by (created_at, id), optionally searched by email. */
export async function listUsers(
	access: ConsoleAccess,
	sql: Queryable,
	options: { query?: string | null; before?: string | null; limit?: number } = {}
): Promise<UserPage> {
	assertReader(access);
	const limit = Math.min(Math.max(options.limit ?? 25, 1), 100);
	const query = options.query?.trim().slice(0, 200) || null;
	const before = options.before && isUuid(options.before) ? options.before : null;
	const rows = await sql<(Omit<UserUsage, 'total' | 'sessions'> & { total: string; sessions: string })[]>`
		select u.id, u.email, u.created_at, public.get_user_limits(u.id) as limits,
		       l.hourly_limit as hourly_override, l.daily_limit as daily_override,
		       l.daily_budget_usd::float8 as daily_budget_usd, l.monthly_budget_usd::float8 as monthly_budget_usd,
		       (select count(*) from public.image_generations g where g.user_id = u.id) as total,
		       case when coalesce(u.raw_app_meta_data -> 'roles', '[]') ? 'admin' then 'admin'
		            when coalesce(u.raw_app_meta_data -> 'roles', '[]') ? 'operator' then 'operator' else 'user' end as role,
		       (select count(*) from app_private.sessions s where s.user_id = u.id and s.expires_at > now()) as sessions
		from auth.users u
		left join public.user_limits l on l.user_id = u.id
		where true
			${query ? sql`and u.email ilike ${emailPattern(query)}` : sql``}
			${before ? sql`and (u.created_at, u.id) < (select c.created_at, c.id from auth.users c where c.id = ${before})` : sql``}
		order by u.created_at desc, u.id desc
		limit ${limit + 1}`;
	const users = rows.slice(0, limit).map((row) => ({ ...row, total: Number(row.total), sessions: Number(row.sessions) }));
	const [defaults] = await sql<{ hourly: number; daily: number }[]>`select hourly, daily from public.default_user_limits()`;
	return { users, nextCursor: rows.length > limit ? users.at(-1)!.id : null, defaults: { hourly: defaults!.hourly, daily: defaults!.daily } };
}

function limitField(field: string, label: string, raw: unknown): number | null {
	if (raw === null || raw === undefined || (typeof raw === 'string' && raw.trim() === '')) return null;
	return wholeNumber(field, label, raw, 0, LIMIT_MAX);
}

async function lockUser(tx: Queryable, rawId: unknown) {
	const id = typeof rawId === 'string' ? rawId.trim() : '';
	if (!isUuid(id)) throw new NotFoundError('No such user');
	const [user] = await tx<
		{ id: string; email: string | null; hourly_limit: number | null; daily_limit: number | null; daily_budget_usd: number | null; monthly_budget_usd: number | null }[]
	>`
		select u.id, u.email, l.hourly_limit, l.daily_limit, l.daily_budget_usd::float8 as daily_budget_usd, l.monthly_budget_usd::float8 as monthly_budget_usd
		from auth.users u left join public.user_limits l on l.user_id = u.id
		where u.id = ${id}`;
	if (!user) throw new NotFoundError('No such user');
	return user;
}

/**
 * Sets a user's overrides and money budgets. A blank field means "the default" (for a budget: none);
 * all blank removes the override. Budgets left out of the input (undefined) keep their values.
 * Returns the limits now in force, as get_user_limits computes them.
 */
export async function setUserLimits(
	access: ConsoleAccess,
	sql: Sql,
	rawId: unknown,
	input: { hourly: unknown; daily: unknown; dailyBudget?: unknown; monthlyBudget?: unknown }
): Promise<UserLimits> {
	const actor = assertActor(access);
	const hourly = limitField('hourly_limit', 'The hourly limit', input.hourly);
	const daily = limitField('daily_limit', 'The daily limit', input.daily);
	const budget = (field: string, label: string, raw: unknown) => (raw === undefined ? undefined : moneyField(field, label, raw, BUDGET_MAX, 2));
	const dailyBudgetIn = budget('daily_budget_usd', 'The daily budget', input.dailyBudget);
	const monthlyBudgetIn = budget('monthly_budget_usd', 'The monthly budget', input.monthlyBudget);
	return sql.begin(async (tx) => {
		const user = await lockUser(tx, rawId);
		const dailyBudget = dailyBudgetIn === undefined ? user.daily_budget_usd : dailyBudgetIn;
		const monthlyBudget = monthlyBudgetIn === undefined ? user.monthly_budget_usd : monthlyBudgetIn;
		const none = hourly === null && daily === null && dailyBudget === null && monthlyBudget === null;
		if (none) {
			await tx`delete from public.user_limits where user_id = ${user.id}`;
		} else {
			await tx`
				insert into public.user_limits (user_id, hourly_limit, daily_limit, daily_budget_usd, monthly_budget_usd, updated_at, updated_by)
				values (${user.id}, ${hourly}, ${daily}, ${dailyBudget}, ${monthlyBudget}, now(), ${actor.id})
				on conflict (user_id) do update
				set hourly_limit = excluded.hourly_limit, daily_limit = excluded.daily_limit,
				    daily_budget_usd = excluded.daily_budget_usd, monthly_budget_usd = excluded.monthly_budget_usd,
				    updated_at = now(), updated_by = excluded.updated_by`;
		}
		const changed =
			user.hourly_limit !== hourly || user.daily_limit !== daily || user.daily_budget_usd !== dailyBudget || user.monthly_budget_usd !== monthlyBudget;
		await recordAudit(tx, actor, none ? 'user.limits.clear' : 'user.limits.set', {
			target: user.email ?? user.id,
			details: {
				user_id: user.id,
				hourly_limit: hourly,
				daily_limit: daily,
				daily_budget_usd: dailyBudget,
				monthly_budget_usd: monthlyBudget,
				previous: {
					hourly_limit: user.hourly_limit,
					daily_limit: user.daily_limit,
					daily_budget_usd: user.daily_budget_usd,
					monthly_budget_usd: user.monthly_budget_usd
				}
			},
			affectedRows: changed ? 1 : 0
		});
		const [row] = await tx<{ limits: UserLimits }[]>`select public.get_user_limits(${user.id}) as limits`;
		return row!.limits;
	});
}

/** Back to the defaults (20 an hour, 100 a day, no budgets). */
export function clearUserLimits(access: ConsoleAccess, sql: Sql, rawId: unknown): Promise<UserLimits> {
	return setUserLimits(access, sql, rawId, { hourly: null, daily: null, dailyBudget: null, monthlyBudget: null });
}

const ROLE_CHOICES = ['user', ...ACCOUNT_ROLES] as const;

/**
 * Makes a local account a plain user, a read-only operator or an administrator; its live sessions
 * see the change on their next request. Nobody changes their own role (an administrator cannot lock
 * the console out by demoting the last one). Supabase Auth's roles live in GoTrue, not here.
 */
export async function setUserRole(access: ConsoleAccess, sql: Sql, rawId: unknown, rawRole: unknown, options: { localAccounts: boolean }): Promise<AccountRole | 'user'> {
	const actor = assertActor(access);
	if (!options.localAccounts) {
		throw new ValidationError('role', "Accounts are Supabase Auth's here: set app_metadata.roles with the service role key");
	}
	const role = (ROLE_CHOICES as readonly unknown[]).includes(rawRole) ? (rawRole as (typeof ROLE_CHOICES)[number]) : null;
	if (!role) throw new ValidationError('role', `Choose one of ${ROLE_CHOICES.join(', ')}`);
	return sql.begin(async (tx) => {
		const user = await lockUser(tx, rawId);
		if (user.id === actor.id) throw new ValidationError('role', 'You cannot change your own role; ask another administrator');
		const [before] = await tx<{ roles: string[] }[]>`
			select coalesce(raw_app_meta_data -> 'roles', '[]'::jsonb) as roles from auth.users where id = ${user.id} for update`;
		const kept = (Array.isArray(before!.roles) ? before!.roles : []).filter((r) => !(ACCOUNT_ROLES as readonly string[]).includes(r));
		const roles = role === 'user' ? kept : [...kept, role];
		await tx`update auth.users set raw_app_meta_data = jsonb_set(coalesce(raw_app_meta_data, '{}'::jsonb), '{roles}', ${tx.json(roles)}), updated_at = now()
			where id = ${user.id}`;
		await recordAudit(tx, actor, 'user.role', { target: user.email ?? user.id, details: { user_id: user.id, from: before!.roles, to: roles }, affectedRows: 1 });
		return role;
	});
}

/** Ends every session of a user at once (a lost laptop, a leaver); audited. Returns how many ended. */
export async function endUserSessions(access: ConsoleAccess, sql: Sql, sessions: SessionStore, rawId: unknown): Promise<number> {
	const actor = assertActor(access);
	const user = await lockUser(sql, rawId);
	const ended = await sessions.endAll(user.id);
	await recordAudit(sql, actor, 'user.sessions.end', { target: user.email ?? user.id, details: { user_id: user.id }, affectedRows: ended });
	return ended;
}
