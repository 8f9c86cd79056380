// The failures page: the last day's failures grouped by message, as the seed's "group failures by
// error type" and "identify failure patterns" queries, with example jobs, and retrying a group.
import { assertActor, assertReader, type ConsoleAccess } from './access';
import type { Queryable, Sql } from '../db/client';
import { ValidationError } from '../errors';
import { recordAudit } from './audit';
import { joinGeneration, retryKindOf } from './retry-kinds';
import { retryJobs } from '../queue';

/** The page shows the largest groups; messages that embed ids can make thousands of tiny ones. */
export const GROUP_LIMIT = 100;
const EXAMPLES_PER_GROUP = 5;

export interface FailureExample {
	id: string;
	job_type: string;
	model_id: string | null;
	user_email: string | null;
	attempts: number;
	max_attempts: number;
	created_at: Date;
	completed_at: Date;
}

export interface FailureGroup {
	/** The error message; '' stands for failures without one. */
	message: string;
	count: number;
	affected_models: number;
	models: string[];
	affected_users: number;
	first_seen: Date;
	last_seen: Date;
	examples: FailureExample[];
}

export async function listFailureGroups(access: ConsoleAccess, sql: Queryable): Promise<{ groups: FailureGroup[]; total: number }> {
	assertReader(access);
	// The window sums every group before the limit: the page's total without a second scan.
	const groups = await sql<(Omit<FailureGroup, 'examples'> & { total: number })[]>`
		select coalesce(error_message, '') as message,
		       count(*)::int as count,
		       count(distinct payload ->> 'model_id')::int as affected_models,
		       coalesce(array_agg(distinct payload ->> 'model_id') filter (where payload ->> 'model_id' is not null), '{}') as models,
		       count(distinct created_by)::int as affected_users,
		       min(completed_at) as first_seen,
		       max(completed_at) as last_seen,
		       (sum(count(*)) over ())::int as total
		from public.failed_jobs_recent
		group by 1
		order by count desc, last_seen desc
		limit ${GROUP_LIMIT}`;
	if (groups.length === 0) return { groups: [], total: 0 };
	// Each group's latest few, found by (message hash, completed_at): cheap however large the group.
	const examples = await sql<(FailureExample & { message: string })[]>`
		select g.message, f.*, u.email as user_email
		from unnest(${groups.map((g) => g.message)}::text[]) as g(message)
		cross join lateral (
			select id, job_type, payload ->> 'model_id' as model_id, attempts, max_attempts, created_by, created_at, completed_at
			from public.failed_jobs_recent
			where md5(coalesce(error_message, '')) = md5(g.message) and coalesce(error_message, '') = g.message
			order by completed_at desc
			limit ${EXAMPLES_PER_GROUP}
		) f
		left join auth.users u on u.id = f.created_by
		order by f.completed_at desc`;
	return {
		total: groups[0]!.total,
		groups: groups.map(({ total: _total, ...group }) => ({ ...group, examples: examples.filter((e) => e.message === group.message) }))
	};
}

/** The group a form names: its message ('' for failures without one). */
export function parseGroupMessage(fields: { get(name: string): unknown }): string {
	const message = fields.get('message');
	if (typeof message !== 'string') throw new ValidationError('message', 'Choose a failure group to retry');
	if (message.length > 20_000) throw new ValidationError('message', 'That error message is too long to be a group');
	return message;
}

/**
 * How many of the group's jobs a retry would put back now, how many it leaves alone because their
 * generation was deleted or already has its picture (retry-kinds.ts), and the moment counted.
 */
export async function countFailureGroup(
	access: ConsoleAccess,
	sql: Queryable,
	message: string
): Promise<{ count: number; asOf: string; deleted: number; made: number }> {
	assertReader(access);
	const [row] = await sql<{ count: number; deleted: number; made: number; as_of: string }[]>`
		select count(*) filter (where k.kind = 'failed')::int as count,
		       count(*) filter (where k.kind = 'deleted')::int as deleted,
		       count(*) filter (where k.kind = 'made')::int as made,
		       to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as as_of
		from (select ${retryKindOf(sql)} as kind
		      from public.failed_jobs_recent j ${joinGeneration(sql)}
		      where coalesce(j.error_message, '') = ${message}) k`;
	return { count: row!.count, deleted: row!.deleted, made: row!.made, asOf: row!.as_of };
}

/** Retries the group's jobs that had failed by the confirmation (asOf), in one statement; audited. */
export async function retryFailureGroup(access: ConsoleAccess, sql: Sql, message: string, confirmed: { count: number; asOf: string }): Promise<number> {
	const actor = assertActor(access);
	if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/.test(confirmed.asOf)) throw new ValidationError('as_of', 'The confirmation is not valid; ask again');
	return sql.begin(async (tx) => {
		// Failed jobs only, so never an owner's cancellation; a deleted or finished generation's job is left alone.
		const retried = await retryJobs(
			tx,
			tx`select j.id from public.failed_jobs_recent j ${joinGeneration(tx)}
				where coalesce(j.error_message, '') = ${message} and j.completed_at <= ${confirmed.asOf}::text::timestamptz
				  and ${retryKindOf(tx)} = 'failed'`
		);
		await recordAudit(tx, actor, 'failures.retry_group', {
			target: message.slice(0, 200) || '(no message)',
			details: { message, confirmed_count: confirmed.count, as_of: confirmed.asOf },
			affectedRows: retried
		});
		return retried;
	});
}
