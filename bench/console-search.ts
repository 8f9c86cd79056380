// The console's job search on 1,000,000 jobs (100,000 with BENCH_QUICK), each with a generation and a
// prompt (bench/search-seed.ts): the list's page as the Jobs page loads it (the search's lookup, then
// the page), wall time from this client, median of several runs after a warm one, with the indexes the
// database used. tests/integration/console/job-search-scale.test.ts asserts the plans.
import postgres from 'postgres';
import { consoleReader } from '../src/lib/server/console/access';
import { listJobs, parseJobFilter, parseJobSort } from '../src/lib/server/console/jobs';
import type { Sql } from '../src/lib/server/db/client';
import { seedSearchCorpus } from './search-seed';
import { emit, log, median, QUICK, round, type Measurement } from './support';

const ROWS = QUICK ? 100_000 : 1_000_000;
const RUNS = QUICK ? 3 : 7;
const SEARCHES = [
	{ key: 'rare_prompt', query: 'q=zanzibar', what: 'a word in 1 prompt of 33,331' },
	{ key: 'rare_error', query: 'q=quokka', what: 'an error in 1 failure of 9,973' },
	{ key: 'one_email', query: 'q=marigold.finch', what: "part of one user's e-mail (1 of 2,000 users)" },
	{ key: 'common_prompt', query: 'q=lighthouse', what: 'a word in 1 prompt of 5' },
	{ key: 'common_prompt_failed', query: 'q=lighthouse&status=failed', what: 'a word in 1 prompt of 5, failed jobs only' },
	{ key: 'common_email', query: 'q=example.test', what: "part of every user's e-mail" },
	{ key: 'id_prefix', query: 'q=ID_PREFIX', what: "a job id's first 8 digits" }
];

const access = consoleReader({
	id: '00000000-0000-4000-8000-00000000be01',
	email: 'bench@picture.test',
	isAdmin: true,
	isOperator: false,
	sessionId: null,
	claims: { sub: '00000000-0000-4000-8000-00000000be01', role: 'authenticated' }
});

/** The indexes a statement's plan reads, by EXPLAIN under the settings it ran with (not timed again). */
async function indexesOf(sql: Sql, text: string, params: unknown[], settings: { query: string; params: unknown[] }[]): Promise<string[]> {
	const [row] = await sql.begin(async (tx) => {
		for (const setting of settings) await tx.unsafe(setting.query, setting.params as never[]);
		return tx.unsafe(`explain (format json) ${text}`, params as never[]);
	});
	const names = new Set<string>();
	const walk = (node: { 'Index Name'?: string; Plans?: unknown[] }) => {
		if (node['Index Name']) names.add(node['Index Name']);
		for (const child of node.Plans ?? []) walk(child as typeof node);
	};
	walk((row!['QUERY PLAN'] as { Plan: Parameters<typeof walk>[0] }[])[0]!.Plan);
	return [...names];
}

export const consoleSearch: Measurement = {
	names: SEARCHES.map((s) => `console.search.${s.key}.ms`),
	async run(server) {
		const db = await server.freshDatabase('console_search', { max: 2 });
		try {
			const started = Date.now();
			await seedSearchCorpus(db.sql, ROWS);
			log(`console.search: ${ROWS} jobs with their generations in ${Date.now() - started} ms`);
			const [{ id }] = (await db.sql`select id::text from job_queue order by created_at desc offset 12345 limit 1`) as unknown as [{ id: string }];
			for (const search of SEARCHES) {
				const params = new URLSearchParams(search.query.replace('ID_PREFIX', id.slice(0, 8)));
				const filter = parseJobFilter(params);
				const sort = parseJobSort(params);
				let statements: { query: string; params: unknown[] }[] = [];
				// A client of its own that records the statements listJobs sends, to explain them afterwards.
				const traced = postgres(db.url, {
					max: 1,
					onnotice: () => {},
					debug: (_c, query, values) => statements.push({ query, params: values as unknown[] })
				}) as unknown as Sql;
				let rows = 0;
				await listJobs(access, traced, filter, sort, null); // warm
				const times: number[] = [];
				for (let i = 0; i < RUNS; i++) {
					statements = [];
					const t0 = performance.now();
					rows = (await listJobs(access, traced, filter, sort, null)).jobs.length;
					times.push(performance.now() - t0);
				}
				const plans = [];
				const settings: typeof statements = [];
				for (const statement of statements) {
					if (/set_config\('enable_/.test(statement.query)) settings.push(statement);
					else if (/^\s*(select|with)/i.test(statement.query)) {
						// The settings hold for the one statement after them (their transaction's).
						plans.push(await indexesOf(db.sql, statement.query, statement.params, settings.splice(0)));
					}
				}
				await traced.end();
				emit({
					name: `console.search.${search.key}.ms`,
					value: round(median(times), 1),
					unit: 'ms',
					search: search.query,
					what: search.what,
					jobs: ROWS,
					rows_returned: rows,
					runs_ms: times.map((t) => round(t, 1)),
					statements: plans.length,
					indexes: plans,
					statistic: `median of ${RUNS} runs after a warm one, wall time from the client`,
					settings: server.settings
				});
			}
		} finally {
			await db.drop();
		}
	}
};
