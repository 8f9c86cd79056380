// Claim latency under churn with the retention running: rounds of enqueue, claim + complete, age the
// finished jobs past the retention and purge them (as the worker's retention does, in batches). The
// claim's latency and the table's size should stay flat round after round: the purge keeps the
// history from growing, and autovacuum (0014's settings) keeps dead rows out of the pending index.
import { performance } from 'node:perf_hooks';
import type { Sql } from '../src/lib/server/db/client';
import { claimJobs, completeJobs, purgeFinishedJobs } from '../src/lib/server/queue';
import { emit, insertPending, log, percentile, QUICK, round, type Measurement } from './support';

const ROUNDS = QUICK ? 3 : 10;
const JOBS_PER_ROUND = QUICK ? 5_000 : 40_000;
const PROBES = QUICK ? 200 : 1_000;

/** Latencies (ms, ascending) of single-job claims, each completed at once, over `count` pending jobs. */
async function probeClaims(sql: Sql, count: number): Promise<number[]> {
	await insertPending(sql, count, 'churn-probe');
	const times: number[] = [];
	for (let i = 0; i < count; i++) {
		const started = performance.now();
		const [job] = await claimJobs(sql, { workerId: 'churn', limit: 1, leaseSeconds: 60, jobTypes: ['churn-probe'] });
		times.push(performance.now() - started);
		if (job) await completeJobs(sql, 'churn', [{ jobId: job.id, workerId: 'churn', claimCount: job.claim_count }]);
	}
	return times.sort((a, b) => a - b);
}

/** One round of churn: JOBS_PER_ROUND jobs enqueued, claimed in batches and completed. */
async function churn(sql: Sql): Promise<void> {
	await insertPending(sql, JOBS_PER_ROUND, 'churn');
	for (;;) {
		const jobs = await claimJobs(sql, { workerId: 'churn', limit: 500, leaseSeconds: 60, jobTypes: ['churn'] });
		if (jobs.length === 0) return;
		await completeJobs(sql, 'churn', jobs.map((j) => ({ jobId: j.id, workerId: 'churn', claimCount: j.claim_count })));
	}
}

interface TableSize {
	table_mb: number;
	pending_index_kb: number;
	dead_rows: number;
	rows: number;
	autovacuums: number;
}

async function tableSize(sql: Sql): Promise<TableSize> {
	const [row] = await sql<TableSize[]>`
		select round(pg_total_relation_size('public.job_queue') / 1048576.0, 1)::float8 as table_mb,
		       round(pg_relation_size('public.job_queue_pending_claim_idx') / 1024.0)::float8 as pending_index_kb,
		       (select n_dead_tup from pg_stat_user_tables where relid = 'public.job_queue'::regclass)::int as dead_rows,
		       (select count(*) from public.job_queue)::int as rows,
		       (select autovacuum_count from pg_stat_user_tables where relid = 'public.job_queue'::regclass)::int as autovacuums`;
	return row!;
}

export const churnBench: Measurement = {
	names: ['queue.churn.claim_p50_ms.before', 'queue.churn.claim_p50_ms.after', 'queue.churn.claim_p99_ms.before', 'queue.churn.claim_p99_ms.after'],
	async run(server) {
		const db = await server.freshDatabase('queue.churn', { max: 4 });
		try {
			const before = await probeClaims(db.sql, PROBES);
			const sizeBefore = await tableSize(db.sql);
			const rounds: Array<{ round: number; purged: number; p50_ms: number; p99_ms: number } & Omit<TableSize, 'rows'>> = [];
			let after = before;
			for (let n = 1; n <= ROUNDS; n++) {
				await churn(db.sql);
				// Age this round's jobs past a 14-day retention, then purge as the worker does.
				await db.sql`update public.job_queue set completed_at = completed_at - interval '15 days'
					where status = 'completed' and completed_at > now() - interval '1 day'`;
				const purged = await purgeFinishedJobs(db.sql, { olderThanDays: 14, batchSize: 500 });
				after = await probeClaims(db.sql, PROBES);
				const size = await tableSize(db.sql);
				rounds.push({ round: n, purged, p50_ms: round(percentile(after, 50), 3), p99_ms: round(percentile(after, 99), 3), table_mb: size.table_mb, pending_index_kb: size.pending_index_kb, dead_rows: size.dead_rows, autovacuums: size.autovacuums });
				log(`queue.churn: round ${n}: purged ${purged}, claim p50 ${round(percentile(after, 50), 3)} ms, p99 ${round(percentile(after, 99), 3)} ms, ${size.table_mb} MB, ${size.dead_rows} dead rows`);
			}
			const sizeAfter = await tableSize(db.sql);
			const common = { rounds: ROUNDS, jobs_per_round: JOBS_PER_ROUND, probes: PROBES, size_before: sizeBefore, size_after: sizeAfter, per_round: rounds, settings: server.settings };
			emit({ name: 'queue.churn.claim_p50_ms.before', value: round(percentile(before, 50), 3), unit: 'ms', ...common });
			emit({ name: 'queue.churn.claim_p50_ms.after', value: round(percentile(after, 50), 3), unit: 'ms', ...common });
			emit({ name: 'queue.churn.claim_p99_ms.before', value: round(percentile(before, 99), 3), unit: 'ms', ...common });
			emit({ name: 'queue.churn.claim_p99_ms.after', value: round(percentile(after, 99), 3), unit: 'ms', ...common });
		} finally {
			await db.drop();
		}
	}
};
