// Claim throughput against a table holding no history and one holding 1,000,000 finished jobs:
// the claim reads a partial index of pending rows, so the history should cost (almost) nothing.
import type { Sql } from '../src/lib/server/db/client';
import { drain } from './drive';
import { emit, insertPending, log, median, QUICK, round, type BenchDatabase, type Measurement } from './support';

const HISTORY = QUICK ? 100_000 : 1_000_000;
const ROUNDS = QUICK ? 1 : 3;
// Each round stops at its jobs or maxSeconds, whichever comes first (the queue never runs dry).
const WORKLOADS = [
	{ key: 'single', jobs: QUICK ? 2_000 : 8_000, maxSeconds: 2, concurrency: 10, batchSize: 1, connections: 10 },
	{ key: 'batched', jobs: QUICK ? 10_000 : 40_000, maxSeconds: 2, concurrency: 1_000, batchSize: 500, connections: 10 }
];

/**
 * Finished jobs spread over 30 days: 98% completed, 1% failed, 1% cancelled, with random uuids as
 * enqueue_job makes them. Inserting a million rows one by one through every index of job_queue takes
 * minutes, so: the secondary indexes are dropped and built again from their own definitions after
 * the insert, and the rows go in in id order (the primary key then grows at its right edge). The
 * table ends up as it would after a million real jobs, in a fraction of the time.
 */
export async function insertHistory(sql: Sql, count: number): Promise<void> {
	await sql.begin(async (tx) => {
		await tx`set local maintenance_work_mem = '256MB'`;
		const indexes = await tx<{ name: string; definition: string }[]>`
			select i.relname as name, pg_get_indexdef(x.indexrelid) as definition
			from pg_index x join pg_class i on i.oid = x.indexrelid
			where x.indrelid = 'public.job_queue'::regclass
			  and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`;
		for (const index of indexes) await tx.unsafe(`drop index public."${index.name}"`);
		await tx`
			insert into public.job_queue (id, job_type, payload, status, attempts, scheduled_at, started_at, completed_at,
			                              created_at, updated_at, error_message)
			select id, 'history', jsonb_build_object('n', g),
			       case g % 100 when 0 then 'failed' when 1 then 'cancelled' else 'completed' end,
			       1, t, t + interval '1 second', t + interval '2 seconds', t, t + interval '2 seconds',
			       case g % 100 when 0 then 'bench: failed on purpose' end
			from (select gen_random_uuid() as id, g from generate_series(1, ${count}::int) as g order by 1) as rows,
			     lateral (select now() - interval '31 days' + g * (interval '30 days' / ${count}::int)) as x(t)`;
		for (const index of indexes) await tx.unsafe(index.definition);
	});
}

/**
 * Median server-side time of one claim_jobs call (limit jobs), timed inside Postgres with each claim
 * committed and completed: no client, network or worker in the number, so it shows the claim's own
 * cost with far less noise than a throughput on a busy machine.
 */
export async function serverClaimMs(sql: Sql, calls: number, limit: number): Promise<number> {
	await sql`create table if not exists bench_claim_probe (ms float8 not null)`;
	await sql`truncate bench_claim_probe`;
	await sql.unsafe(`
		do $probe$
		declare
			t0 timestamptz;
			v_ids uuid[];
			v_counts integer[];
		begin
			for i in 1..${Math.trunc(calls)} loop
				t0 := clock_timestamp();
				select array_agg(id), array_agg(claim_count) into v_ids, v_counts
				from public.claim_jobs('bench-probe', ${Math.trunc(limit)}, 60, array['bench']);
				insert into bench_claim_probe values (extract(epoch from clock_timestamp() - t0) * 1000);
				perform public.complete_jobs(v_ids, 'bench-probe', v_counts);
				commit;
			end loop;
		end
		$probe$`);
	const [row] = await sql<{ ms: number }[]>`
		select percentile_cont(0.5) within group (order by ms) as ms from bench_claim_probe`;
	return row!.ms;
}

/** Takes a round's jobs out again (the next round's VACUUM ANALYZE clears their dead rows). */
export async function resetWorkload(sql: Sql): Promise<void> {
	await sql`delete from public.job_queue where job_type = 'bench'`;
	await sql`drop table if exists bench_claim_probe`;
}

export const claim: Measurement = {
	names: WORKLOADS.flatMap((w) => [
		`queue.claim.${w.key}.history_0.jobs_per_s`,
		`queue.claim.${w.key}.history_1m.jobs_per_s`,
		`queue.claim.${w.key}.slowdown_pct`
	]),
	async run(server) {
		const tables: Array<{ history: number; db: BenchDatabase }> = [];
		try {
			for (const history of [0, HISTORY]) {
				const db = await server.freshDatabase(`claim_h${history}`, { max: 10 });
				tables.push({ history, db });
				if (history > 0) {
					const started = Date.now();
					await insertHistory(db.sql, history);
					log(`queue.claim: ${history} finished jobs inserted in ${Date.now() - started} ms`);
				}
				await db.sql`vacuum analyze public.job_queue`;
			}
			const [size] = await tables[1]!.db.sql<{ table: string; pending_index: string }[]>`
				select pg_size_pretty(pg_total_relation_size('public.job_queue')) as table,
				       pg_size_pretty(pg_relation_size('public.job_queue_pending_claim_idx')) as pending_index`;

			for (const workload of WORKLOADS) {
				const rates = new Map<number, number[]>(tables.map((t) => [t.history, []]));
				const serverMs = new Map<number, number[]>(tables.map((t) => [t.history, []]));
				const probeCalls = Math.max(8, Math.round(100 / workload.batchSize));
				for (let roundNo = 0; roundNo < ROUNDS; roundNo++) {
					// Alternate the order, so neither table always runs on a warmer (or more tired) machine.
					const order = roundNo % 2 === 0 ? tables : [...tables].reverse();
					for (const { history, db } of order) {
						await insertPending(db.sql, workload.jobs);
						await db.sql`vacuum analyze public.job_queue`;
						serverMs.get(history)!.push(await serverClaimMs(db.sql, probeCalls, workload.batchSize));
						const result = await drain(db.sql, workload);
						log(`queue.claim.${workload.key}: history ${history}, round ${roundNo + 1}: ${result.jobsPerSecond} jobs/s`);
						rates.get(history)!.push(result.jobsPerSecond);
						await resetWorkload(db.sql);
					}
				}
				const base = Math.round(median(rates.get(0)!));
				const loaded = Math.round(median(rates.get(HISTORY)!));
				const serverBase = median(serverMs.get(0)!);
				const serverLoaded = median(serverMs.get(HISTORY)!);
				const common = {
					pending_jobs: workload.jobs,
					max_seconds_per_round: workload.maxSeconds,
					concurrency: workload.concurrency,
					batch_size: workload.batchSize,
					rounds: ROUNDS,
					statistic: 'median of rounds, tables alternated',
					settings: server.settings
				};
				const historyName = HISTORY === 1_000_000 ? '1m' : `${HISTORY / 1000}k`;
				emit({
					name: `queue.claim.${workload.key}.history_0.jobs_per_s`,
					value: base,
					unit: 'jobs/s',
					finished_jobs: 0,
					rounds_jobs_per_s: rates.get(0),
					...common
				});
				emit({
					name: `queue.claim.${workload.key}.history_${historyName}.jobs_per_s`,
					value: loaded,
					unit: 'jobs/s',
					finished_jobs: HISTORY,
					rounds_jobs_per_s: rates.get(HISTORY),
					table_size: size!.table,
					pending_index_size: size!.pending_index,
					...common
				});
				emit({
					name: `queue.claim.${workload.key}.slowdown_pct`,
					value: round(((base - loaded) / base) * 100, 1),
					unit: '%',
					finished_jobs: HISTORY,
					note: 'positive: slower with the history; negative: faster (noise)',
					server_claim_ms: { history_0: round(serverBase, 3), [`history_${historyName}`]: round(serverLoaded, 3) },
					server_claim_slowdown_pct: round(((serverLoaded - serverBase) / serverBase) * 100, 1),
					server_claim_calls_per_round: probeCalls,
					...common
				});
			}
		} finally {
			for (const { db } of tables) await db.drop();
		}
	}
};
