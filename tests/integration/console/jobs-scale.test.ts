// The job list's query plans on a big table: every page (first or deep, any allowed sort, a status
// filter) is an index range scan that reads about one page of rows, never a scan or a sort of the
// table. 100,000 rows here; ADMIN_JOBS_ROWS=1000000 for the measurement quoted in the notes.
import postgres from 'postgres';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { listAudit } from '$lib/server/console/audit';
import { listFailureGroups } from '$lib/server/console/failures';
import { filterQuery, listJobs, parseCursor, parseJobFilter, parseJobSort } from '$lib/server/console/jobs';
import { listStuck, reaperActivity } from '$lib/server/console/stuck';
import type { Sql } from '$lib/server/db/client';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { adminAccess } from '../../support/routes';

const access = adminAccess();

const ROWS = Number(process.env.ADMIN_JOBS_ROWS ?? 100_000);
let db: TestDatabase;
let traced: Sql;
let captured: { query: string; params: unknown[] } | null = null;

beforeAll(async () => {
	db = await createTestDatabase();
	await db.sql`
		insert into job_queue (job_type, payload, status, attempts, priority, created_at, scheduled_at, completed_at, error_message)
		select case when i % 50 = 0 then 'cleanup' else 'generate-image' end,
		       jsonb_build_object('model_id', (array['local/preview', 'local/detailed', 'stability-ai/sdxl'])[1 + i % 3], 'generation_id', gen_random_uuid()),
		       s.status, i % 4, i % 5 - 2, t, t + make_interval(secs => i % 7), case when s.status = 'pending' then null else t + interval '5 seconds' end,
		       case when s.status = 'failed' then 'error ' || (i % 7) end
		from generate_series(1, ${ROWS}) as i,
		     lateral (select now() - make_interval(secs => (i / 3) * 10) as t) as c,
		     lateral (select case when i % 100 < 90 then 'completed' when i % 100 < 95 then 'failed' when i % 100 < 99 then 'cancelled' else 'pending' end as status) as s`;
	await db.sql`analyze job_queue`;
	// A second client that records the exact SQL and parameters listJobs sends.
	traced = postgres(db.url, { max: 1, onnotice: () => {}, debug: (_c, query, params) => (captured = { query, params: params as unknown[] }) }) as unknown as Sql;
}, 600_000);
afterAll(async () => {
	await traced?.end();
	await db.drop();
});

interface PlanNode {
	'Node Type': string;
	'Relation Name'?: string;
	'Index Name'?: string;
	'Actual Rows': number;
	'Actual Loops': number;
	Plans?: PlanNode[];
}
const walk = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(walk)];

/** Runs the list query as the page would, then EXPLAIN ANALYZE of exactly that SQL. */
async function explainList(query: string) {
	const params = new URLSearchParams(query);
	const sort = parseJobSort(params);
	captured = null;
	const page = await listJobs(access, traced, parseJobFilter(params), sort, parseCursor(params.get('cursor'), sort));
	const { query: text, params: values } = captured!;
	const [row] = await db.sql.unsafe(`explain (analyze, buffers, format json) ${text}`, values as never[]);
	const plan = (row!['QUERY PLAN'] as { Plan: PlanNode; 'Execution Time': number }[])[0]!;
	return { page, plan: plan.Plan, ms: plan['Execution Time'] };
}

/** The innermost Limit: what the table scan feeds. Nothing under it may sort or scan the table. */
function checkPlan(root: PlanNode) {
	const nodes = walk(root);
	expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'job_queue')).toEqual([]);
	const limits = nodes.filter((n) => n['Node Type'] === 'Limit');
	const inner = walk(limits.at(-1)!);
	expect(inner.map((n) => n['Node Type'])).not.toContain('Sort');
	const scan = inner.find((n) => n['Relation Name'] === 'job_queue')!;
	expect(scan['Node Type']).toMatch(/^Index (Only )?Scan/);
	// About one page read, however big the table and however deep the page.
	expect(scan['Actual Rows']).toBeLessThanOrEqual(51);
	return scan['Index Name'];
}

const deepCursor = async (query: string) => {
	// Walk a few pages in, then jump to a cursor from the middle of the table.
	let { page } = await explainList(query);
	for (let i = 0; i < 3; i++) page = (await explainList(`${query}&cursor=${page.next}`)).page;
	return page.next!;
};

test.each([
	['', 'job_queue_created_at_id_idx'],
	['sort=created_at&dir=asc', 'job_queue_created_at_id_idx'],
	['model=stability-ai%2Fsdxl&sort=created_at&dir=asc', 'job_queue_created_at_id_idx']
])(`list "%s" on ${ROWS} rows: first and deep pages use %s and sort nothing`, async (query, index) => {
	const first = await explainList(query);
	expect(checkPlan(first.plan)).toBe(index);
	expect(first.page.jobs).toHaveLength(50);
	const cursor = await deepCursor(query);
	const deep = await explainList(`${query}${query ? '&' : ''}cursor=${cursor}`);
	expect(checkPlan(deep.plan)).toBe(index);
	expect(deep.page.jobs).toHaveLength(50);
	console.log(`[admin-jobs-scale] ${ROWS} rows, "${query || 'no filter'}": first page ${first.ms.toFixed(2)} ms, deep page ${deep.ms.toFixed(2)} ms (${index})`);
}, 120_000);

// Another sort key with a status: the planner picks the sort key's index (filtering) or the status
// index (sorting that status's rows only); either way it never reads the whole table.
test.each([
	['status=pending&sort=priority&dir=desc', 'pending'],
	['status=failed&sort=scheduled_at&dir=asc', 'failed']
])(`list "%s" on ${ROWS} rows stays off a whole-table scan`, async (query, status) => {
	for (const run of [query, `${query}&cursor=${await deepCursor(query)}`]) {
		const { plan, ms, page } = await explainList(run);
		const scans = walk(plan).filter((n) => n['Relation Name'] === 'job_queue');
		expect(scans.map((n) => n['Node Type'])).not.toContain('Seq Scan');
		expect(page.jobs).toHaveLength(50);
		console.log(`[admin-jobs-scale] ${ROWS} rows, "${run.slice(0, 60)}": ${ms.toFixed(2)} ms (${scans.map((n) => n['Index Name']).join(', ')}; ${status})`);
	}
}, 120_000);

test(`the other filters and pages on ${ROWS} rows (measured, for the notes)`, async () => {
	for (const query of ['type=cleanup', 'q=error%205', 'from=2020-01-01&to=2020-01-02', `user=${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`]) {
		const { ms, page } = await explainList(query);
		console.log(`[admin-jobs-scale] ${ROWS} rows, "${query}": ${ms.toFixed(2)} ms, ${page.jobs.length} rows`);
	}
	// The other pages' whole loads, as their routes run them: wall time, round trips included.
	const timed = async (label: string, run: () => Promise<unknown>) => {
		await run(); // warm: the first read after a bulk insert also sets hint bits
		const started = performance.now();
		await run();
		console.log(`[admin-jobs-scale] ${ROWS} rows, ${label}: ${(performance.now() - started).toFixed(1)} ms`);
	};
	const failures = async () => (await listFailureGroups(access, db.sql)).total;
	await timed(`failures page, ${await failures()} failures in 24 h`, failures);
	// An incident: every failure in the table happened in the last hour.
	await db.sql`update job_queue set completed_at = now() - interval '1 hour' where status = 'failed'`;
	await db.sql`vacuum analyze job_queue`;
	await timed(`failures page, ${await failures()} failures in 24 h`, failures);
	await timed('stuck page', () => Promise.all([listStuck(access, db.sql), reaperActivity(access, db.sql)]));
	await timed('audit page', () => listAudit(access, db.sql, { limit: 51 }));
	expect(filterQuery(parseJobFilter(new URLSearchParams('status=failed'))).toString()).toBe('status=failed');
}, 120_000);
