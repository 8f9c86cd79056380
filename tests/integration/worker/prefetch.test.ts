// The pool's prefetch buffer: jobs claimed ahead of free slots are held under lease like running
// ones, never start once they are no longer ours, and go back unstarted with their attempt refunded.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { cancelJob, claimJobs, enqueueJob, reapExpiredJobs, releaseJobs } from '$lib/server/queue';
import { ContinuousWorker } from '$lib/server/worker/continuous';
import { WorkerPool } from '$lib/server/worker/pool';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { deferred, eventually } from '../../support/services';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase({ max: 20 });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from job_queue`;
});

const row = async (id: string) => (await db.sql`select * from job_queue where id = ${id}`)[0]!;

/** A pool of one slot whose first job blocks until `gate` resolves; every start is recorded. */
function blockedPool(options: { prefetch: number; leaseSeconds?: number; heartbeatMs?: number; recheckMs?: number }) {
	const gate = deferred();
	const started: string[] = [];
	const pool = new WorkerPool({
		sql: db.sql,
		concurrency: 1,
		batchSize: options.prefetch + 1,
		prefetch: options.prefetch,
		leaseSeconds: options.leaseSeconds ?? 30,
		heartbeatMs: options.heartbeatMs ?? 60_000,
		recheckMs: options.recheckMs,
		handlers: {
			work: async (job) => {
				started.push(job.id);
				if (started.length === 1) await gate.promise;
			}
		}
	});
	return { pool, gate, started };
}

async function enqueueInOrder(n: number): Promise<string[]> {
	const ids: string[] = [];
	// Distinct priorities fix the claim order, so the test knows which job runs first.
	for (let i = 0; i < n; i++) ids.push(await enqueueJob(db.sql, 'work', { priority: n - i, payload: { i } }));
	return ids;
}

describe('release_jobs', () => {
	test('gives back only what this worker still holds under this claim, refunding the attempt', async () => {
		const [a, b, c] = await enqueueInOrder(3);
		const claimed = await claimJobs(db.sql, { workerId: 'w1', limit: 3, jobTypes: ['work'] });
		const count = (id: string) => claimed.find((j) => j.id === id)!.claim_count;
		const given = await releaseJobs(db.sql, 'w1', [
			{ jobId: a!, claimCount: count(a!) },
			{ jobId: b!, claimCount: count(b!) + 1 } // a stale or future claim: refused
		]);
		expect([...given]).toEqual([a]);
		expect(await releaseJobs(db.sql, 'w2', [{ jobId: c!, claimCount: count(c!) }])).toEqual(new Set()); // not w2's
		expect(await row(a!)).toMatchObject({ status: 'pending', attempts: 0, claim_count: 1, locked_by: null });
		for (const id of [b!, c!]) expect(await row(id)).toMatchObject({ status: 'processing', attempts: 1, locked_by: 'w1' });
		// Released twice: the second call finds nothing to give back.
		expect(await releaseJobs(db.sql, 'w1', [{ jobId: a!, claimCount: count(a!) }])).toEqual(new Set());
	});
});

describe('prefetch buffer', () => {
	test('stop() gives buffered jobs back unstarted, attempts unchanged, and lets the running one finish', async () => {
		const ids = await enqueueInOrder(4);
		const { pool, gate, started } = blockedPool({ prefetch: 3 });
		expect(await pool.fill()).toBe(4);
		expect([pool.size, pool.buffered]).toEqual([1, 3]);
		for (const id of ids) expect((await row(id)).status).toBe('processing');

		const stopping = pool.stop(10_000);
		gate.resolve();
		expect(await stopping).toBe(3);
		expect(started).toEqual([ids[0]]);
		expect(await row(ids[0]!)).toMatchObject({ status: 'completed', attempts: 1 });
		for (const id of ids.slice(1)) {
			// Pending again in place, no attempt spent; the claim itself stays counted, and since 0029 the
			// job page's log names it as given back (not counted), so claim 1 is not a try with no trace.
			expect(await row(id)).toMatchObject({ status: 'pending', attempts: 0, claim_count: 1, started_at: null, locked_by: null, locked_until: null });
			expect((await row(id)).attempt_log).toEqual([expect.objectContaining({ claim: 1, outcome: 'released', counted: false, next: 'retry' })]);
		}
	});

	test('the heartbeat renews buffered leases, and drops a buffered job cancelled meanwhile', async () => {
		const ids = await enqueueInOrder(3);
		const { pool, gate, started } = blockedPool({ prefetch: 2, leaseSeconds: 5, heartbeatMs: 50 });
		await pool.fill();
		const before = (await row(ids[2]!)).locked_until as Date;
		await eventually(async () => ((await row(ids[2]!)).locked_until as Date) > before);
		expect(await cancelJob(db.sql, ids[1]!, 'not wanted')).toBe(true);
		await eventually(async () => pool.buffered === 1);
		gate.resolve();
		await eventually(async () => pool.counts.processed === 2);
		expect(started).toEqual([ids[0], ids[2]]);
		expect(await row(ids[1]!)).toMatchObject({ status: 'cancelled', attempts: 1 });
		await pool.stop(1000);
	});

	test('a buffered job cancelled between heartbeats is confirmed before it starts, and never runs', async () => {
		const ids = await enqueueInOrder(3);
		// No heartbeat during the test; recheckMs 0: every buffered job is confirmed before it starts.
		const { pool, gate, started } = blockedPool({ prefetch: 2, recheckMs: 0 });
		await pool.fill();
		expect(await cancelJob(db.sql, ids[1]!, 'not wanted')).toBe(true);
		gate.resolve();
		await eventually(async () => pool.counts.processed === 2);
		expect(started).toEqual([ids[0], ids[2]]);
		expect(pool.buffered).toBe(0);
		expect((await row(ids[1]!)).status).toBe('cancelled');
		await pool.stop(1000);
	});

	test('a buffered job whose lease ran out and that another worker reclaimed is not started (fencing)', async () => {
		const ids = await enqueueInOrder(2);
		const { pool, gate, started } = blockedPool({ prefetch: 1, leaseSeconds: 1 });
		await pool.fill();
		const mine = await row(ids[1]!);
		expect(mine).toMatchObject({ status: 'processing', locked_by: pool.workerId, claim_count: 1 });
		// Nobody renews it (no heartbeat): it expires, is reaped and claimed by someone else.
		await eventually(async () => (await reapExpiredJobs(db.sql)) > 0 && (await row(ids[1]!)).status === 'pending', 5_000);
		// The running job expired too (nothing renewed it): the other worker takes both.
		const theirs = await claimJobs(db.sql, { workerId: 'other-worker', limit: 2, jobTypes: ['work'], leaseSeconds: 30 });
		expect(theirs.map((j) => j.id).sort()).toEqual([...ids].sort());
		gate.resolve();
		await eventually(async () => pool.size === 0 && pool.buffered === 0);
		expect(started).toEqual([ids[0]]);
		expect(pool.counts.processed).toBe(0); // its late completion of the first job was refused too
		// Still the other worker's claim, untouched: A's late calls were all refused.
		expect(await row(ids[1]!)).toMatchObject({ status: 'processing', locked_by: 'other-worker', claim_count: 2, attempts: 2 });
		await pool.stop(1000);
	});

	test('exact attempts across a stop with a full buffer and a restart: every job runs once, attempts 1', async () => {
		const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => enqueueJob(db.sql, 'work', { payload: { i } })));
		const hold = deferred();
		const first = new ContinuousWorker({
			sql: db.sql, concurrency: 2, batchSize: 4, leaseSeconds: 30, pollMs: 60_000, listen: false, trigger: 'manual',
			handlers: { work: ({}, { signal }) => new Promise((_, reject) => { signal.addEventListener('abort', () => reject(signal.reason)); void hold.promise; }) }
		});
		await first.start();
		await eventually(async () => first.pool.size === 2 && first.pool.buffered === 4);
		await first.stop(0);
		const states = await db.sql`select status, attempts, count(*)::int as n from job_queue group by 1, 2`;
		expect(states).toEqual([{ status: 'pending', attempts: 0, n: 30 }]);

		const runs = new Map<string, number>();
		const second = new ContinuousWorker({
			sql: db.sql, concurrency: 3, batchSize: 5, leaseSeconds: 30, pollMs: 60_000, listen: false, trigger: 'manual',
			handlers: { work: async (job) => void runs.set(job.id, (runs.get(job.id) ?? 0) + 1) }
		});
		await second.start();
		await eventually(async () => second.pool.counts.processed === 30);
		await second.stop(1000);
		expect([...runs.values()].every((n) => n === 1)).toBe(true);
		expect(runs.size).toBe(30);
		const done = await db.sql`select status, attempts, count(*)::int as n from job_queue where id = any(${ids}::uuid[]) group by 1, 2`;
		expect(done).toEqual([{ status: 'completed', attempts: 1, n: 30 }]);
	});
});
