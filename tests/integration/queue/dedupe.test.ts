// Idempotent enqueue: one live job per dedupe key, also under 50 concurrent calls.
import { expect, test } from 'vitest';
import { cancelJob, claimJobs, completeJob, enqueueJob, failJob } from '$lib/server/queue';
import { getJob, useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase({ max: 52 });

async function countWithKey(key: string): Promise<{ all: number; live: number }> {
	const [row] = await q.sql<{ all: number; live: number }[]>`
		select count(*)::int as all, count(*) filter (where status in ('pending', 'processing'))::int as live
		from job_queue where dedupe_key = ${key}`;
	return row!;
}

test('50 concurrent enqueues with one dedupe key make one job, and all 50 calls get its id', async () => {
	const connections = await Promise.all(Array.from({ length: 50 }, () => q.sql.reserve()));
	try {
		const pids = await Promise.all(connections.map(async (c) => (await c`select pg_backend_pid() as pid`)[0]!.pid));
		expect(new Set(pids).size).toBe(50);
		// A start barrier: all 50 transactions are open before any of them enqueues, then all go at once.
		let release!: () => void;
		const start = new Promise<void>((resolve) => (release = resolve));
		let ready = 0;
		const calls = connections.map(async (conn, i) => {
			await conn`begin`;
			if (++ready === connections.length) release();
			await start;
			const id = await enqueueJob(conn as never, 'generate-image', { payload: { caller: i }, dedupeKey: 'generation:42' });
			await conn`commit`;
			return id;
		});
		const ids = await Promise.all(calls);
		expect(ids).toHaveLength(50);
		expect(new Set(ids).size).toBe(1);
		expect(await countWithKey('generation:42')).toEqual({ all: 1, live: 1 });
		const [{ total }] = (await q.sql`select count(*)::int as total from job_queue`) as unknown as [{ total: number }];
		expect(total).toBe(1);
		expect((await getJob(q.sql, ids[0]!)).dedupe_key).toBe('generation:42');
	} finally {
		for (const c of connections) c.release();
	}
});

test('the key holds while the job is pending or running, and is released once it completes', async () => {
	const first = await enqueueJob(q.sql, 'dd', { dedupeKey: 'k1' });
	expect(await enqueueJob(q.sql, 'dd', { dedupeKey: 'k1', payload: { other: true } })).toBe(first);
	const [job] = await claimJobs(q.sql, { workerId: 'w' });
	expect(job!.id).toBe(first);
	expect(await enqueueJob(q.sql, 'dd', { dedupeKey: 'k1' })).toBe(first); // running
	await failJob(q.sql, { jobId: first, workerId: 'w', claimCount: 1 }, { message: 'retry me' });
	expect(await enqueueJob(q.sql, 'dd', { dedupeKey: 'k1' })).toBe(first); // in backoff
	await q.sql`update job_queue set scheduled_at = now() where id = ${first}`;
	const [again] = await claimJobs(q.sql, { workerId: 'w' });
	expect(await completeJob(q.sql, { jobId: first, workerId: 'w', claimCount: again!.claim_count })).toBe(true);

	const second = await enqueueJob(q.sql, 'dd', { dedupeKey: 'k1' });
	expect(second).not.toBe(first);
	expect(await countWithKey('k1')).toEqual({ all: 2, live: 1 });
	expect((await getJob(q.sql, first)).payload).toEqual({}); // the duplicate's payload was not applied
});

test('failed and cancelled jobs release their key too', async () => {
	const cancelled = await enqueueJob(q.sql, 'dd', { dedupeKey: 'k2' });
	await cancelJob(q.sql, cancelled);
	const failed = await enqueueJob(q.sql, 'dd', { dedupeKey: 'k2', maxAttempts: 1 });
	expect(failed).not.toBe(cancelled);
	const [job] = await claimJobs(q.sql, { workerId: 'w' });
	await failJob(q.sql, { jobId: job!.id, workerId: 'w', claimCount: 1 }, { message: 'no' });
	expect((await getJob(q.sql, failed)).status).toBe('failed');
	const third = await enqueueJob(q.sql, 'dd', { dedupeKey: 'k2' });
	expect([cancelled, failed]).not.toContain(third);
	expect(await countWithKey('k2')).toEqual({ all: 3, live: 1 });
});

test('different keys and no key never collide', async () => {
	const a = await enqueueJob(q.sql, 'dd', { dedupeKey: 'a' });
	const b = await enqueueJob(q.sql, 'dd', { dedupeKey: 'b' });
	const n1 = await enqueueJob(q.sql, 'dd');
	const n2 = await enqueueJob(q.sql, 'dd');
	expect(new Set([a, b, n1, n2]).size).toBe(4);
});

test('50 concurrent enqueues racing a completion of the key holder: never two live jobs', async () => {
	const holder = await enqueueJob(q.sql, 'dd', { dedupeKey: 'k3' });
	const [job] = await claimJobs(q.sql, { workerId: 'w' });
	expect(job!.id).toBe(holder);
	const calls = Array.from({ length: 50 }, (_, i) =>
		i === 25
			? completeJob(q.sql, { jobId: holder, workerId: 'w', claimCount: 1 }).then(() => holder)
			: enqueueJob(q.sql, 'dd', { dedupeKey: 'k3' })
	);
	const ids = await Promise.all(calls);
	const counts = await countWithKey('k3');
	expect(counts.live).toBeLessThanOrEqual(1);
	// Every call got the id of a job with that key: the holder, or the one successor made after it completed.
	const withKey = await q.sql<{ id: string }[]>`select id from job_queue where dedupe_key = 'k3'`;
	expect([...new Set(ids)].sort()).toEqual(withKey.map((r) => r.id).sort());
	expect(counts.all).toBeLessThanOrEqual(2);
});
