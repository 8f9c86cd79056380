// The seed's monitoring views and the console pages at 1,000,000 jobs (100,000 with BENCH_QUICK):
// a month of mostly completed jobs of several types, failures with varied errors, a few thousand
// pending and running (some stuck). Views: server time (EXPLAIN ANALYZE: planning + execution),
// median of several runs after a warm one, next to the definitions they replaced (0003/0021) run as
// plain queries in the same database. Pages: wall time of the console services a page's load calls,
// as it calls them, median of several runs (the data is local, so that is almost all server time).
import { consoleReader } from '../src/lib/server/console/access';
import { listAudit } from '../src/lib/server/console/audit';
import { listFailureGroups } from '../src/lib/server/console/failures';
import { encodeCursor, getJob, listJobs, parseCursor, parseJobSort, type SortKey } from '../src/lib/server/console/jobs';
import { parseJobFilter } from '../src/lib/server/console/job-filter';
import { listModelStats } from '../src/lib/server/console/models';
import { readCosts } from '../src/lib/server/console/costs';
import { readFairness } from '../src/lib/server/monitoring/fairness';
import { consoleOverview } from '../src/lib/server/console/overview';
import { historySeries } from '../src/lib/server/console/history';
import { liveSeries, LiveTally } from '../src/lib/server/console/live';
import { listStuck, reaperActivity } from '../src/lib/server/console/stuck';
import { listUsers } from '../src/lib/server/console/users';
import { lastRunByTrigger, listJobTypes, listWorkerRuns } from '../src/lib/server/console/worker';
import type { AppUser } from '../src/lib/server/auth/user';
import type { Sql } from '../src/lib/server/db/client';
import { emit, log, median, QUICK, round, type Measurement } from './support';

const JOBS = QUICK ? 100_000 : 1_000_000;
const RUNS = QUICK ? 3 : 7;
const USERS = 2_000;
const TYPES = ['generate-image', 'generate-image', 'generate-image', 'upscale-image', 'send-email', 'cleanup-storage'];

/** The definitions 0003 and 0021 gave the views: what the new ones must answer, and the "before" time. */
export const OLD_VIEWS = {
	queue_health: `
		select job_type, status, count(*)::bigint as count,
		       round(avg(extract(epoch from (completed_at - started_at)))::numeric, 3) as avg_duration_seconds,
		       min(created_at) as oldest_created_at, max(created_at) as newest_created_at
		from public.job_queue group by job_type, status`,
	failed_jobs_recent: `
		select id, job_type, payload, status, error_message, error_details, attempts, max_attempts,
		       created_by, created_at, started_at, completed_at
		from public.job_queue
		where status = 'failed' and completed_at > now() - interval '24 hours'`,
	stuck_jobs: `
		select id, job_type, payload, status, attempts, max_attempts, locked_by, locked_until,
		       started_at, created_by, created_at, now() - started_at as running_for, locked_until < now() as lease_expired
		from public.job_queue
		where status = 'processing' and (locked_until < now() or started_at < now() - public.stuck_job_threshold())`
} as const;

const admin: AppUser = {
	id: '00000000-0000-4000-8000-00000000be02',
	email: 'views@picture.test',
	isAdmin: true,
	isOperator: false,
	sessionId: null,
	claims: { sub: '00000000-0000-4000-8000-00000000be02', role: 'authenticated' }
};

const config = {
	publicBaseUrl: 'http://localhost',
	alerts: { webhookUrl: null, pendingMax: 100, failureRate: 0.1, noCompletionSeconds: 300, noWorkerSeconds: 120, checkSeconds: 30, unfairWaitFactor: 5, unfairWaitMinSeconds: 60 }
};

async function withoutIndexes(sql: Sql, insert: () => Promise<unknown>) {
	const indexes = await sql<{ name: string; definition: string }[]>`
		select i.relname as name, pg_get_indexdef(x.indexrelid) as definition
		from pg_index x join pg_class i on i.oid = x.indexrelid
		where x.indrelid = any (array['public.job_queue', 'public.image_generations']::regclass[])
		  and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`;
	for (const index of indexes) await sql.unsafe(`drop index public."${index.name}"`);
	await insert();
	await sql.begin(async (tx) => {
		await tx`set local maintenance_work_mem = '256MB'`;
		for (const index of indexes) await tx.unsafe(index.definition);
	});
}

/** A month of history (3% with a priority other than 0): 94% completed, 3% failed (a dozen errors), 1% cancelled; then the live jobs. */
export async function seedViews(sql: Sql, jobs: number): Promise<void> {
	await sql`
		insert into auth.users (id, email)
		select md5('vuser' || k)::uuid, 'vuser-' || k || '@example.test' from generate_series(0, ${USERS - 1}::int) k`;
	const history = jobs - 4_000;
	await withoutIndexes(sql, async () => {
		await sql`
			insert into job_queue (id, job_type, payload, status, attempts, priority, created_by, created_at, scheduled_at,
			                       started_at, completed_at, updated_at, error_message, error_details)
			select md5('vjob' || i)::uuid, (${TYPES}::text[])[1 + i % ${TYPES.length}::int],
			       jsonb_build_object('generation_id', md5('vgen' || i)::uuid, 'model_id', 'local/preview'),
			       s.status, case when s.status = 'failed' then 3 else 1 end,
			       case when i % 50 = 0 then 10 when i % 97 = 0 then -5 else 0 end,
			       case when i % 10 = 0 then null else md5('vuser' || (i % ${USERS}::int))::uuid end,
			       -- Failed jobs were retried: their scheduled_at is their last retry's, not their created_at.
			       t, t + case when s.status = 'failed' then interval '500 milliseconds' else interval '0' end, t + interval '1 second', t + make_interval(secs => 2 + i % 40), t + make_interval(secs => 2 + i % 40),
			       case when s.status = 'failed' then 'error ' || (i % 13) || ': ' || (array['timeout', 'model refused', 'out of memory'])[1 + i % 3] end,
			       case when s.status = 'failed' then jsonb_build_object('code', i % 13) end
			from generate_series(1, ${history}::int) i,
			     lateral (select now() - interval '30 days' + i * (interval '30 days' / ${history}::int) - interval '1 minute' as t) c,
			     lateral (select case when i % 100 < 94 then 'completed' when i % 100 < 97 then 'failed'
			                          when i % 100 < 98 then 'cancelled' else 'completed' end as status) s`;
		await sql`
			insert into image_generations (id, user_id, prompt, model_id, width, height, seed, status, job_id, image_path, created_at)
			select md5('vgen' || i)::uuid, md5('vuser' || (i % ${USERS}::int))::uuid, 'a picture ' || i, 'local/preview',
			       512, 512, 1, 'completed', md5('vjob' || i)::uuid, 'x.png', now() - interval '30 days' + i * (interval '30 days' / ${history}::int)
			from generate_series(1, ${history}::int) i
			where i % ${TYPES.length}::int in (0, 1, 2) and i % 10 <> 0`;
	});
	// 3,000 pending (some scheduled later), 1,000 running: most healthy, some with a lapsed lease, some long.
	await sql`
		insert into job_queue (job_type, payload, status, created_by, scheduled_at, created_at)
		select (${TYPES}::text[])[1 + i % ${TYPES.length}::int], jsonb_build_object('n', i), 'pending',
		       md5('vuser' || (i % ${USERS}::int))::uuid, now() + make_interval(secs => (i % 3) * 60) - interval '1 minute',
		       now() - make_interval(secs => i)
		from generate_series(1, 3000) i`;
	await sql`
		insert into job_queue (job_type, payload, status, attempts, claim_count, created_by, created_at, scheduled_at, started_at,
		                       locked_by, locked_until)
		select (${TYPES}::text[])[1 + i % ${TYPES.length}::int], jsonb_build_object('n', i), 'processing', 1, 1,
		       md5('vuser' || (i % ${USERS}::int))::uuid, now() - make_interval(secs => i), now() - make_interval(secs => i),
		       now() - case when i % 20 = 0 then interval '20 minutes' else make_interval(secs => i % 60) end,
		       'bench-worker-' || (i % 8), now() + case when i % 25 = 0 then interval '-2 minutes' else interval '30 seconds' end
		from generate_series(1, 1000) i`;
	const folded = await foldHistory(sql);
	if (folded) log(`views: folded ${folded.rows} settled jobs in ${folded.ms} ms`);
	await sql`vacuum analyze job_queue`;
	await sql`vacuum analyze image_generations`;
	await sql`analyze auth.users`;
}

/**
 * What the workers' maintenance does every 10 s (0038), here until the watermark stops: the first
 * call records a candidate, the next ones fold up to it in bounded steps. Without 0038 (a run on the
 * older schema, for the before numbers) there is nothing to fold. Returns the rows folded and the time.
 */
export async function foldHistory(sql: Sql): Promise<{ rows: number; ms: number } | null> {
	const [present] = await sql<{ ok: boolean }[]>`select to_regprocedure('public.fold_settled_jobs(integer)') is not null as ok`;
	if (!present!.ok) return null;
	const t0 = performance.now();
	let rows = 0;
	for (let idle = 0, calls = 0; idle < 2 && calls < 100; calls++) {
		const [step] = await sql<{ n: number }[]>`select public.fold_settled_jobs(100000) as n`;
		rows += step!.n;
		idle = step!.n === 0 && rows > 0 ? idle + 1 : 0;
	}
	return { rows, ms: round(performance.now() - t0, 0) };
}

/** A busy quarter hour on top of the month: 100 jobs a second finishing (1% failed) plus 500 running. */
export async function seedBusyQuarterHour(sql: Sql): Promise<number> {
	const busy = QUICK ? 9_000 : 90_000;
	await sql`
		insert into job_queue (job_type, payload, status, attempts, created_at, scheduled_at, started_at, completed_at, updated_at)
		select (${TYPES}::text[])[1 + i % ${TYPES.length}::int], '{}', case when i % 100 = 0 then 'failed' else 'completed' end, 1,
		       t - interval '2 seconds', t - interval '2 seconds', t - make_interval(secs => 1 + i % 5), t, t
		from generate_series(1, ${busy}::int) i,
		     lateral (select now() - make_interval(secs => i * (900.0 / ${busy}::int)) as t) c`;
	await sql`
		insert into job_queue (job_type, payload, status, attempts, claim_count, created_at, scheduled_at, started_at, locked_by, locked_until)
		select 'generate-image', '{}', 'processing', 1, 1, now() - interval '5 seconds', now() - interval '5 seconds',
		       now() - make_interval(secs => i % 10), 'bench-busy', now() + interval '30 seconds'
		from generate_series(1, 500) i`;
	await sql`vacuum analyze job_queue`;
	return busy + 500;
}

/** Planning + execution time of one statement, from EXPLAIN ANALYZE. */
async function serverMs(sql: Sql, statement: string): Promise<number> {
	const [row] = await sql.unsafe(`explain (analyze, format json) ${statement}`);
	const plan = (row!['QUERY PLAN'] as { 'Planning Time': number; 'Execution Time': number }[])[0]!;
	return plan['Planning Time'] + plan['Execution Time'];
}

async function medianOf(run: () => Promise<number>): Promise<number> {
	await run();
	const samples: number[] = [];
	for (let i = 0; i < RUNS; i++) samples.push(await run());
	return round(median(samples), 2);
}

async function wallMs(run: () => Promise<unknown>): Promise<number> {
	const t0 = performance.now();
	await run();
	return performance.now() - t0;
}

const VIEW_NAMES = Object.keys(OLD_VIEWS) as (keyof typeof OLD_VIEWS)[];
const PAGES = ['overview', 'live', 'history_30d', 'history_30d_type_model', 'jobs', 'jobs_sorted', 'jobs_failed', 'job', 'failures', 'stuck', 'worker', 'models', 'users', 'audit', 'costs', 'fairness'];

/** Median wall time of each console page's load calls, as the pages make them, by page. */
export async function timePages(sql: Sql): Promise<Record<string, number>> {
	const access = consoleReader(admin);
	const [some] = await sql<{ id: string }[]>`select id::text from job_queue where status = 'failed' order by created_at desc limit 1`;
	const loads: Record<string, () => Promise<unknown>> = {
		overview: () => consoleOverview(access, sql, config),
		// The overview's realtime chart (polled every 2 s) and its history at the longest range, uncached.
		live: () => liveSeries(access, sql),
		history_30d: () => historySeries(access, sql, { range: '30d', type: null, model: null }),
		history_30d_type_model: () => historySeries(access, sql, { range: '30d', type: 'generate-image', model: 'local/preview' }),
		jobs: () => listJobs(access, sql, parseJobFilter(new URLSearchParams()), parseJobSort(new URLSearchParams()), null),
		jobs_sorted: () => {
			const q = new URLSearchParams('sort=attempts&dir=desc');
			return listJobs(access, sql, parseJobFilter(q), parseJobSort(q), null);
		},
		jobs_failed: () => {
			const q = new URLSearchParams('status=failed');
			return listJobs(access, sql, parseJobFilter(q), parseJobSort(q), null);
		},
		job: () => getJob(access, sql, some!.id),
		failures: () => listFailureGroups(access, sql),
		stuck: () => Promise.all([listStuck(access, sql), reaperActivity(access, sql)]),
		worker: () => Promise.all([listWorkerRuns(access, sql, {}), listJobTypes(access, sql, [...new Set(TYPES)]), lastRunByTrigger(access, sql)]),
		models: () => listModelStats(access, sql),
		users: () => listUsers(access, sql, {}),
		audit: () => listAudit(access, sql, { limit: 51 }),
		costs: () => readCosts(access, sql),
		fairness: () => readFairness(sql)
	};
	const times: Record<string, number> = {};
	for (const page of PAGES) times[page] = await medianOf(() => wallMs(loads[page]!));
	return times;
}

// The job list by each sort that has no index of its own in (key, id) order, both ways, unfiltered
// and filtered by a dense and a sparse status, on the first page and on a page deep in the list.
const SORTS = [
	...(['priority', 'scheduled_at'] as const).flatMap((key) => (['asc', 'desc'] as const).map((dir) => ({ key, dir }))),
	{ key: 'attempts', dir: 'desc' } as const
];
const SORT_FILTERS = [null, 'completed', 'failed'] as const;
const sortPageName = (sort: { key: string; dir: string }, status: string | null, deep: boolean) =>
	`jobs_by_${sort.key}_${sort.dir}${status ? `_${status}` : ''}${deep ? '_deep' : ''}`;
const SORT_PAGES = SORTS.flatMap((sort) => SORT_FILTERS.flatMap((status) => [false, true].map((deep) => sortPageName(sort, status, deep))));

/** A cursor to the row three fifths of the way down the list (read by a plain sort, once, untimed). */
async function deepCursor(sql: Sql, sort: { key: SortKey; dir: 'asc' | 'desc' }, status: string | null): Promise<string> {
	const column = sql(sort.key);
	const where = status ? sql`where status = ${status}` : sql``;
	const dir = sort.dir === 'asc' ? sql`asc` : sql`desc`;
	const value = sort.key === 'scheduled_at' ? sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : sql`${column}::text`;
	const [row] = await sql<{ value: string; id: string }[]>`
		select ${value} as value, id::text from public.job_queue ${where}
		order by ${column} ${dir}, id ${dir}
		offset (select count(*) * 3 / 5 from public.job_queue ${where}) limit 1`;
	return encodeCursor(false, row!.value, row!.id);
}

/** Median wall time of listJobs for each sort page (SORT_PAGES), as the jobs page's load calls it. */
export async function timeSortedPages(sql: Sql): Promise<Record<string, number>> {
	const access = consoleReader(admin);
	const times: Record<string, number> = {};
	for (const sort of SORTS) {
		for (const status of SORT_FILTERS) {
			const q = new URLSearchParams({ sort: sort.key, dir: sort.dir, ...(status ? { status } : {}) });
			const filter = parseJobFilter(q);
			const parsed = parseJobSort(q);
			const cursor = parseCursor(await deepCursor(sql, sort, status), parsed);
			times[sortPageName(sort, status, false)] = await medianOf(() => wallMs(() => listJobs(access, sql, filter, parsed, null)));
			times[sortPageName(sort, status, true)] = await medianOf(() => wallMs(() => listJobs(access, sql, filter, parsed, cursor)));
		}
	}
	return times;
}

export const views: Measurement = {
	names: [
		...VIEW_NAMES.map((v) => `views.${v}.ms`), ...PAGES.map((p) => `console.page.${p}.ms`),
		...SORT_PAGES.map((p) => `console.page.${p}.ms`), 'console.page.live_busy.ms'
	],
	async run(server) {
		const db = await server.freshDatabase('views', { max: 6 });
		try {
			const started = Date.now();
			await seedViews(db.sql, JOBS);
			log(`views: ${JOBS} jobs in ${Date.now() - started} ms`);
			// Absent on the older schema (a run for the before numbers).
			const deltas = await db.sql<{ n: number }[]>`select count(*)::int as n from public.job_queue_settled_totals`.then(([r]) => r!.n, () => null);
			for (const view of VIEW_NAMES) {
				const after = await medianOf(() => serverMs(db.sql, `select * from public.${view}`));
				const before = await medianOf(() => serverMs(db.sql, OLD_VIEWS[view]));
				const [rows] = await db.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from public.${view}`);
				emit({
					name: `views.${view}.ms`, value: after, unit: 'ms', old_definition_ms: before, rows: rows!.n, jobs: JOBS,
					totals_rows: deltas, statistic: `median of ${RUNS} (EXPLAIN ANALYZE planning + execution)`
				});
			}
			const pages = { ...(await timePages(db.sql)), ...(await timeSortedPages(db.sql)) };
			for (const [page, ms] of Object.entries(pages)) {
				emit({ name: `console.page.${page}.ms`, value: ms, unit: 'ms', budget_ms: 100, jobs: JOBS, statistic: `median of ${RUNS} (wall time of the load's service calls)` });
			}
			// The seed's month puts ~350 jobs in any quarter hour; the realtime chart's cost follows that
			// quarter hour, so it is measured again after a busy one: BUSY jobs finished in the last 15 minutes.
			const busy = await seedBusyQuarterHour(db.sql);
			const access = consoleReader(admin);
			const full = await medianOf(() => wallMs(() => liveSeries(access, db.sql)));
			// What the endpoint pays per poll: the process's tally, after its first reading, reads the unsettled tail.
			const tally = new LiveTally();
			const ms = await medianOf(() => wallMs(() => tally.read(access, db.sql)));
			emit({
				name: 'console.page.live_busy.ms', value: ms, unit: 'ms', budget_ms: 50, full_window_ms: full, jobs: JOBS + busy, last_15_min: busy,
				statistic: `median of ${RUNS} polls through LiveTally after a first full reading (full_window_ms: liveSeries, every row of the 15 minutes)`
			});
		} finally {
			await db.drop();
		}
	}
};
