// Claiming: order, due time, pausing, cancellation, type filters, and 20 claimers racing.
import { expect, test } from 'vitest';
import {
	cancelJob,
	claimJobs,
	completeJob,
	enqueueJob,
	pauseJobType,
	resumeJobType,
	type Job
} from '$lib/server/queue';
import { secondsBetween, useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase({ max: 24 });

async function claimOne(workerId = 'w1', jobTypes?: string[]): Promise<Job | undefined> {
	const [job] = await claimJobs(q.sql, { workerId, jobTypes });
	return job;
}

/** Enqueues a job scheduled `minutesAgo` minutes in the past (negative: in the future). */
async function jobAt(name: string, priority: number, minutesAgo: number): Promise<string> {
	const [row] = await q.sql<{ id: string }[]>`
		select enqueue_job('order', ${q.sql.json({ name })}, ${priority},
			now() - make_interval(mins => ${minutesAgo}), 3) as id`;
	return row!.id;
}

test('higher priority first, then earlier scheduled_at; future jobs are not claimed', async () => {
	await jobAt('low-old', 0, 4);
	await jobAt('low-new', 0, 1);
	await jobAt('high-new', 5, 1);
	await jobAt('high-old', 5, 2);
	await jobAt('urgent-future', 100, -60);
	await jobAt('negative', -5, 30);
	const order: string[] = [];
	for (let job = await claimOne(); job; job = await claimOne()) order.push(job.payload.name as string);
	expect(order).toEqual(['high-old', 'high-new', 'low-old', 'low-new', 'negative']);
	const [future] = await q.sql`select status, attempts from job_queue where payload->>'name' = 'urgent-future'`;
	expect(future).toEqual({ status: 'pending', attempts: 0 });
});

test('equal priority and scheduled_at: the lower id first', async () => {
	const ids = await q.sql<{ id: string }[]>`
		insert into job_queue (job_type, scheduled_at)
		select 'tie', now() - interval '1 minute' from generate_series(1, 5) returning id`;
	const claimed: string[] = [];
	for (let job = await claimOne(); job; job = await claimOne()) claimed.push(job.id);
	expect(claimed).toEqual(ids.map((r) => r.id).sort());
});

test('a claim sets processing, started_at, attempts + 1 and the lease', async () => {
	const id = await enqueueJob(q.sql, 'shape', { payload: { n: 1 } });
	await q.sql`update job_queue set attempts = 1 where id = ${id}`; // as after one earlier failure
	const jobs = await claimJobs(q.sql, { workerId: 'worker-a', leaseSeconds: 45, limit: 10 });
	expect(jobs).toHaveLength(1);
	const job = jobs[0]!;
	expect(job).toMatchObject({ id, status: 'processing', attempts: 2, locked_by: 'worker-a', payload: { n: 1 } });
	expect(job.started_at).toBeInstanceOf(Date);
	expect(secondsBetween(job.locked_until!, job.started_at!)).toBeCloseTo(45, 2);
	const [row] = await q.sql`select status, attempts, locked_by, started_at, now() - started_at < interval '5 seconds' as fresh
		from job_queue where id = ${id}`;
	expect(row).toMatchObject({ status: 'processing', attempts: 2, locked_by: 'worker-a', fresh: true });
	expect(await claimOne('worker-b')).toBeUndefined();
});

test('claim_next_job (the seed name) claims one job under a lease and names the session when no worker is given', async () => {
	await enqueueJob(q.sql, 'a');
	await enqueueJob(q.sql, 'b');
	const rows = await q.sql`select * from claim_next_job()`;
	expect(rows).toHaveLength(1);
	expect(rows[0]).toMatchObject({ status: 'processing', attempts: 1 });
	expect(rows[0]!.locked_by).toMatch(/^session-\d+$/);
	const [left] = await q.sql`select count(*)::int as n from job_queue where status = 'pending'`;
	expect(left!.n).toBe(1);
});

test('paused job types are not claimed, and are again after resume', async () => {
	const paused = await enqueueJob(q.sql, 'paused-type');
	const other = await enqueueJob(q.sql, 'other-type', { priority: -10 });
	await pauseJobType(q.sql, 'paused-type', undefined, 'maintenance');
	expect((await claimOne())?.id).toBe(other);
	expect(await claimOne()).toBeUndefined();
	expect(await claimOne('w1', ['paused-type'])).toBeUndefined();
	await resumeJobType(q.sql, 'paused-type');
	expect((await claimOne())?.id).toBe(paused);
});

test('cancelled jobs are never claimed', async () => {
	const cancelled = await enqueueJob(q.sql, 'c', { priority: 10 });
	const kept = await enqueueJob(q.sql, 'c');
	expect(await cancelJob(q.sql, cancelled, 'user changed their mind')).toBe(true);
	expect((await claimOne())?.id).toBe(kept);
	expect(await claimOne()).toBeUndefined();
	const [row] = await q.sql`select status, attempts, error_message, completed_at is not null as done from job_queue where id = ${cancelled}`;
	expect(row).toEqual({ status: 'cancelled', attempts: 0, error_message: 'user changed their mind', done: true });
	expect(await cancelJob(q.sql, cancelled)).toBe(false);
});

test('p_job_types limits the claim to those types', async () => {
	const a = await enqueueJob(q.sql, 'type-a', { priority: 9 });
	const b = await enqueueJob(q.sql, 'type-b');
	const c = await enqueueJob(q.sql, 'type-c');
	const jobs = await claimJobs(q.sql, { workerId: 'w', jobTypes: ['type-b', 'type-c'], limit: 10 });
	expect(jobs.map((j) => j.id).sort()).toEqual([b, c].sort());
	expect(await claimOne('w', ['type-b'])).toBeUndefined();
	expect((await claimOne('w', ['type-a']))?.id).toBe(a);
});

test('a batch claim takes at most p_limit jobs, best first', async () => {
	await q.sql`insert into job_queue (job_type, priority) select 'batch', n from generate_series(1, 10) n`;
	const jobs = await claimJobs(q.sql, { workerId: 'w', limit: 4 });
	expect(jobs.map((j) => j.priority).sort((x, y) => y - x)).toEqual([10, 9, 8, 7]);
	const [left] = await q.sql`select count(*)::int as n from job_queue where status = 'pending'`;
	expect(left!.n).toBe(6);
});

test('20 concurrent claimers over 2,000 jobs: every job claimed exactly once', async () => {
	const total = 2000;
	await q.sql`insert into job_queue (job_type, priority) select 'race', n % 7 from generate_series(1, ${total}) n`;
	const connections = await Promise.all(Array.from({ length: 20 }, () => q.sql.reserve()));
	try {
		const pids = await Promise.all(connections.map(async (c) => (await c`select pg_backend_pid() as pid`)[0]!.pid));
		expect(new Set(pids).size).toBe(20);
		const perWorker = await Promise.all(
			connections.map(async (conn, i) => {
				const workerId = `racer-${i}`;
				const seen: string[] = [];
				for (;;) {
					// Mixed batch sizes, so single and batched claims race each other.
					const jobs = await claimJobs(conn as never, { workerId, limit: i % 2 === 0 ? 1 : 3 });
					if (jobs.length === 0) break;
					for (const job of jobs) {
						expect(job.locked_by).toBe(workerId);
						seen.push(job.id);
						expect(await completeJob(conn as never, { jobId: job.id, workerId, claimCount: job.claim_count })).toBe(true);
					}
				}
				return seen;
			})
		);
		const all = perWorker.flat();
		expect(all).toHaveLength(total);
		expect(new Set(all).size).toBe(total);
		// Work was actually shared out rather than one claimer doing everything.
		expect(perWorker.filter((ids) => ids.length > 0).length).toBeGreaterThan(10);
		const [state] = await q.sql`
			select count(*) filter (where status = 'completed')::int as completed,
			       count(*) filter (where attempts = 1)::int as once
			from job_queue where job_type = 'race'`;
		expect(state).toEqual({ completed: total, once: total });
	} finally {
		for (const c of connections) c.release();
	}
});
