// The console's actions on jobs: one job, the ticked rows of the list, and every job matching the
// filter. Each first counts what it would change (and, for a retry, what it leaves alone: see
// retry-kinds.ts), then changes exactly that, audited. Retries never bring back an owner's
// cancellation unless the operator asks, and never a job whose picture was deleted or is made.
import { assertActor, assertReader, type ConsoleAccess } from './access';
import type postgres from 'postgres';
import type { Queryable, Sql } from '../db/client';
import { NotFoundError, ValidationError } from '../errors';
import { cancelJob, retryJob, type JobStatus } from '../queue';
import { recordAudit } from './audit';
import { filterQuery, parseDate, parseUuid, resolveFilter, whereFilter, type JobFilter } from './job-filter';
import { countsOf, joinGeneration, retriedCount, retriedKinds, retryKindOf, type RetryCounts, type RetryKind } from './retry-kinds';
import { cancelJobs, changeJobBatch, retryJobs } from '../queue';

export type BulkOp = 'retry' | 'cancel';
/** The statuses each action can change; anything else is left alone. */
export const ELIGIBLE: Record<BulkOp, JobStatus[]> = { retry: ['failed', 'cancelled'], cancel: ['pending', 'processing'] };
const BATCH = 1000;
/** Ticked rows acted on at once: ten pages of the list. More is what "all matching" is for. */
export const MAX_SELECTION = 500;
const AS_OF_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

export interface RetryOptions {
	/** "Also retry jobs their owners cancelled": off unless the operator ticks it. */
	includeOwnerCancelled: boolean;
}

const nowText = (sql: Queryable) => sql`to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const cancelReason = (email: string) => `Cancelled by an administrator (${email})`;

/** The kind-of-retry counts of the failed/cancelled jobs matching `where` (on job_queue j), and the moment counted. */
async function retryCounts(sql: Queryable, where: postgres.Fragment): Promise<{ kinds: RetryCounts; asOf: string }> {
	const [row] = await sql<{ kinds: { kind: string; n: number }[]; as_of: string }[]>`
		select ${nowText(sql)} as as_of, coalesce((
			select json_agg(json_build_object('kind', kind, 'n', n)) from (
				select ${retryKindOf(sql)} as kind, count(*)::int as n
				from public.job_queue j ${joinGeneration(sql)}
				where ${where} and j.status = any (${ELIGIBLE.retry}::text[])
				group by 1) k), '[]') as kinds`;
	return { kinds: countsOf(row!.kinds), asOf: row!.as_of };
}

const kindIn = (sql: Queryable, options: RetryOptions) => sql`${retryKindOf(sql)} = any (${retriedKinds(options.includeOwnerCancelled)}::text[])`;

/** Retry (failed/cancelled) or cancel (pending/processing) one job, audited in the same transaction. */
export async function changeJob(access: ConsoleAccess, sql: Sql, op: BulkOp, rawId: unknown, options: RetryOptions = { includeOwnerCancelled: false }): Promise<void> {
	const actor = assertActor(access);
	const id = parseUuid(rawId);
	await sql.begin(async (tx) => {
		const [job] = await tx<{ status: JobStatus; kind: RetryKind }[]>`
			select j.status, ${retryKindOf(tx)} as kind from public.job_queue j ${joinGeneration(tx)} where j.id = ${id} for update of j`;
		if (!job) throw new NotFoundError(`No job ${id}`);
		if (!ELIGIBLE[op].includes(job.status)) {
			throw new ValidationError('id', `Only ${ELIGIBLE[op].join(' or ')} jobs can be ${op === 'retry' ? 'retried' : 'cancelled'}; this one is ${job.status}`);
		}
		if (op === 'retry' && job.kind === 'deleted') throw new ValidationError('id', 'Its generation was deleted by its owner: there is nothing to make, so it is not retried');
		if (op === 'retry' && job.kind === 'made') throw new ValidationError('id', 'Its generation already has its picture: there is nothing to make again');
		if (op === 'retry' && job.kind === 'owner_cancelled' && !options.includeOwnerCancelled) {
			throw new ValidationError('include_owner_cancelled', 'Its owner cancelled this generation: tick "retry it even though its owner cancelled it" to run it again');
		}
		const changed = op === 'retry' ? await retryJob(tx, id) : await cancelJob(tx, id, cancelReason(actor.email));
		await recordAudit(tx, actor, `job.${op}`, {
			target: id,
			details: { from_status: job.status, ...(op === 'retry' ? { kind: job.kind } : {}) },
			affectedRows: changed ? 1 : 0
		});
	});
}

export interface BulkCount {
	/** How many the action would change now. */
	count: number;
	/** The database's time of the count: the action covers only jobs as they were by then. */
	asOf: string;
	/** For a retry: the matching failed and cancelled jobs by kind (what is retried, what is left). */
	kinds: RetryCounts | null;
	includeOwnerCancelled: boolean;
}

/** How many jobs a bulk action would change now, and the moment counted (it bounds the action). */
export async function countBulk(access: ConsoleAccess, sql: Queryable, filter: JobFilter, op: BulkOp, options: RetryOptions = { includeOwnerCancelled: false }): Promise<BulkCount> {
	assertReader(access);
	const resolved = await resolveFilter(sql, filter);
	if (op === 'retry') {
		const { kinds, asOf } = await retryCounts(sql, whereFilter(sql, resolved));
		return { count: retriedCount(kinds, options.includeOwnerCancelled), asOf, kinds, includeOwnerCancelled: options.includeOwnerCancelled };
	}
	const [row] = await sql<{ count: number; as_of: string }[]>`
		select count(*)::int as count, ${nowText(sql)} as as_of
		from public.job_queue j where ${whereFilter(sql, resolved, [sql`j.status = any(${ELIGIBLE[op]}::text[])`])}`;
	return { count: row!.count, asOf: row!.as_of, kinds: null, includeOwnerCancelled: false };
}

/**
 * Every job matching the filter as it stood at asOf, in batches of BATCH ids so no statement holds a
 * million rows; audited once. A cancel covers jobs created by asOf; a retry, jobs failed or cancelled
 * by asOf (and not changed since), of the kinds a retry may touch, each batch picked and retried in
 * one statement.
 */
export async function runBulk(access: ConsoleAccess, sql: Sql, filter: JobFilter, op: BulkOp, confirmed: { count: number; asOf: string }, options: RetryOptions = { includeOwnerCancelled: false }): Promise<number> {
	const actor = assertActor(access);
	if (!AS_OF_RE.test(confirmed.asOf)) throw new ValidationError('as_of', 'The confirmation is not valid; ask again');
	parseDate(confirmed.asOf, 'as_of'); // validated here, compared in SQL at full (microsecond) precision
	const resolved = await resolveFilter(sql, filter);
	const asOf = sql`${confirmed.asOf}::text::timestamptz`;
	let after: string | null = null;
	let total = 0;
	for (;;) {
		const extra =
			op === 'retry'
				? [sql`j.status = any(${ELIGIBLE.retry}::text[])`, sql`j.updated_at <= ${asOf}`, kindIn(sql, options)]
				: [sql`j.status = any(${ELIGIBLE.cancel}::text[])`, sql`j.created_at <= ${asOf}`];
		if (after) extra.push(sql`j.id > ${after}::uuid`);
		const batch = sql`select j.id from public.job_queue j ${op === 'retry' ? joinGeneration(sql) : sql``}
			where ${whereFilter(sql, resolved, extra)} order by j.id limit ${BATCH}`;
		const row = await changeJobBatch(sql, batch, op === 'retry' ? { op } : { op, reason: cancelReason(actor.email) });
		total += row.changed;
		if (row.picked < BATCH || !row.last) break;
		after = row.last;
	}
	await recordAudit(sql, actor, `jobs.bulk_${op}`, {
		target: filterQuery(filter).toString() || 'every job',
		details: {
			filter: Object.fromEntries(filterQuery(filter)),
			confirmed_count: confirmed.count,
			as_of: confirmed.asOf,
			...(op === 'retry' ? { include_owner_cancelled: options.includeOwnerCancelled } : {})
		},
		affectedRows: total
	});
	return total;
}

/** The ids a form ticked (checkboxes named id): 1 to MAX_SELECTION job ids, each once. */
export function parseSelection(values: unknown[]): string[] {
	if (values.length === 0) throw new ValidationError('id', 'Tick the jobs to act on first');
	if (values.length > MAX_SELECTION) throw new ValidationError('id', `Select at most ${MAX_SELECTION} jobs at once; for more, act on all that match the filter`);
	return [...new Set(values.map((value) => parseUuid(value)))];
}

export interface SelectionCount {
	selected: number;
	/** How many the action would change now. */
	count: number;
	/** Selected jobs in a status the action cannot change (or gone): left alone. */
	ineligible: number;
	kinds: RetryCounts | null;
	includeOwnerCancelled: boolean;
}

/** What acting on the ticked jobs would do now. */
export async function countSelection(access: ConsoleAccess, sql: Queryable, op: BulkOp, ids: string[], options: RetryOptions = { includeOwnerCancelled: false }): Promise<SelectionCount> {
	assertReader(access);
	const selected = sql`j.id = any (${ids}::uuid[])`;
	const [row] = await sql<{ eligible: number }[]>`
		select count(*)::int as eligible from public.job_queue j where ${selected} and j.status = any (${ELIGIBLE[op]}::text[])`;
	const kinds = op === 'retry' ? (await retryCounts(sql, selected)).kinds : null;
	const count = kinds ? retriedCount(kinds, options.includeOwnerCancelled) : row!.eligible;
	return { selected: ids.length, count, ineligible: ids.length - row!.eligible, kinds, includeOwnerCancelled: op === 'retry' && options.includeOwnerCancelled };
}

/** Retries or cancels the ticked jobs that still can be, in one statement; audited with their ids. */
export async function runSelection(access: ConsoleAccess, sql: Sql, op: BulkOp, ids: string[], options: RetryOptions = { includeOwnerCancelled: false }): Promise<{ affected: number; skipped: number }> {
	const actor = assertActor(access);
	return sql.begin(async (tx) => {
		const pick = tx`select j.id from public.job_queue j ${op === 'retry' ? joinGeneration(tx) : tx``}
			where j.id = any (${ids}::uuid[]) and j.status = any (${ELIGIBLE[op]}::text[]) ${op === 'retry' ? tx`and ${kindIn(tx, options)}` : tx``}`;
		const affected = op === 'retry' ? await retryJobs(tx, pick) : await cancelJobs(tx, pick, cancelReason(actor.email));
		await recordAudit(tx, actor, `jobs.selection_${op}`, {
			target: `${ids.length} selected job${ids.length === 1 ? '' : 's'}`,
			details: { ids, ...(op === 'retry' ? { include_owner_cancelled: options.includeOwnerCancelled } : {}) },
			affectedRows: affected
		});
		return { affected, skipped: ids.length - affected };
	});
}

/** The jobs page's first step, handed back to confirm: the count, and what to post again with it. */
export interface BulkConfirmation extends BulkCount, Partial<Pick<SelectionCount, 'selected' | 'ineligible'>> {
	scope: 'filter' | 'selection';
	op: BulkOp;
	/** The filter as a query string (a selection has none). */
	query: string;
	/** The ticked jobs (a filter has none). */
	ids: string[];
}

/** The jobs page's second step, done: how many changed, and how many ticked ones were left alone. */
export interface BulkDone {
	scope: 'filter' | 'selection';
	op: BulkOp;
	affected: number;
	skipped: number;
	query: string;
}
