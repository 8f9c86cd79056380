// Concurrency keys (0032) against the claim before them (0031's, installed into its own bench
// database): the claim's server-side cost and the worker's throughput on the hot path (system jobs,
// one lane, with the models' limit rows present as in every database), the fair-share case (one user's
// 100,000 jobs and ten light users), and the pathological case: 100,000 pending jobs of a closed key
// at the head of the line and 100 claimable ones behind them (0037 reads around them; before it, the
// claim walked them).
import { readFileSync } from 'node:fs';
import type { Sql } from '../src/lib/server/db/client';
import { drain } from './drive';
import { emit, insertPending, log, median, QUICK, round, type BenchDatabase, type BenchServer, type Measurement } from './support';

const ROUNDS = QUICK ? 1 : 3;
const BACKLOG = QUICK ? 10_000 : 100_000;
const DRAIN = { jobs: QUICK ? 3_000 : 30_000, maxSeconds: QUICK ? 3 : 8, concurrency: 10, batchSize: 1, connections: 10 };
const BATCH = { jobs: QUICK ? 20_000 : 100_000, maxSeconds: QUICK ? 3 : 8, concurrency: 1_000, batchSize: 500, connections: 10 };

/** 0031's claim_jobs exactly as it landed: "before" is the code this change replaced. */
function previousClaimSql(): string {
	const text = readFileSync('supabase/migrations/0031_fair_share_claim_cost.sql', 'utf8');
	const start = text.indexOf('create or replace function public.claim_jobs(');
	return text.slice(start, text.indexOf('$$;', text.indexOf('as $$', start)) + 3);
}

/** Median server-side ms of `calls` claims of `limit`, each committed and its jobs completed. */
async function claimMs(sql: Sql, calls: number, limit: number): Promise<number> {
	await sql`create table if not exists bench_gate_probe (ms float8 not null)`;
	await sql`truncate bench_gate_probe`;
	await sql.unsafe(`
		do $probe$
		declare t0 timestamptz; v_ids uuid[]; v_counts integer[];
		begin
			for i in 1..${Math.trunc(calls)} loop
				t0 := clock_timestamp();
				select array_agg(id), array_agg(claim_count) into v_ids, v_counts
				from public.claim_jobs('bench-probe', ${Math.trunc(limit)}, 60, null);
				insert into bench_gate_probe values (extract(epoch from clock_timestamp() - t0) * 1000);
				perform public.complete_jobs(v_ids, 'bench-probe', v_counts);
				commit;
			end loop;
		end
		$probe$`);
	const [row] = await sql<{ p50: number }[]>`select percentile_cont(0.5) within group (order by ms) as p50 from bench_gate_probe`;
	return round(row!.p50, 3);
}

async function users(sql: Sql, count: number): Promise<string[]> {
	const rows = await sql<{ id: string }[]>`
		insert into auth.users (email) select 'gate-' || gen_random_uuid() || '@bench.test' from generate_series(1, ${count}::int)
		returning id`;
	return rows.map((r) => r.id);
}

async function insertFor(sql: Sql, owner: string | null, count: number, key: string | null, ageSeconds = 0): Promise<void> {
	await sql`
		insert into public.job_queue (job_type, created_by, concurrency_key, scheduled_at, payload)
		select 'bench', ${owner}::uuid, ${key}, now() - make_interval(secs => ${ageSeconds}) + g * interval '1 microsecond',
		       jsonb_build_object('n', g)
		from generate_series(1, ${count}::int) g`;
}

async function reset(sql: Sql): Promise<void> {
	await sql`delete from public.job_queue`;
	await sql`delete from public.job_queue_lanes`;
	await sql`vacuum analyze public.job_queue`;
}

type Pair = { gate: BenchDatabase; before: BenchDatabase };

async function interleaved(pair: Pair, body: (sql: Sql) => Promise<number>): Promise<{ gate: number; before: number }> {
	const values = { gate: [] as number[], before: [] as number[] };
	for (let r = 0; r < ROUNDS; r++) {
		const order: Array<'gate' | 'before'> = r % 2 === 0 ? ['gate', 'before'] : ['before', 'gate'];
		for (const kind of order) values[kind].push(await body(pair[kind].sql));
	}
	return { gate: median(values.gate), before: median(values.before) };
}

function emitPair(name: string, unit: string, v: { gate: number; before: number }, extra: Record<string, unknown>) {
	emit({ name: `${name}.gate`, value: round(v.gate, 3), unit, ...extra });
	emit({ name: `${name}.before`, value: round(v.before, 3), unit, ...extra });
	emit({ name: `${name}.gate_vs_before_pct`, value: round(((v.gate - v.before) / v.before) * 100, 1), unit: '%', ...extra });
}

export const gate: Measurement = {
	names: ['queue.gate.single', 'queue.gate.batched', 'queue.gate.claim_ms', 'queue.gate.closed_backlog'],
	async run(server) {
		const pair: Pair = {
			gate: await server.freshDatabase('gate_gate', { max: 12 }),
			before: await server.freshDatabase('gate_before', { max: 12 })
		};
		await pair.before.sql.unsafe(previousClaimSql());
		try {
			const limits = await pair.gate.sql<{ n: number }[]>`select count(*)::int as n from public.job_queue_concurrency_limits`;
			const note = { limit_rows: limits[0]!.n, workload: 'system jobs (no key), one lane' };
			for (const [name, config] of [['queue.gate.single.jobs_per_s', DRAIN], ['queue.gate.batched.jobs_per_s', BATCH]] as const) {
				const v = await interleaved(pair, async (sql) => {
					await insertPending(sql, config.jobs);
					await sql`vacuum analyze public.job_queue`;
					const result = await drain(sql, config);
					await reset(sql);
					return result.jobsPerSecond;
				});
				log(`${name}: gate ${v.gate}, before ${v.before}`);
				emitPair(name, 'jobs/s', v, { ...note, concurrency: config.concurrency, batch_size: config.batchSize });
			}

			// Server-side claim cost: the hot path (one lane, 10,000 system jobs) and fair share (one user's
			// backlog and ten light users).
			for (const [label, setup] of [
				['one_lane', async (sql: Sql) => insertFor(sql, null, 10_000, null)],
				['fair', async (sql: Sql) => {
					const [heavy, ...light] = await users(sql, 11);
					await insertFor(sql, heavy!, BACKLOG, null);
					for (const id of light) await insertFor(sql, id, 10, null);
				}]
			] as const) {
				for (const sql of [pair.gate.sql, pair.before.sql]) {
					await setup(sql);
					await sql`vacuum analyze public.job_queue`;
				}
				for (const limit of [1, 50]) {
					const v = await interleaved(pair, (sql) => claimMs(sql, limit === 1 ? 200 : 20, limit));
					emitPair(`queue.gate.claim_ms.${label}.limit_${limit}`, 'ms', v, { statistic: 'median server-side ms per claim', limit_rows: limits[0]!.n });
				}
				for (const db of [pair.gate, pair.before]) await reset(db.sql);
			}

			// The pathological line: BACKLOG pending jobs of a closed key ahead of 100 claimable ones. Since
			// 0037 the claim reads around them (per-key heads) instead of walking them; measured with one
			// lane and with the backlog in one user's lane of eleven. Reference: the same line with the key
			// open (its cost is the plain claim's).
			const sql = pair.gate.sql;
			for (const lanes of ['one_lane', 'eleven_lanes'] as const) {
				const owners = lanes === 'one_lane' ? [null] : await users(sql, 11);
				await insertFor(sql, owners[0]!, BACKLOG, 'bench-closed', 3600);
				const light = owners.length > 1 ? owners.slice(1) : [null];
				for (let i = 0; i < 10; i++) await insertFor(sql, light[i % light.length]!, 10, null);
				await sql`vacuum analyze public.job_queue`;
				for (const [state, free] of [['closed', 0], ['open', 1_000_000]] as const) {
					await sql`select public.set_concurrency_limit('bench-closed', ${free})`;
					// Open: the claims take backlog jobs (completed as measured); 50 calls leave most of it.
					const ms = await claimMs(sql, 50, 1);
					emit({
						name: `queue.gate.closed_backlog.${lanes}.key_${state}.claim_ms`,
						value: ms,
						unit: 'ms',
						queued: `${BACKLOG} of key bench-closed (older) + 100 without a key`,
						statistic: 'median server-side ms per claim of 1'
					});
				}
				await sql`select public.set_concurrency_limit('bench-closed', null)`;
				await reset(sql);
			}
		} finally {
			await pair.gate.drop();
			await pair.before.drop();
		}
	}
};
