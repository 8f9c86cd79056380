// The claim's cost depends on pending rows only: with 100,000 finished jobs present it reads the
// partial index and never scans the history.
import { beforeAll, expect, test } from 'vitest';
import { claimJobs, completeJob } from '$lib/server/queue';
import { useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase({ emptyEach: false });
const HISTORY = 100_000;

interface PlanNode {
	'Node Type': string;
	'Relation Name'?: string;
	'Index Name'?: string;
	'Shared Hit Blocks'?: number;
	'Shared Read Blocks'?: number;
	Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
	return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

// Planned as claim_jobs plans it: the function runs with sorts off (0002, 0025), which is what keeps
// the top-priority probe on this index rather than on the per-lane index (0025) plus a sort.
async function explain(query: string): Promise<{ root: PlanNode; all: PlanNode[] }> {
	const [row] = await q.sql.begin(async (tx) => {
		await tx`set local enable_sort = off`;
		await tx`set local enable_incremental_sort = off`;
		return tx.unsafe(query);
	});
	const root = (row!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
	return { root, all: nodes(root) };
}

function expectClaimPlan(all: PlanNode[]) {
	const onQueue = all.filter((n) => n['Relation Name'] === 'job_queue');
	expect(onQueue.length).toBeGreaterThan(0);
	expect(onQueue.map((n) => n['Index Name'])).toContain('job_queue_pending_claim_idx');
	expect(all.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'job_queue')).toEqual([]);
	expect(onQueue.every((n) => n['Index Name'] === 'job_queue_pending_claim_idx')).toBe(true);
}

// The candidate query of claim_jobs, with its parameters written in.
const candidates = (jobTypes: string, paused: string) => `
	select j.id
	from job_queue j
	where j.status = 'pending'
	  and j.scheduled_at <= now()
	  and (${jobTypes}::text[] is null or j.job_type = any (${jobTypes}::text[]))
	  and j.job_type <> all (${paused}::text[])
	order by j.priority desc, j.scheduled_at, j.id
	limit 1
	for update skip locked`;

beforeAll(async () => {
	// Finished history (completed, failed, cancelled), spread over the last 60 days, plus a few live jobs.
	await q.sql`
		insert into job_queue (job_type, payload, status, attempts, scheduled_at, started_at, completed_at, priority)
		select 'generate-image', jsonb_build_object('n', n),
		       (array['completed', 'completed', 'completed', 'failed', 'cancelled'])[1 + n % 5], 1,
		       now() - make_interval(secs => n * 50), now() - make_interval(secs => n * 50),
		       now() - make_interval(secs => n * 50 - 3), n % 3
		from generate_series(1, ${HISTORY}) n`;
	await q.sql`
		insert into job_queue (job_type, priority, scheduled_at)
		values ('generate-image', 0, now() - interval '1 minute'), ('generate-image', 1, now()),
		       ('upscale', 0, now() - interval '2 minutes'), ('generate-image', 0, now() + interval '1 hour')`;
	await q.sql`analyze job_queue`;
});

test('EXPLAIN of the claim uses job_queue_pending_claim_idx and no Seq Scan of job_queue', async () => {
	const [count] = await q.sql`select count(*)::int as n from job_queue`;
	expect(count!.n).toBe(HISTORY + 4);

	expectClaimPlan((await explain(`explain (format json) ${candidates('null', `'{}'`)}`)).all);
	expectClaimPlan((await explain(`explain (format json) ${candidates(`'{upscale}'`, `'{}'`)}`)).all);
	expectClaimPlan((await explain(`explain (format json) ${candidates('null', `'{generate-image}'`)}`)).all);
	// The generic plan PL/pgSQL switches to after a few calls, with its parameters unknown.
	expectClaimPlan(
		(await explain(`explain (generic_plan, format json) ${candidates('$1', '$2').replace('limit 1', 'limit $3')}`)).all
	);
});

test('running the claim reads a handful of pages, not the history', async () => {
	const plan = await q.sql.begin(async (tx) => {
		const [row] = await tx.unsafe(`explain (analyze, buffers, format json) ${candidates('null', `'{}'`)}`);
		return (row!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
	});
	const pages = (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
	expect(pages).toBeGreaterThan(0);
	// The history spans thousands of pages; the claim may touch a few index and heap pages.
	const [size] = await q.sql`select pg_relation_size('job_queue') / current_setting('block_size')::int as pages`;
	expect(Number(size!.pages)).toBeGreaterThan(1000);
	expect(pages).toBeLessThan(20);
});

test('claim_jobs itself, called repeatedly (custom and generic plans), never seq-scans job_queue', async () => {
	const conn = await q.sql.reserve();
	try {
		const stats = async () => {
			await conn`select pg_stat_force_next_flush()`;
			await conn`select 1`; // the flush happens at the end of a transaction
			await conn`select pg_stat_clear_snapshot()`;
			const [row] = await conn`select seq_scan::int as seq, idx_scan::int as idx
				from pg_stat_user_tables where relid = 'public.job_queue'::regclass`;
			return row as { seq: number; idx: number };
		};
		const before = await stats();
		const claimed: string[] = [];
		for (let i = 0; i < 12; i++) {
			const jobs = await claimJobs(conn as never, { workerId: 'scale', jobTypes: i % 2 ? ['generate-image'] : null });
			for (const job of jobs) {
				claimed.push(job.job_type);
				expect(await completeJob(conn as never, { jobId: job.id, workerId: 'scale', claimCount: job.attempts })).toBe(true);
			}
		}
		expect(claimed.sort()).toEqual(['generate-image', 'generate-image', 'upscale']);
		const after = await stats();
		expect(after.seq - before.seq).toBe(0);
		expect(after.idx - before.idx).toBeGreaterThanOrEqual(12);
	} finally {
		conn.release();
	}
});
