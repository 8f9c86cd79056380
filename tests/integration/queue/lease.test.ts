// Leases and fencing: a worker that lost its job can change nothing; reaping, snooze, heartbeat,
// cancel while running.
import { describe, expect, test } from 'vitest';
import {
	cancelJob,
	claimJobs,
	completeJob,
	completeJobs,
	failJob,
	heartbeatJobs,
	reapExpiredJobs,
	snoozeJob,
	type Claim,
	type Job
} from '$lib/server/queue';
import {
	enqueueAndClaim,
	expireLease,
	getJob,
	makeDue,
	rejection,
	rowSnapshot,
	secondsBetween,
	useQueueDatabase
} from '../../support/queue';

const q = useQueueDatabase();

const claimOf = (job: Job): Claim => ({ jobId: job.id, workerId: job.locked_by!, claimCount: job.claim_count });

/** Every call a stale worker could make with its old claim: each must be refused. */
const staleCalls: Array<[string, (claim: Claim) => Promise<boolean>]> = [
	['complete', (c) => completeJob(q.sql, c)],
	['complete (batch)', async (c) => (await completeJobs(q.sql, c.workerId, [c])).has(c.jobId)],
	['fail', (c) => failJob(q.sql, c, { message: 'stale failure' })],
	['fail (permanent)', (c) => failJob(q.sql, c, { message: 'stale failure', permanent: true })],
	['snooze', (c) => snoozeJob(q.sql, c, 60)],
	['heartbeat', async (c) => (await heartbeatJobs(q.sql, c.workerId, [c], 300)).has(c.jobId)]
];

describe('fencing: a call after the lease was lost is refused and changes nothing', () => {
	test.each(staleCalls)('%s after expiry, reaping and a reclaim by another worker', async (_name, call) => {
		const first = await enqueueAndClaim(q.sql, 'fenced', 'worker-a', { maxAttempts: 3 });
		await expireLease(q.sql, first.id);
		expect(await reapExpiredJobs(q.sql)).toBe(1);
		const [second] = await claimJobs(q.sql, { workerId: 'worker-b' });
		expect(second).toMatchObject({ id: first.id, attempts: 2, locked_by: 'worker-b' });
		const before = await rowSnapshot(q.sql, first.id);
		expect(await call(claimOf(first))).toBe(false);
		expect(await rowSnapshot(q.sql, first.id)).toBe(before);
		// The new holder is unaffected and can still finish.
		expect(await completeJob(q.sql, claimOf(second!))).toBe(true);
	});

	test.each(staleCalls)('%s after reaping, before anyone reclaimed it', async (_name, call) => {
		const job = await enqueueAndClaim(q.sql, 'fenced', 'worker-a');
		await expireLease(q.sql, job.id);
		expect(await reapExpiredJobs(q.sql)).toBe(1);
		const before = await rowSnapshot(q.sql, job.id);
		expect(await call(claimOf(job))).toBe(false);
		expect(await rowSnapshot(q.sql, job.id)).toBe(before);
	});

	test.each(staleCalls.filter(([name]) => name !== 'heartbeat'))(
		'%s by the same worker id for an earlier attempt of the job',
		async (_name, call) => {
			const first = await enqueueAndClaim(q.sql, 'fenced', 'worker-a');
			await expireLease(q.sql, first.id);
			await reapExpiredJobs(q.sql);
			const [again] = await claimJobs(q.sql, { workerId: 'worker-a' });
			expect(again).toMatchObject({ id: first.id, attempts: 2, locked_by: 'worker-a' });
			const before = await rowSnapshot(q.sql, first.id);
			expect(await call(claimOf(first))).toBe(false);
			expect(await rowSnapshot(q.sql, first.id)).toBe(before);
		}
	);

	test('the seed-style unfenced complete_job still cannot touch a job that is not running', async () => {
		const job = await enqueueAndClaim(q.sql, 'fenced', 'worker-a');
		await completeJob(q.sql, claimOf(job));
		const before = await rowSnapshot(q.sql, job.id);
		const [row] = await q.sql`select complete_job(${job.id}, false, 'late', null) as ok`;
		expect(row!.ok).toBe(false);
		expect(await rowSnapshot(q.sql, job.id)).toBe(before);
	});
});

describe('reaping expired leases', () => {
	test('an expired lease goes back to pending, the attempt counted; live leases are left alone', async () => {
		const dead = await enqueueAndClaim(q.sql, 'reap-dead', 'crashed', { maxAttempts: 3 });
		const alive = await enqueueAndClaim(q.sql, 'reap-alive', 'healthy');
		await expireLease(q.sql, dead.id);
		const aliveBefore = await rowSnapshot(q.sql, alive.id);
		expect(await reapExpiredJobs(q.sql)).toBe(1);
		const reaped = await getJob(q.sql, dead.id);
		expect(reaped).toMatchObject({ status: 'pending', attempts: 1, locked_by: null, locked_until: null, completed_at: null });
		expect(reaped.error_message).toMatch(/lease expired.*crashed/);
		expect(reaped.error_details).toMatchObject({ reason: 'lease_expired', locked_by: 'crashed', attempt: 1 });
		expect(reaped.scheduled_at.getTime()).toBeLessThanOrEqual(reaped.updated_at.getTime());
		expect(await rowSnapshot(q.sql, alive.id)).toBe(aliveBefore);
		expect(await reapExpiredJobs(q.sql)).toBe(0);
		// Due at once: the next claim takes it, on its second attempt.
		const [next] = await claimJobs(q.sql, { workerId: 'rescuer', jobTypes: ['reap-dead'] });
		expect(next).toMatchObject({ id: dead.id, attempts: 2 });
	});

	test('an expired lease on the last attempt fails the job, the error kept', async () => {
		const job = await enqueueAndClaim(q.sql, 'reap-last', 'crashed', { maxAttempts: 1 });
		await expireLease(q.sql, job.id);
		expect(await reapExpiredJobs(q.sql)).toBe(1);
		const failed = await getJob(q.sql, job.id);
		expect(failed).toMatchObject({ status: 'failed', attempts: 1, locked_by: null });
		expect(failed.completed_at).toBeInstanceOf(Date);
		expect(failed.error_message).toMatch(/lease expired/);
		expect(await claimJobs(q.sql, { workerId: 'w' })).toEqual([]);
		const [recent] = await q.sql`select count(*)::int as n from failed_jobs_recent where id = ${job.id}`;
		expect(recent!.n).toBe(1);
	});
});

describe('snooze, heartbeat, cancel', () => {
	test('snooze gives the job back for later and spends no attempt', async () => {
		let job = await enqueueAndClaim(q.sql, 'long-prediction', 'w1', { maxAttempts: 1 });
		for (let round = 0; round < 5; round++) {
			expect(job.attempts).toBe(1);
			expect(await snoozeJob(q.sql, claimOf(job), 90)).toBe(true);
			const snoozed = await getJob(q.sql, job.id);
			expect(snoozed).toMatchObject({ status: 'pending', attempts: 0, locked_by: null, locked_until: null });
			expect(secondsBetween(snoozed.scheduled_at, snoozed.updated_at)).toBeCloseTo(90, 2);
			expect(await claimJobs(q.sql, { workerId: 'w1' })).toEqual([]);
			await makeDue(q.sql, job.id);
			[job] = (await claimJobs(q.sql, { workerId: 'w1' })) as [Job];
		}
		// Five snoozes on a one-attempt job and it still completes normally.
		expect(await completeJob(q.sql, claimOf(job))).toBe(true);
		expect((await getJob(q.sql, job.id)).status).toBe('completed');
	});

	test('a negative snooze is an error', async () => {
		const job = await enqueueAndClaim(q.sql, 'snooze-bad', 'w1');
		await expect(snoozeJob(q.sql, claimOf(job), -1)).rejects.toThrow(/delay_seconds must be zero or more/);
		expect((await getJob(q.sql, job.id)).status).toBe('processing');
	});

	test('heartbeat extends locked_until; another worker cannot', async () => {
		const job = await enqueueAndClaim(q.sql, 'beat', 'w1', { leaseSeconds: 30 });
		await q.sql`update job_queue set locked_until = now() + interval '2 seconds' where id = ${job.id}`;
		const held = await heartbeatJobs(q.sql, 'w1', [claimOf(job)], 120);
		expect([...held]).toEqual([job.id]);
		const [row] = await q.sql`select extract(epoch from locked_until - now())::float8 as left from job_queue where id = ${job.id}`;
		expect(row!.left).toBeGreaterThan(110);
		expect(row!.left).toBeLessThanOrEqual(120);
		const before = await rowSnapshot(q.sql, job.id);
		expect((await heartbeatJobs(q.sql, 'w2', [claimOf(job)], 600)).size).toBe(0);
		expect(await rowSnapshot(q.sql, job.id)).toBe(before);
		const [single] = await q.sql`select heartbeat_job(${job.id}, 'w1', 60) as ok`;
		expect(single!.ok).toBe(true);
		// A heartbeat keeps the reaper away.
		expect(await reapExpiredJobs(q.sql)).toBe(0);
	});

	test('a heartbeat with a null or non-positive lease is refused and changes nothing', async () => {
		const job = await enqueueAndClaim(q.sql, 'beat-bad', 'w1');
		const before = await rowSnapshot(q.sql, job.id);
		for (const lease of [null, 0, -5]) {
			const error = await rejection(q.sql`select * from heartbeat_jobs(${[job.id]}::uuid[], 'w1', ${lease}::int)`);
			expect(error.message).toMatch(/lease_seconds must be between 1 and 86400/);
		}
		expect(await rowSnapshot(q.sql, job.id)).toBe(before);
		// Still a lease the reaper can act on once it runs out.
		await expireLease(q.sql, job.id);
		expect(await reapExpiredJobs(q.sql)).toBe(1);
	});

	test('cancel_job on a running job: its heartbeat returns nothing and its completion is refused', async () => {
		const job = await enqueueAndClaim(q.sql, 'cancel-me', 'w1');
		const other = await enqueueAndClaim(q.sql, 'keep-me', 'w1');
		expect(await cancelJob(q.sql, job.id, 'cancelled by user')).toBe(true);
		const held = await heartbeatJobs(q.sql, 'w1', [claimOf(job), claimOf(other)], 30);
		expect([...held]).toEqual([other.id]);
		const before = await rowSnapshot(q.sql, job.id);
		expect(await completeJob(q.sql, claimOf(job))).toBe(false);
		expect(await failJob(q.sql, claimOf(job), { message: 'aborted' })).toBe(false);
		expect(await rowSnapshot(q.sql, job.id)).toBe(before);
		expect(await getJob(q.sql, job.id)).toMatchObject({ status: 'cancelled', locked_by: null, error_message: 'cancelled by user' });
	});
});

test('stuck_jobs shows a running job whose lease expired and one started 11 minutes ago, not a healthy one', async () => {
	const expired = await enqueueAndClaim(q.sql, 'stuck-lease', 'w1');
	const slow = await enqueueAndClaim(q.sql, 'stuck-slow', 'w1', { leaseSeconds: 3600 });
	const healthy = await enqueueAndClaim(q.sql, 'healthy', 'w1');
	await expireLease(q.sql, expired.id);
	await q.sql`update job_queue set started_at = now() - interval '11 minutes' where id = ${slow.id}`;
	const rows = await q.sql`select id, lease_expired, running_for >= interval '11 minutes' as long from stuck_jobs order by job_type`;
	expect(rows).toEqual([
		{ id: expired.id, lease_expired: true, long: false },
		{ id: slow.id, lease_expired: false, long: true }
	]);
	expect(rows.map((r) => r.id)).not.toContain(healthy.id);
});

describe('a claim is fenced even when the same worker claims the job again', () => {
	test('cancelled, retried and reclaimed by the same worker: the old claim is still refused', async () => {
		const first = await enqueueAndClaim(q.sql, 'same-worker', 'worker-a');
		const stale = claimOf(first);
		expect(await cancelJob(q.sql, first.id)).toBe(true);
		await q.sql`select retry_job(${first.id})`;
		const [again] = await claimJobs(q.sql, { workerId: stale.workerId, jobTypes: ['same-worker'] });
		expect(again!.id).toBe(first.id);
		expect(again!.attempts).toBe(stale.claimCount); // attempts was reset: it alone cannot tell the claims apart
		const before = await rowSnapshot(q.sql, first.id);
		for (const [, callStale] of staleCalls) expect(await callStale(stale)).toBe(false);
		expect(await rowSnapshot(q.sql, first.id)).toEqual(before);
		expect(await completeJob(q.sql, claimOf(again!))).toBe(true);
	});
});
