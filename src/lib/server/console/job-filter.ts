// The job list's filter, shared by the list, its bulk actions and its CSV export: parsed from URL
// query or form fields, and turned into SQL conditions whose values are always bound parameters.
import type postgres from 'postgres';
import type { Queryable } from '../db/client';
import { ValidationError } from '../errors';
import { JOB_STATUSES, type JobStatus } from '../queue';
import { resolveSearch, searchCondition, type SearchPlan } from './job-search';
import { isUuid } from '../../uuid';

export { generationIdOf } from './job-search';

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
export const NO_FILTER: JobFilter = { status: null, type: null, user: null, model: null, from: null, to: null, q: null };
/** A filter whose search has been looked up (job-search.ts): what the SQL conditions are made from. */
export type ResolvedFilter = JobFilter & { search: SearchPlan | null };
export type Fields = { get(name: string): unknown };

const DATE_RE = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$/;
/** The shortest search: pg_trgm needs three characters in a row to use its index at all. */
export const SEARCH_MIN = 3;

function text(fields: Fields, name: string, max = 200): string | null {
	const raw = fields.get(name);
	if (raw === null || raw === undefined) return null;
	if (typeof raw !== 'string') throw new ValidationError(name, `${name} must be text`);
	const value = raw.trim();
	if (value.length > max) throw new ValidationError(name, `${name} is longer than ${max} characters`);
	return value || null;
}

export function parseUuid(raw: unknown, field = 'id'): string {
	if (typeof raw !== 'string' || !isUuid(raw.trim())) throw new ValidationError(field, `"${String(raw ?? '').slice(0, 100)}" is not a job id`);
	return raw.trim().toLowerCase();
}

/** A date, or a date and time; without an offset it is UTC. `end`: the first instant after it (its precision). */
export function parseDate(value: string, field: string, end = false): Date {
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
		throw new ValidationError('status', `Unknown status "${status.slice(0, 100)}"; choose one of ${JOB_STATUSES.join(', ')}`);
	}
	const user = text(fields, 'user', 320);
	if (user && !isUuid(user) && !/^[^@\s]+@[^@\s]+$/.test(user)) {
		throw new ValidationError('user', `"${user}" is neither an email address nor a user id`);
	}
	const q = text(fields, 'q');
	// Three letters or digits in a row: fewer give pg_trgm nothing to look up, and the search would
	// read every row. Words of punctuation alone are refused for the same reason.
	if (q && (q.length < SEARCH_MIN || !/[\p{L}\p{N}]{3}/u.test(q))) {
		throw new ValidationError('q', `Search for at least ${SEARCH_MIN} letters or digits in a row`);
	}
	const filter: JobFilter = {
		status: status as JobStatus | null,
		type: text(fields, 'type', 128),
		user,
		model: text(fields, 'model'),
		from: text(fields, 'from', 40),
		to: text(fields, 'to', 40),
		q
	};
	const from = filter.from ? parseDate(filter.from, 'from') : null;
	const to = filter.to ? parseDate(filter.to, 'to', true) : null;
	if (from && to && from >= to) throw new ValidationError('to', 'The end of the time range is before its start');
	return filter;
}

export function filterQuery(filter: JobFilter, sort?: { key: string; dir: 'asc' | 'desc' }): URLSearchParams {
	const query = new URLSearchParams();
	for (const field of FILTER_FIELDS) if (filter[field]) query.set(field, filter[field]!);
	if (sort && (sort.key !== 'created_at' || sort.dir !== 'desc')) {
		query.set('sort', sort.key);
		query.set('dir', sort.dir);
	}
	return query;
}

export const isFiltered = (filter: JobFilter) => FILTER_FIELDS.some((field) => filter[field] !== null);

/** Looks the search up once (see job-search.ts); every statement of one request then reuses it. */
export async function resolveFilter(sql: Queryable, filter: JobFilter): Promise<ResolvedFilter> {
	return { ...filter, search: filter.q ? await resolveSearch(sql, filter.q) : null };
}

/** The filter as SQL conditions on job_queue j; every value is a bound parameter. */
export function whereFilter(sql: Queryable, filter: ResolvedFilter, extra: postgres.Fragment[] = []): postgres.Fragment {
	const conditions = [...extra];
	if (filter.status) conditions.push(sql`j.status = ${filter.status}`);
	if (filter.type) conditions.push(sql`j.job_type = ${filter.type}`);
	if (filter.model) conditions.push(sql`j.payload ->> 'model_id' = ${filter.model}`);
	if (filter.user) {
		conditions.push(
			isUuid(filter.user)
				? sql`j.created_by = ${filter.user.toLowerCase()}::uuid`
				: sql`j.created_by = (select u.id from auth.users u where lower(u.email) = lower(${filter.user}) limit 1)`
		);
	}
	if (filter.from) conditions.push(sql`j.created_at >= ${parseDate(filter.from, 'from')}`);
	if (filter.to) conditions.push(sql`j.created_at < ${parseDate(filter.to, 'to', true)}`);
	if (filter.search) conditions.push(searchCondition(sql, filter.search));
	return conditions.length ? conditions.reduce((all, next) => sql`${all} and ${next}`) : sql`true`;
}
