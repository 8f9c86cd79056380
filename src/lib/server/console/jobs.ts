// The console's jobs: the filtered list, one job, and the actions on jobs. Filters arrive as URL
// query or form fields; sort keys and directions pass through allowlists, values only as parameters.
import { assertActor, assertReader, type ConsoleAccess } from './access';
import type postgres from 'postgres';
import type { Queryable, Sql } from '../db/client';
import { NotFoundError, ValidationError } from '../errors';
import { cancelJob, JOB_STATUSES, retryJob, type Job, type JobStatus } from '../queue';
import { recordAudit } from './audit';

export const PAGE_SIZE = 50;
export const SORT_KEYS = ['created_at', 'scheduled_at', 'priority', 'attempts'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type BulkOp = 'retry' | 'cancel';
/** The statuses each action can change; anything else is left alone. */
export const ELIGIBLE: Record<BulkOp, JobStatus[]> = { retry: ['failed', 'cancelled'], cancel: ['pending', 'processing'] };
const BATCH = 1000;

/** Fields as entered (trimmed and validated), so they round-trip into links and hidden inputs. */
export interface JobFilter {
	status: JobStatus | null;
	type: string | null;
	user: string | null;
	model: string | null;
	from: string | null;
	to: string | null;
	q: string | null;
}
export const FILTER_FIELDS = ['status', 'type', 'user', 'model', 'from', 'to', 'q'] as const;
export interface JobSort {
	key: SortKey;
	dir: 'asc' | 'desc';
}
/** A page boundary: the (sort value, id) of the row to continue after, and which way. */
type Cursor = { back: boolean; value: string; id: string };
type Fields = { get(name: string): unknown };

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_RE = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

function text(fields: Fields, name: string, max = 200): string | null {
	const raw = fields.get(name);
	if (raw === null || raw === undefined) return null;
	if (typeof raw !== 'string') throw new ValidationError(name, `${name} must be text`);
	const value = raw.trim();
	if (value.length > max) throw new ValidationError(name, `${name} is longer than ${max} characters`);
	return value || null;
}

export function parseUuid(raw: unknown, field = 'id'): string {
	if (typeof raw !== 'string' || !UUID_RE.test(raw.trim())) throw new ValidationError(field, `"${String(raw ?? '')}" is not a job id`);
	return raw.trim().toLowerCase();
}

/** A date, or a date and time; without an offset it is UTC. `end`: the first instant after it (its precision). */
function parseDate(value: string, field: string, end = false): Date {
	const m = DATE_RE.exec(value);
	const at = m ? new Date(`${m[1]}T${m[2] ?? '00:00'}${m[3] ?? ''}${m[4] ?? 'Z'}`) : null;
	// Date rolls 2025-02-31 over into March; a day the month lacks is refused instead.
	const day = m ? new Date(`${m[1]}T00:00Z`) : null;
	if (!m || !at || Number.isNaN(at.getTime()) || day!.toISOString().slice(0, 10) !== m[1]) throw new ValidationError(field, `"${value}" is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)`);
	// Years 1 to 9999 only: Postgres has no year 0, and an end past 9999 would not round-trip as text.
	const step = !end ? 0 : !m[2] ? 86_400_000 : !m[3] ? 60_000 : m[3].includes('.') ? 1 : 1000;
	const result = new Date(at.getTime() + step);
	if (at.getUTCFullYear() < 1 || result.getUTCFullYear() > 9999) throw new ValidationError(field, `"${value}" is outside the years 1 to 9999`);
	return result;
}

export function parseJobFilter(fields: Fields): JobFilter {
	const status = text(fields, 'status');
	if (status && !(JOB_STATUSES as readonly string[]).includes(status)) {
		throw new ValidationError('status', `Unknown status "${status}"; choose one of ${JOB_STATUSES.join(', ')}`);
	}
	const user = text(fields, 'user', 320);
	if (user && !UUID_RE.test(user) && !/^[^@\s]+@[^@\s]+$/.test(user)) {
		throw new ValidationError('user', `"${user}" is neither an email address nor a user id`);
	}
	const filter: JobFilter = {
		status: status as JobStatus | null,
		type: text(fields, 'type', 128),
		user,
		model: text(fields, 'model'),
		from: text(fields, 'from', 40),
		to: text(fields, 'to', 40),
		q: text(fields, 'q')
	};
	const from = filter.from ? parseDate(filter.from, 'from') : null;
	const to = filter.to ? parseDate(filter.to, 'to', true) : null;
	if (from && to && from >= to) throw new ValidationError('to', 'The end of the time range is before its start');
	return filter;
}

/** Unknown keys or directions fall back to newest first: they never reach the SQL text. */
export function parseJobSort(fields: Fields): JobSort {
	const key = fields.get('sort');
	const dir = fields.get('dir');
	return {
		key: (SORT_KEYS as readonly unknown[]).includes(key) ? (key as SortKey) : 'created_at',
		dir: dir === 'asc' ? 'asc' : 'desc'
	};
}

const isTimeKey = (key: SortKey) => key === 'created_at' || key === 'scheduled_at';

export function encodeCursor(back: boolean, value: string, id: string): string {
	return Buffer.from(JSON.stringify([back ? 'p' : 'n', value, id])).toString('base64url');
}

export function parseCursor(raw: unknown, sort: JobSort): Cursor | null {
	if (raw === null || raw === undefined || raw === '') return null;
	try {
		const [dir, value, id] = JSON.parse(Buffer.from(String(raw), 'base64url').toString('utf8'));
		const valueOk = typeof value === 'string' && (isTimeKey(sort.key) ? !!parseDate(value, 'cursor') : /^-?\d{1,6}$/.test(value));
		if ((dir === 'n' || dir === 'p') && valueOk && typeof id === 'string' && UUID_RE.test(id)) return { back: dir === 'p', value, id };
	} catch {
		// fall through: a malformed cursor is reported like any other bad field
	}
	throw new ValidationError('cursor', 'This page link is not valid for the current sort; start from the first page');
}

export function filterQuery(filter: JobFilter, sort?: JobSort): URLSearchParams {
	const query = new URLSearchParams();
	for (const field of FILTER_FIELDS) if (filter[field]) query.set(field, filter[field]!);
	if (sort && (sort.key !== 'created_at' || sort.dir !== 'desc')) {
		query.set('sort', sort.key);
		query.set('dir', sort.dir);
	}
	return query;
}

/** The filter as SQL conditions on job_queue j; every value is a bound parameter. */
function whereFilter(sql: Queryable, filter: JobFilter, extra: postgres.Fragment[] = []) {
	const conditions = [...extra];
	if (filter.status) conditions.push(sql`j.status = ${filter.status}`);
	if (filter.type) conditions.push(sql`j.job_type = ${filter.type}`);
	if (filter.model) conditions.push(sql`j.payload ->> 'model_id' = ${filter.model}`);
	if (filter.user) {
		conditions.push(
			UUID_RE.test(filter.user)
				? sql`j.created_by = ${filter.user.toLowerCase()}::uuid`
				: sql`j.created_by = (select u.id from auth.users u where lower(u.email) = lower(${filter.user}) limit 1)`
		);
	}
	if (filter.from) conditions.push(sql`j.created_at >= ${parseDate(filter.from, 'from')}`);
	if (filter.to) conditions.push(sql`j.created_at < ${parseDate(filter.to, 'to', true)}`);
	if (filter.q) {
		const pattern = `%${filter.q.replace(/[\\%_]/g, '\\$&')}%`;
		conditions.push(sql`(j.error_message ilike ${pattern} escape '\\' or j.payload::text ilike ${pattern} escape '\\')`);
	}
	return conditions.length ? conditions.reduce((all, next) => sql`${all} and ${next}`) : sql`true`;
}

export interface JobListRow {
	id: string;
	job_type: string;
	status: JobStatus;
	attempts: number;
	max_attempts: number;
	priority: number;
	model_id: string | null;
	error_message: string | null;
	user_email: string | null;
	created_at: Date;
	scheduled_at: Date;
	started_at: Date | null;
	completed_at: Date | null;
	sort_value: string;
}

export interface JobPage {
	jobs: JobListRow[];
	next: string | null;
	prev: string | null;
}

/** One page by keyset on (sort key, id): an index range scan however deep the page. */
export async function listJobs(access: ConsoleAccess, sql: Queryable, filter: JobFilter, sort: JobSort, cursor: Cursor | null): Promise<JobPage> {
	assertReader(access);
	const column = sql`j.${sql(sort.key)}`;
	const back = cursor?.back ?? false;
	const descending = (sort.dir === 'desc') !== back;
	const keyset = cursor
		? sql`(${column}, j.id) ${descending ? sql`<` : sql`>`} (${cursor.value}::text::${isTimeKey(sort.key) ? sql`timestamptz` : sql`integer`}, ${cursor.id}::uuid)`
		: null;
	const order = descending ? sql`${column} desc, j.id desc` : sql`${column} asc, j.id asc`;
	const sortValue = isTimeKey(sort.key) ? sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : sql`${column}::text`;
	const rows = await sql<JobListRow[]>`
		select j.*, u.email as user_email
		from (
			select j.id, j.job_type, j.status, j.attempts, j.max_attempts, j.priority, j.payload ->> 'model_id' as model_id,
			       left(j.error_message, 300) as error_message, j.created_by, j.created_at, j.scheduled_at, j.started_at,
			       j.completed_at, ${sortValue} as sort_value
			from public.job_queue j
			where ${whereFilter(sql, filter, keyset ? [keyset] : [])}
			order by ${order}
			limit ${PAGE_SIZE + 1}
		) j
		left join auth.users u on u.id = j.created_by
		order by ${order}`;
	const more = rows.length > PAGE_SIZE;
	const jobs = rows.slice(0, PAGE_SIZE);
	if (back) jobs.reverse();
	const first = jobs[0];
	const last = jobs.at(-1);
	const canForward = back ? cursor !== null : more;
	const canBack = back ? more : cursor !== null;
	return {
		jobs,
		next: canForward && last ? encodeCursor(false, last.sort_value, last.id) : null,
		prev: canBack && first ? encodeCursor(true, first.sort_value, first.id) : null
	};
}

export interface JobGeneration {
	id: string;
	prompt: string;
	status: string;
	progress: number;
	model_id: string;
	user_id: string;
	user_email: string | null;
	created_at: Date;
	error_message: string | null;
}

export async function getJob(access: ConsoleAccess, sql: Queryable, rawId: string): Promise<{ job: Job & { user_email: string | null }; generation: JobGeneration | null }> {
	assertReader(access);
	const id = parseUuid(rawId);
	const [job] = await sql<(Job & { user_email: string | null })[]>`
		select j.*, u.email as user_email from public.job_queue j left join auth.users u on u.id = j.created_by where j.id = ${id}`;
	if (!job) throw new NotFoundError(`No job ${id}`);
	const generationId = job.payload?.generation_id;
	const [generation] =
		typeof generationId === 'string' && UUID_RE.test(generationId)
			? await sql<JobGeneration[]>`
				select g.id, g.prompt, g.status, g.progress, g.model_id, g.user_id, u.email as user_email, g.created_at, g.error_message
				from public.image_generations g left join auth.users u on u.id = g.user_id where g.id = ${generationId}`
			: [];
	return { job, generation: generation ?? null };
}

/** Retry (failed/cancelled) or cancel (pending/processing) one job, audited in the same transaction. */
export async function changeJob(access: ConsoleAccess, sql: Sql, op: BulkOp, rawId: unknown): Promise<void> {
	const actor = assertActor(access);
	const id = parseUuid(rawId);
	await sql.begin(async (tx) => {
		const [job] = await tx<{ status: JobStatus }[]>`select status from public.job_queue where id = ${id} for update`;
		if (!job) throw new NotFoundError(`No job ${id}`);
		if (!ELIGIBLE[op].includes(job.status)) {
			throw new ValidationError('id', `Only ${ELIGIBLE[op].join(' or ')} jobs can be ${op === 'retry' ? 'retried' : 'cancelled'}; this one is ${job.status}`);
		}
		const changed = op === 'retry' ? await retryJob(tx, id) : await cancelJob(tx, id, `Cancelled by an administrator (${actor.email})`);
		await recordAudit(tx, actor, `job.${op}`, { target: id, details: { from_status: job.status }, affectedRows: changed ? 1 : 0 });
	});
}

/** How many jobs a bulk action would change now, and the moment counted (it bounds the action). */
export async function countBulk(access: ConsoleAccess, sql: Queryable, filter: JobFilter, op: BulkOp): Promise<{ count: number; asOf: string }> {
	assertReader(access);
	const [row] = await sql<{ count: number; as_of: string }[]>`
		select count(*)::int as count, to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as as_of
		from public.job_queue j where ${whereFilter(sql, filter, [sql`j.status = any(${ELIGIBLE[op]}::text[])`])}`;
	return { count: row!.count, asOf: row!.as_of };
}

/**
 * Every job matching the filter that was created by asOf (jobs arriving after the confirmation are
 * not touched), in batches of BATCH ids so no statement holds a million rows; audited once.
 */
export async function runBulk(access: ConsoleAccess, sql: Sql, filter: JobFilter, op: BulkOp, confirmed: { count: number; asOf: string }): Promise<number> {
	const actor = assertActor(access);
	parseDate(confirmed.asOf, 'as_of'); // validated here, compared in SQL at full (microsecond) precision
	let after: string | null = null;
	let total = 0;
	for (;;) {
		const extra = [sql`j.status = any(${ELIGIBLE[op]}::text[])`, sql`j.created_at <= ${confirmed.asOf}::text::timestamptz`];
		if (after) extra.push(sql`j.id > ${after}::uuid`);
		const batch = await sql<{ id: string }[]>`
			select j.id from public.job_queue j where ${whereFilter(sql, filter, extra)} order by j.id limit ${BATCH}`;
		if (batch.length === 0) break;
		const ids = batch.map((row) => row.id);
		const [row] =
			op === 'retry'
				? await sql<{ n: number }[]>`select count(*)::int as n from public.retry_jobs(${ids}::uuid[])`
				: await sql<{ n: number }[]>`select count(*)::int as n from public.cancel_jobs(${ids}::uuid[], ${`Cancelled by an administrator (${actor.email})`})`;
		total += row!.n;
		after = ids.at(-1)!;
		if (batch.length < BATCH) break;
	}
	await recordAudit(sql, actor, `jobs.bulk_${op}`, {
		target: filterQuery(filter).toString() || 'every job',
		details: { filter: Object.fromEntries(filterQuery(filter)), confirmed_count: confirmed.count, as_of: confirmed.asOf },
		affectedRows: total
	});
	return total;
}
