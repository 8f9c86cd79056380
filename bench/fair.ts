// Fair share (0025) against the claim it replaced (0002's, installed into its own bench database):
// the claim's server-side cost and the worker's throughput on the hot-path workload (system jobs,
// one lane), the cost with 100,000 pending jobs of one user and 100 of ten others, and the light
// user's wait (p50/p99) while a heavy user floods the queue.
import { readFileSync } from 'node:fs';
import type { Sql } from '../src/lib/server/db/client';
import { drain } from './drive';
import { emit, insertPending, log, median, QUICK, round, type BenchDatabase, type BenchServer, type Measurement } from './support';

const ROUNDS = QUICK ? 1 : 3;
const HEAVY_JOBS = QUICK ? 10_000 : 100_000;
const DRAIN = { jobs: QUICK ? 3_000 : 30_000, maxSeconds: QUICK ? 3 : 8, concurrency: 10, batchSize: 1, connections: 10 };
const BATCH = { jobs: QUICK ? 20_000 : 100_000, maxSeconds: QUICK ? 3 : 8, concurrency: 1_000, batchSize: 500, connections: 10 };

/** 0002's claim_jobs exactly as it landed, so "without fair share" is today's code, not a copy. */
function fifoClaimSql(): string {
	const text = readFileSync('supabase/migrations/0002_queue_functions.sql', 'utf8');
	const start = text.indexOf('create function public.claim_jobs(');
	const end = text.indexOf('$$;', text.indexOf('as $$', start)) + 3;
	return text.slice(start, end).replace('create function', 'create or replace function');
}

async function users(sql: Sql, count: number): Promise<string[]> {
	const rows = await sql<{ id: string }[]>`
		insert into auth.users (email) select 'fair-' || gen_random_uuid() || '@bench.test' from generate_series(1, ${count}::int)
		returning id`;
	return rows.map((r) => r.id);
}

async function insertFor(sql: Sql, owner: string, count: number, jobType = 'bench'): Promise<void> {
	await sql`
		insert into public.job_queue (job_type, created_by, payload)
		select ${jobType}, ${owner}::uuid, jsonb_build_object('n', g) from generate_series(1, ${count}::int) g`;
}

/** Median and p99 server-side ms of `calls` claims of `limit` (each committed and completed). */
async function claimMs(sql: Sql, calls: number, limit: number): Promise<{ p50: number; p99: number }> {
	await sql`create table if not exists bench_fair_probe (ms float8 not null)`;
	await sql`truncate bench_fair_probe`;
	await sql.unsafe(`
		do $probe$
		declare t0 timestamptz; v_ids uuid[]; v_counts integer[];
		begin
			for i in 1..${Math.trunc(calls)} loop
				t0 := clock_timestamp();
				select array_agg(id), array_agg(claim_count) into v_ids, v_counts
				from public.claim_jobs('bench-probe', ${Math.trunc(limit)}, 60, null);
				insert into bench_fair_probe values (extract(epoch from clock_timestamp() - t0) * 1000);
				perform public.complete_jobs(v_ids, 'bench-probe', v_counts);
				commit;
			end loop;
		end
		$probe$`);
	const [row] = await sql<{ p50: number; p99: number }[]>`
		select percentile_cont(0.5) within group (order by ms) as p50, percentile_cont(0.99) within group (order by ms) as p99
		from bench_fair_probe`;
	return { p50: round(row!.p50, 3), p99: round(row!.p99, 3) };
}

async function reset(sql: Sql): Promise<void> {
	await sql`delete from public.job_queue`;
	await sql`delete from public.job_queue_lanes`;
	await sql`vacuum analyze public.job_queue`;
}

type Pair = { fair: BenchDatabase; fifo: BenchDatabase };

async function databases(server: BenchServer, label: string, max: number): Promise<Pair> {
	const fair = await server.freshDatabase(`${label}_fair`, { max });
	const fifo = await server.freshDatabase(`${label}_fifo`, { max });
	await fifo.sql.unsafe(fifoClaimSql());
	return { fair, fifo };
}

/** Runs body on both, ROUNDS times, alternating which goes first; returns the medians. */
async function interleaved(pair: Pair, body: (sql: Sql) => Promise<number>): Promise<{ fair: number; fifo: number }> {
	const values = { fair: [] as number[], fifo: [] as number[] };
	for (let r = 0; r < ROUNDS; r++) {
		const order: Array<'fair' | 'fifo'> = r % 2 === 0 ? ['fair', 'fifo'] : ['fifo', 'fair'];
		for (const kind of order) values[kind].push(await body(pair[kind].sql));
	}
	return { fair: median(values.fair), fifo: median(values.fifo) };
}

function emitPair(name: string, unit: string, v: { fair: number; fifo: number }, extra: Record<string, unknown>) {
	emit({ name: `${name}.fair`, value: round(v.fair, 3), unit, ...extra });
	emit({ name: `${name}.fifo`, value: round(v.fifo, 3), unit, ...extra });
	emit({ name: `${name}.fair_vs_fifo_pct`, value: round(((v.fair - v.fifo) / v.fifo) * 100, 1), unit: '%', ...extra });
}

export const fair: Measurement = {
	names: ['queue.fair.single', 'queue.fair.batched', 'queue.fair.claim_ms', 'queue.fair.light_wait'],
	async run(server) {
		const pair = await databases(server, 'fair', 12);
		try {
			for (const [name, config] of [['queue.fair.single.jobs_per_s', DRAIN], ['queue.fair.batched.jobs_per_s', BATCH]] as const) {
				const v = await interleaved(pair, async (sql) => {
					await insertPending(sql, config.jobs);
					await sql`vacuum analyze public.job_queue`;
					const result = await drain(sql, config);
					await reset(sql);
					return result.jobsPerSecond;
				});
				log(`${name}: fair ${v.fair}, fifo ${v.fifo}`);
				emitPair(name, 'jobs/s', v, { workload: 'system jobs (one lane)', concurrency: config.concurrency, batch_size: config.batchSize });
			}

			// The claim's own cost with one user's huge backlog and ten light users.
			for (const sql of [pair.fair.sql, pair.fifo.sql]) {
				const [heavy, ...light] = await users(sql, 11);
				await insertFor(sql, heavy!, HEAVY_JOBS);
				for (const id of light) await insertFor(sql, id, 10);
				await sql`vacuum analyze public.job_queue`;
			}
			for (const limit of [1, 50]) {
				const calls = limit === 1 ? 200 : 20;
				const p50 = await interleaved(pair, async (sql) => (await claimMs(sql, calls, limit)).p50);
				emitPair(`queue.fair.claim_ms.limit_${limit}`, 'ms', p50, {
					queued: `${HEAVY_JOBS} of one user + 100 of ten others (claimed and completed as measured)`,
					statistic: 'median server-side ms per claim'
				});
			}
			for (const db of [pair.fair, pair.fifo]) await reset(db.sql);

			// A heavy user floods (20,000 queued), a light user submits one job every ~20 ms; 10 slots.
			for (const kind of ['fair', 'fifo'] as const) {
				const sql = pair[kind].sql;
				const [heavy, light] = await users(sql, 2);
				await insertFor(sql, heavy!, QUICK ? 4_000 : 20_000);
				await sql`vacuum analyze public.job_queue`;
				let stop = false;
				const producer = (async () => {
					while (!stop) {
						await insertFor(sql, light!, 1);
						await new Promise((resolve) => setTimeout(resolve, 20));
					}
				})();
				await drain(sql, { jobs: 1_000_000, maxSeconds: QUICK ? 3 : 6, concurrency: 10, batchSize: 1 });
				stop = true;
				await producer;
				const [w] = await sql<{ n: number; p50: number | null; p99: number | null; pending: number }[]>`
					select count(*) filter (where started_at is not null)::int as n,
					       percentile_cont(0.5) within group (order by extract(epoch from started_at - created_at) * 1000) filter (where started_at is not null) as p50,
					       percentile_cont(0.99) within group (order by extract(epoch from started_at - created_at) * 1000) filter (where started_at is not null) as p99,
					       count(*) filter (where started_at is null)::int as pending
					from public.job_queue where created_by = ${light!}::uuid`;
				emit({
					name: `queue.fair.light_wait.${kind}.p99_ms`,
					value: w!.p99 === null ? Number.NaN : round(w!.p99, 1),
					unit: 'ms',
					p50_ms: w!.p50 === null ? null : round(w!.p50, 1),
					light_jobs_started: w!.n,
					light_jobs_never_started: w!.pending,
					workload: 'heavy user 20,000 queued; light user one job per ~20 ms; ContinuousWorker, 10 slots, limit 1'
				});
				await reset(sql);
			}
		} finally {
			await pair.fair.drop();
			await pair.fifo.drop();
		}
	}
};
