// The console's jobs: the filtered list and one job with every attempt. Filters (job-filter.ts) arrive
// as URL query or form fields; sort keys and directions pass through allowlists, values only as
// parameters. The actions on jobs are in job-actions.ts.
import type postgres from 'postgres';
import { assertReader, type ConsoleAccess } from './access';
import type { Queryable } from '../db/client';
import { NotFoundError, ValidationError } from '../errors';
import type { Job, JobStatus } from '../queue';
import { ATTEMPT_LOG_LIMIT, attemptsSummary, jobAttempts, type AttemptView } from './job-attempts';
import { joinGeneration, retryKindOf, type RetryKind } from './retry-kinds';
import { FILTER_FIELDS, generationIdOf, parseDate, parseUuid, resolveFilter, whereFilter, type Fields, type JobFilter, type ResolvedFilter } from './job-filter';
import { isUuid } from '../../uuid';

export { filterQuery, parseJobFilter, parseUuid, type JobFilter } from './job-filter';

export const PAGE_SIZE = 50;
export const SORT_KEYS = ['created_at', 'scheduled_at', 'priority', 'attempts'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export interface JobSort {
	key: SortKey;
	dir: 'asc' | 'desc';
}
/** A page boundary: the (sort value, id) of the row to continue after, and which way. */
type Cursor = { back: boolean; value: string; id: string };

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
		if ((dir === 'n' || dir === 'p') && valueOk && isUuid(id)) return { back: dir === 'p', value, id };
	} catch {
		// fall through: a malformed cursor is reported like any other bad field
	}
	throw new ValidationError('cursor', 'This page link is not valid for the current sort; start from the first page');
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
	/** Tries that failed (or were reaped) and are in the job's log: a completed job with some recovered. */
	failed_attempts: number;
	generation_id: string | null;
	/** The start of its generation's prompt, when it has one. */
	prompt: string | null;
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
	const resolved = await resolveFilter(sql, filter);
	const column = sql`j.${sql(sort.key)}`;
	const back = cursor?.back ?? false;
	const descending = (sort.dir === 'desc') !== back;
	const keyset = cursor
		? sql`(${column}, j.id) ${descending ? sql`<` : sql`>`} (${cursor.value}::text::${isTimeKey(sort.key) ? sql`timestamptz` : sql`integer`}, ${cursor.id}::uuid)`
		: null;
	const order = descending ? sql`${column} desc, j.id desc` : sql`${column} asc, j.id asc`;
	const sortValue = isTimeKey(sort.key) ? sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : sql`${column}::text`;
	const pick = (where: ResolvedFilter, conditions: postgres.Fragment[], walk = order) => sql`
		select j.id, j.job_type, j.status, j.attempts, j.max_attempts, j.priority, j.payload, j.payload ->> 'model_id' as model_id,
		       left(j.error_message, 300) as error_message, j.attempt_log, j.created_by, j.created_at, j.scheduled_at,
		       j.started_at, j.completed_at, ${sortValue} as sort_value
		from public.job_queue j
		where ${whereFilter(sql, where, conditions)}
		order by ${walk}
		limit ${PAGE_SIZE + 1}`;
	// Sorts without an index of every job in (key, id) order (0038, 0039): the page merges a walk of
	// the partial index of the uncommon rows with a walk, over the common rows, of an index that orders
	// them the same way (each at most a page long). Unfiltered or by status only: with other filters
	// the planner's own choice stays (their rows are fewer, and a walk could pass every job looking
	// for a match); a status's correlation with the split is in job_queue_status_split_stats.
	const split = FILTER_FIELDS.every((field) => field === 'status' || filter[field] === null) ? sortSplit(sql, sort.key, cursor, descending) : null;
	const page = (where: ResolvedFilter) =>
		split
			? sql`select * from ((${pick(where, [split.uncommon, ...(keyset ? [keyset] : [])])})
			                     union all (${pick(where, split.common.conditions, split.common.order)})) j
			      order by ${order} limit ${PAGE_SIZE + 1}`
			: pick(where, keyset ? [keyset] : []);
	// The page's 51 rows first; their log, generation and owner are read for those rows only.
	const query = (where: ResolvedFilter) => sql<JobListRow[]>`
		select j.id, j.job_type, j.status, j.attempts, j.max_attempts, j.priority, j.model_id, j.error_message,
		       (select count(*)::int from jsonb_array_elements(j.attempt_log) e
		        where e ->> 'kind' = 'attempt' and e ->> 'outcome' <> 'reset') as failed_attempts,
		       g.id as generation_id, left(g.prompt, 160) as prompt, u.email as user_email,
		       j.created_at, j.scheduled_at, j.started_at, j.completed_at, j.sort_value
		from (${page(where)}) j
		left join public.image_generations g on g.id = ${generationIdOf(sql)}
		left join auth.users u on u.id = j.created_by
		order by ${order}`;
	let pageFilter = resolved;
	if (resolved.search && resolved.search.ids === null) {
		// A common word: find the page's ids by walking the sort key's index, then read those rows as usual.
		const page = await walkingTheIndex(sql, (tx) => tx<{ id: string }[]>`
			select j.id from public.job_queue j where ${whereFilter(tx, resolved, keyset ? [keyset] : [])} order by ${order} limit ${PAGE_SIZE + 1}`);
		pageFilter = { ...resolved, search: { ...resolved.search, ids: page.map((row) => row.id) } };
	}
	const rows = await query(pageFilter);
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

/**
 * The two halves of a split sort: the uncommon rows' condition (their partial index walks them with
 * the keyset as is) and the common rows' condition, walk order and keyset on that walk's columns.
 */
function sortSplit(sql: Queryable, key: SortKey, cursor: Cursor | null, descending: boolean) {
	const op = descending ? sql`<` : sql`>`;
	const dir = descending ? sql`desc` : sql`asc`;
	if (key === 'scheduled_at') {
		// Unmoved rows: (scheduled_at, id) order is (created_at, id) order, job_queue_created_at_id_idx's.
		return {
			uncommon: sql`j.scheduled_at <> j.created_at`,
			common: {
				conditions: [
					sql`j.scheduled_at = j.created_at`,
					...(cursor ? [sql`(j.created_at, j.id) ${op} (${cursor.value}::text::timestamptz, ${cursor.id}::uuid)`] : [])
				],
				order: sql`j.created_at ${dir}, j.id ${dir}`
			}
		};
	}
	if (key !== 'attempts' && key !== 'priority') return null;
	// Rows at the common value (one attempt; priority 0) in id order, the primary key's.
	const common = key === 'attempts' ? 1 : 0;
	const column = sql`j.${sql(key)}`;
	const value = cursor ? Number(cursor.value) : null;
	// Past the cursor: all of them, those after its id, or none, as its value is before, at or after theirs.
	const after = value === null || (descending ? value > common : value < common)
		? []
		: value === common ? [sql`j.id ${op} ${cursor!.id}::uuid`] : [sql`false`];
	return {
		uncommon: sql`${column} <> ${common}`,
		common: { conditions: [sql`${column} = ${common}`, ...after], order: sql`j.id ${dir}` }
	};
}

/**
 * A common search word is tested on each row (job-search.ts), and the planner cannot tell how many
 * rows pass that test: with another filter it would rather collect every row of the filter (all
 * failed jobs, say) and sort them, testing each. Matches of a common word are dense, so walking the
 * sort key's own index and stopping after a page is far cheaper: without a sort or a bitmap to
 * choose, that walk is what it plans. Set for this transaction only (pooler-safe), and only for the
 * statement that picks the page's ids.
 */
async function walkingTheIndex<T>(sql: Queryable, query: (tx: Queryable) => Promise<T>): Promise<T> {
	const run = async (tx: Queryable) => {
		await tx`select set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)`;
		return query(tx);
	};
	return 'begin' in sql ? ((await sql.begin(run)) as T) : ((await sql.savepoint(run)) as T);
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

export interface JobDetail {
	job: Job & { user_email: string | null; attempt_log: unknown[] };
	generation: JobGeneration | null;
	/** True when the job names a generation that no longer exists (deleted by its owner). */
	generationMissing: boolean;
	/** For a failed or cancelled job: what a retry of it would bring back (retry-kinds.ts). */
	retryKind: RetryKind | null;
	attempts: AttemptView[];
	/** The log keeps the last ATTEMPT_LOG_LIMIT entries: earlier ones may have been dropped. */
	logFull: boolean;
	summary: { attempts: string; claims: string };
}

export async function getJob(access: ConsoleAccess, sql: Queryable, rawId: string, now = new Date()): Promise<JobDetail> {
	assertReader(access);
	const id = parseUuid(rawId);
	const [row] = await sql<(JobDetail['job'] & { retry_kind: RetryKind | null })[]>`
		select j.*, u.email as user_email,
		       case when j.status in ('failed', 'cancelled') then ${retryKindOf(sql)} end as retry_kind
		from public.job_queue j left join auth.users u on u.id = j.created_by ${joinGeneration(sql)}
		where j.id = ${id}`;
	if (!row) throw new NotFoundError(`No job ${id}`);
	const { retry_kind: retryKind, ...job } = row;
	const generationId = job.payload?.generation_id;
	const [generation] =
		isUuid(generationId)
			? await sql<JobGeneration[]>`
				select g.id, g.prompt, g.status, g.progress, g.model_id, g.user_id, u.email as user_email, g.created_at, g.error_message
				from public.image_generations g left join auth.users u on u.id = g.user_id where g.id = ${generationId}`
			: [];
	const log = Array.isArray(job.attempt_log) ? job.attempt_log : [];
	return {
		job,
		generation: generation ?? null,
		generationMissing: !generation && 'generation_id' in (job.payload ?? {}),
		retryKind,
		attempts: jobAttempts(job, now),
		logFull: log.length >= ATTEMPT_LOG_LIMIT,
		summary: attemptsSummary(job)
	};
}

