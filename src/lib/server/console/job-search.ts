// The job list's search box: a job matches when its error, its generation's prompt or its owner's
// e-mail contains the text (case-insensitively, % and _ taken literally), or when the text is (the
// start of) the job's or its generation's id. The payload holds only ids, so prompts are found in
// image_generations and e-mails in auth.users; payloads are not searched as text (no index could
// serve that without a write on every claim and completion, see 0019).
//
// Two ways to run it, chosen per search. A search is first looked up through the indexes (0019's
// trigram indexes on prompts and errors, the users by substring, then their jobs by created_by; ids
// by primary-key ranges), each source taking at most CANDIDATE_LIMIT rows. When no source reaches
// the limit, the list is filtered by those job ids: a few index lookups however big the table. When
// one does, the text is common, so matching rows are dense: the list then tests each row it walks
// (a primary-key lookup of its generation and of its owner) and finds a page of them quickly.
import type postgres from 'postgres';
import type { Queryable } from '../db/client';

export const CANDIDATE_LIMIT = 2000;

export interface SearchPlan {
	/** The ILIKE pattern: the text with \, % and _ escaped, between two %. */
	pattern: string;
	/** The job ids found through the indexes, or null when the text is too common (test per row). */
	ids: string[] | null;
	/** When the text is a hex id or its start (8+ digits): the uuid range it covers. */
	idRange: { lo: string; hi: string } | null;
}

/** A hex id or the start of one (8 to 32 digits, dashes anywhere): the uuids beginning with it. */
export function idRangeOf(q: string): SearchPlan['idRange'] {
	const hex = q.replaceAll('-', '').toLowerCase();
	if (!/^[0-9a-f]{8,32}$/.test(hex)) return null;
	const uuid = (digits: string) => `${digits.slice(0, 8)}-${digits.slice(8, 12)}-${digits.slice(12, 16)}-${digits.slice(16, 20)}-${digits.slice(20)}`;
	return { lo: uuid(hex.padEnd(32, '0')), hi: uuid(hex.padEnd(32, 'f')) };
}

/** The id a payload names as its generation, or null when it names none (or garbage): never an error. */
export const generationIdOf = (sql: Queryable, alias = 'j') =>
	sql`(case when ${sql(alias)}.payload ->> 'generation_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
	          then (${sql(alias)}.payload ->> 'generation_id')::uuid end)`;

export const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, '\\$&')}%`;

/** One round trip: every source's matches, each capped, so a common word costs no more than a rare one. */
export async function resolveSearch(sql: Queryable, q: string): Promise<SearchPlan> {
	const pattern = likePattern(q);
	const idRange = idRangeOf(q);
	const cap = CANDIDATE_LIMIT;
	const [row] = await sql<{ errors: string[]; prompts: string[]; users: number; owned: string[]; ids: string[] }[]>`
		select
			array(select j.id from public.job_queue j
			      where j.error_message ilike ${pattern} escape '\\' and j.error_message is not null limit ${cap}) as errors,
			array(select g.job_id from public.image_generations g
			      where g.prompt ilike ${pattern} escape '\\' and g.job_id is not null limit ${cap}) as prompts,
			(select count(*)::int from (select 1 from auth.users u where u.email ilike ${pattern} escape '\\' limit ${cap}) u) as users,
			-- User by user, each one's jobs by created_by with a limit: one prolific user (or every user,
			-- for a common word) fills the cap after a few index entries, never a bitmap of all their jobs.
			array(select o.id from (select u.id from auth.users u where u.email ilike ${pattern} escape '\\' limit ${cap}) u
			      cross join lateral (select j.id from public.job_queue j where j.created_by = u.id limit ${cap}) o
			      limit ${cap}) as owned,
			${
				idRange
					? sql`array(select j.id from public.job_queue j where j.id between ${idRange.lo}::uuid and ${idRange.hi}::uuid limit ${cap})
					      || array(select g.job_id from public.image_generations g
					               where g.id between ${idRange.lo}::uuid and ${idRange.hi}::uuid and g.job_id is not null limit ${cap})`
					: sql`'{}'::uuid[]`
			} as ids`;
	const sources = [row!.errors, row!.prompts, row!.owned, row!.ids];
	const common = sources.some((ids) => ids.length >= cap) || row!.users >= cap;
	return { pattern, idRange, ids: common ? null : [...new Set(sources.flat())] };
}

/** The search as a condition on job_queue j. */
export function searchCondition(sql: Queryable, search: SearchPlan): postgres.Fragment {
	if (search.ids !== null) return sql`j.id = any (${search.ids}::uuid[])`;
	const { pattern, idRange } = search;
	const ids = idRange
		? sql`or j.id between ${idRange.lo}::uuid and ${idRange.hi}::uuid
		      or (j.payload ->> 'generation_id') between ${idRange.lo} and ${idRange.hi}`
		: sql``;
	// Scalar subqueries, not exists(): each row's generation and owner are read by primary key as the
	// list walks (a common word matches within the first rows), never hashed whole beforehand.
	return sql`(
		j.error_message ilike ${pattern} escape '\\'
		or (select g.prompt from public.image_generations g where g.id = ${generationIdOf(sql)} and g.job_id = j.id) ilike ${pattern} escape '\\'
		or (select u.email from auth.users u where u.id = j.created_by) ilike ${pattern} escape '\\'
		${ids})`;
}
