// The job list's split sorts (attempts since 0038, priority and scheduled_at since 0039) merge a
// partial index of the uncommon rows with a walk of another index over the common ones. Their pages
// must be exactly those of a plain `order by key, id`: same rows, same order, same page boundaries,
// same next and previous cursors, walking forward and back, both directions, with and without a
// status filter. A randomised table puts ties everywhere, and ties across the two halves: a moved
// job's scheduled_at equal to an unmoved one's, priority 0 next to -1 and 1, attempts 0, 1 and 2.
// (No sort key can be NULL: attempts, priority and scheduled_at are NOT NULL columns.)
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeCursor, listJobs, parseCursor, parseJobFilter, parseJobSort, PAGE_SIZE, type JobPage } from '$lib/server/console/jobs';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { adminAccess } from '../../support/routes';
import { seededRandom } from '../../support/random';

const access = adminAccess();
const ROWS = 420;
let db: TestDatabase;

const SEED = Number(process.env.SORT_SPLIT_SEED ?? Date.now() % 100_000);

beforeAll(async () => {
	db = await createTestDatabase();
	const { next, pick } = seededRandom(SEED);
	// Few distinct instants (with microseconds), so keys tie often, also across the split.
	const instants = Array.from({ length: 9 }, (_, k) => new Date(Date.UTC(2026, 0, 1, 0, k * 7)).toISOString().replace('Z', `${String(k * 37).padStart(3, '0')}+00`));
	const rows = Array.from({ length: ROWS }, () => {
		const created = pick(instants);
		return {
			status: pick(['completed', 'completed', 'completed', 'failed', 'pending', 'cancelled'] as const),
			priority: pick([0, 0, 0, 0, 1, -1, 5]),
			attempts: pick([1, 1, 1, 0, 2, 3]),
			created_at: created,
			scheduled_at: next() < 0.6 ? created : pick(instants)
		};
	});
	await db.sql`
		insert into job_queue (job_type, status, priority, attempts, max_attempts, created_at, scheduled_at, started_at, completed_at)
		select 'sort-split', r.status, r.priority, r.attempts, 5, r.created_at, r.scheduled_at,
		       case when r.status = 'pending' then null else r.scheduled_at end,
		       case when r.status = 'pending' then null else r.scheduled_at + interval '1 second' end
		from jsonb_to_recordset(${db.sql.json(rows)}::jsonb)
		     as r(status text, priority int, attempts int, created_at timestamptz, scheduled_at timestamptz)`;
	await db.sql`analyze job_queue`;
}, 120_000);
afterAll(() => db.drop());

const KEYS = ['priority', 'scheduled_at', 'attempts', 'created_at'] as const;
const DIRS = ['asc', 'desc'] as const;
const STATUSES = [null, 'completed', 'failed', 'pending'] as const;

/** The pages as a plain sort cuts them: rows in (key, id) order, 50 a page, the cursors they imply. */
async function expectedPages(key: (typeof KEYS)[number], dir: 'asc' | 'desc', status: string | null) {
	const value = key === 'scheduled_at' || key === 'created_at'
		? db.sql`to_char(${db.sql(key)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
		: db.sql`${db.sql(key)}::text`;
	const order = dir === 'asc' ? db.sql`asc` : db.sql`desc`;
	const rows = await db.sql<{ id: string; value: string }[]>`
		select id::text, ${value} as value from job_queue ${status ? db.sql`where status = ${status}` : db.sql``}
		order by ${db.sql(key)} ${order}, id ${order}`;
	const pages = [];
	for (let start = 0; start === 0 || start < rows.length; start += PAGE_SIZE) {
		const page = rows.slice(start, start + PAGE_SIZE);
		const first = page[0];
		const last = page.at(-1);
		pages.push({
			ids: page.map((row) => row.id),
			next: last && start + PAGE_SIZE < rows.length ? encodeCursor(false, last.value, last.id) : null,
			prev: first && start > 0 ? encodeCursor(true, first.value, first.id) : null
		});
	}
	return pages;
}

const shape = (page: JobPage) => ({ ids: page.jobs.map((job) => job.id), next: page.next, prev: page.prev });

describe(`split sorts against a plain order by (seed ${SEED}, ${ROWS} rows)`, () => {
	for (const key of KEYS) {
		for (const dir of DIRS) {
			test.each(STATUSES)(`by ${key} ${dir}, status %s: every page forward, then every page back`, async (status) => {
				const params = new URLSearchParams({ sort: key, dir, ...(status ? { status } : {}) });
				const filter = parseJobFilter(params);
				const sort = parseJobSort(params);
				expect(sort).toEqual({ key, dir });
				const expected = await expectedPages(key, dir, status);
				expect(expected.length).toBeGreaterThan(status === null || status === 'completed' ? 2 : 1);

				const forward = [shape(await listJobs(access, db.sql, filter, sort, null))];
				while (forward.at(-1)!.next && forward.length <= expected.length) {
					forward.push(shape(await listJobs(access, db.sql, filter, sort, parseCursor(forward.at(-1)!.next, sort))));
				}
				expect(forward).toEqual(expected);

				const backward = [forward.at(-1)!];
				while (backward.at(-1)!.prev && backward.length <= expected.length) {
					backward.push(shape(await listJobs(access, db.sql, filter, sort, parseCursor(backward.at(-1)!.prev, sort))));
				}
				expect(backward.reverse()).toEqual(expected);
			});
		}
	}

	test('a cursor on a value no row holds, on either side of the common one, lands where the plain sort does', async () => {
		for (const key of ['priority', 'attempts'] as const) {
			for (const dir of DIRS) {
				const sort = parseJobSort(new URLSearchParams({ sort: key, dir }));
				for (const value of ['-3', '4', '0', '1', '2']) {
					const id = '80000000-0000-4000-8000-000000000000';
					const page = await listJobs(access, db.sql, parseJobFilter(new URLSearchParams()), sort, parseCursor(encodeCursor(false, value, id), sort));
					const op = dir === 'asc' ? db.sql`>` : db.sql`<`;
					const order = dir === 'asc' ? db.sql`asc` : db.sql`desc`;
					const plain = await db.sql<{ id: string }[]>`
						select id::text from job_queue where (${db.sql(key)}, id) ${op} (${Number(value)}::int, ${id}::uuid)
						order by ${db.sql(key)} ${order}, id ${order} limit ${PAGE_SIZE}`;
					expect(page.jobs.map((job) => job.id), `${key} ${dir} after ${value}`).toEqual(plain.map((row) => row.id));
				}
			}
		}
	});
});
