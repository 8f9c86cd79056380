// The job search's query plans on a big table (bench/search-seed.ts: a generation and a prompt per
// job, 2,000 users): a rare word is looked up through 0019's trigram indexes and the list then reads
// its few jobs by primary key; a common word walks the list's own index and stops after a page. Never
// a scan that reads a large part of job_queue or image_generations. 100,000 rows here;
// ADMIN_JOBS_ROWS=1000000 for the measurement (plan properties are asserted, timings only printed;
// `npm run bench -- console.search` measures them).
import postgres from 'postgres';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { listJobs, parseCursor, parseJobFilter, parseJobSort } from '$lib/server/console/jobs';
import type { Sql } from '$lib/server/db/client';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { adminAccess } from '../../support/routes';
import { seedSearchCorpus } from '../../../bench/search-seed';

const access = adminAccess();
const ROWS = Number(process.env.ADMIN_JOBS_ROWS ?? 100_000);
const USERS = 2000;
let db: TestDatabase;
let traced: Sql;
let captured: { query: string; params: unknown[] }[] = [];

beforeAll(async () => {
	db = await createTestDatabase({ max: 1 });
	await seedSearchCorpus(db.sql, ROWS, USERS);
	traced = postgres(db.url, { max: 1, onnotice: () => {}, debug: (_c, query, params) => captured.push({ query, params: params as unknown[] }) }) as unknown as Sql;
}, 1_800_000);
afterAll(async () => {
	await traced?.end();
	await db?.drop();
});

interface PlanNode {
	'Node Type': string;
	'Rows Removed by Filter'?: number;
	'Relation Name'?: string;
	'Index Name'?: string;
	'Actual Rows': number;
	Plans?: PlanNode[];
}
const walk = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(walk)];

/** Runs the list as the page does (the search's lookup, then the page), then EXPLAIN ANALYZE of each statement it sent. */
async function explainSearch(query: string) {
	const params = new URLSearchParams(query);
	const sort = parseJobSort(params);
	const filter = parseJobFilter(params);
	await listJobs(access, traced, filter, sort, null); // warm: hint bits, caches
	captured = [];
	const started = performance.now();
	const page = await listJobs(access, traced, filter, sort, parseCursor(params.get('cursor'), sort));
	const wallMs = performance.now() - started;
	const plans = [];
	// A statement after set_config(..., true) ran with those settings (a common word's walk): explain it so.
	const settings: typeof captured = [];
	for (const statement of captured) {
		if (/set_config\('enable_/.test(statement.query)) settings.push(statement);
		if (!/^\s*select/i.test(statement.query) || /set_config\('enable_/.test(statement.query)) continue;
		const walked = settings.length > 0;
		const [row] = await db.sql.begin(async (tx) => {
			// The settings hold for the one statement after them (their transaction's).
			for (const setting of settings.splice(0)) await tx.unsafe(setting.query, setting.params as never[]);
			return tx.unsafe(`explain (analyze, buffers, format json) ${statement.query}`, statement.params as never[]);
		});
		const plan = (row!['QUERY PLAN'] as { Plan: PlanNode; 'Execution Time': number }[])[0]!;
		plans.push({ nodes: walk(plan.Plan), ms: plan['Execution Time'], walked });
		if (process.env.DUMP_PLANS) (await import('node:fs')).appendFileSync('/tmp/plans.txt', `\n=== ${query}\n${statement.query}\n${JSON.stringify(plan.Plan, null, 1)}\n`);
	}
	return { page, plans, wallMs };
}

/**
 * Scans of the big tables that read a large part of them. A scan under the lookup's LIMIT that stops
 * after the cap (a common word: the first rows match) reads little and is the planner's best choice.
 */
const seqScans = (nodes: PlanNode[]) =>
	nodes.filter(
		(n) =>
			n['Node Type'] === 'Seq Scan' &&
			['job_queue', 'image_generations'].includes(n['Relation Name'] ?? '') &&
			n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0) > ROWS / 4
	);
const indexes = (nodes: PlanNode[]) => [...new Set(nodes.map((n) => n['Index Name']).filter(Boolean))];
function report(label: string, result: Awaited<ReturnType<typeof explainSearch>>) {
	const ms = result.plans.map((p) => p.ms.toFixed(2)).join(' + ');
	console.log(`[admin-jobs-search-scale] ${ROWS} rows, ${label}: ${result.page.jobs.length} rows, ${ms} ms in the database, ${result.wallMs.toFixed(1)} ms wall; ` +
		result.plans.map((p, i) => `statement ${i + 1}: ${indexes(p.nodes).join(', ')}`).join('; '));
}

test(`a rare prompt word on ${ROWS} jobs: found through the prompt trigram index, then its jobs by primary key`, async () => {
	const result = await explainSearch('q=zanzibar');
	expect(result.page.jobs.length).toBe(Math.ceil((ROWS - 17 + 1) / 33331));
	expect(result.page.jobs.every((job) => job.prompt?.includes('zanzibar'))).toBe(true);
	const [lookup, list] = result.plans;
	expect(result.plans).toHaveLength(2);
	expect(indexes(lookup!.nodes)).toContain('image_generations_prompt_trgm_idx');
	expect(indexes(lookup!.nodes)).toContain('job_queue_error_message_trgm_idx');
	expect(seqScans(lookup!.nodes)).toEqual([]);
	expect(indexes(list!.nodes)).toContain('job_queue_pkey');
	expect(seqScans(list!.nodes)).toEqual([]);
	report('"zanzibar" (rare prompt word)', result);
}, 300_000);

test(`a rare error and a rare e-mail on ${ROWS} jobs: their own indexes, no scan of the job table`, async () => {
	const error = await explainSearch('q=quokka');
	expect(error.page.jobs.length).toBeGreaterThan(0);
	expect(indexes(error.plans[0]!.nodes)).toContain('job_queue_error_message_trgm_idx');
	expect(error.plans.flatMap((p) => seqScans(p.nodes))).toEqual([]);
	report('"quokka" (rare error)', error);

	const email = await explainSearch('q=marigold.finch');
	expect(email.page.jobs).toHaveLength(50);
	// auth.users is Supabase's table (no index of ours): read by substring, then the jobs by created_by.
	expect(indexes(email.plans[0]!.nodes)).toContain('job_queue_created_by_idx');
	expect(email.plans.flatMap((p) => seqScans(p.nodes))).toEqual([]);
	report('"marigold.finch" (one user\'s e-mail)', email);
}, 300_000);

test(`a common word on ${ROWS} jobs: too many to look up, so the list walks its index and stops after a page`, async () => {
	for (const query of ['q=lighthouse', 'q=example.test', 'q=lighthouse&status=failed']) {
		const result = await explainSearch(query);
		expect(result.page.jobs).toHaveLength(50);
		// Statements: the lookup, the walk for the page's ids, the page's rows by id.
		expect(result.plans, query).toHaveLength(3);
		const list = result.plans[1]!;
		expect(list.walked, query).toBe(true);
		// The list's own order: the created_at index, walked, never all rows of a filter sorted.
		expect(indexes(list.nodes), query).toContain('job_queue_created_at_id_idx');
		expect(list.nodes.map((n) => n['Node Type']), query).not.toContain('Sort');
		expect(seqScans(list.nodes)).toEqual([]);
		expect(result.plans.flatMap((p) => seqScans(p.nodes)), query).toEqual([]);
		report(`"${query}"`, result);
	}
}, 600_000);

test(`a job id's first 8 digits on ${ROWS} jobs: a primary-key range`, async () => {
	const [{ id }] = (await db.sql`select id::text from job_queue order by created_at desc offset 12345 limit 1`) as unknown as [{ id: string }];
	const result = await explainSearch(`q=${id.slice(0, 8)}`);
	expect(result.page.jobs.map((job) => job.id)).toContain(id);
	expect(indexes(result.plans[0]!.nodes)).toContain('job_queue_pkey');
	expect(result.plans.flatMap((p) => seqScans(p.nodes))).toEqual([]);
	report('a job id prefix', result);
}, 300_000);
