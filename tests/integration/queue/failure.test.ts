// Failure: retry with exponential backoff and jitter, then failed with the error kept; permanent
// failures; Retry-After; admin retry.
import { expect, test } from 'vitest';
import { claimJobs, failJob, retryJob, type Job } from '$lib/server/queue';
import { enqueueAndClaim, getJob, makeDue, secondsBetween, useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase();

async function claimById(id: string, workerId: string): Promise<Job> {
	const jobs = await claimJobs(q.sql, { workerId, limit: 10 });
	expect(jobs.map((j) => j.id)).toEqual([id]);
	return jobs[0]!;
}

test('failure -> pending with growing backoff -> ... -> failed after max_attempts, error kept', async () => {
	let job = await enqueueAndClaim(q.sql, 'flaky', 'w1', { maxAttempts: 4, payload: { p: 1 } });
	const firstStartedAt = job.started_at!;
	for (let attempt = 1; attempt <= 3; attempt++) {
		expect(job.attempts).toBe(attempt);
		const ok = await failJob(q.sql, { jobId: job.id, workerId: 'w1', claimCount: attempt }, {
			message: `boom ${attempt}`,
			details: { attempt, code: 'E_TIMEOUT' }
		});
		expect(ok).toBe(true);
		const after = await getJob(q.sql, job.id);
		expect(after).toMatchObject({
			status: 'pending',
			attempts: attempt,
			error_message: `boom ${attempt}`,
			error_details: { attempt, code: 'E_TIMEOUT' },
			completed_at: null,
			locked_by: null,
			locked_until: null
		});
		// updated_at is the now() of the failing statement: the delay is exact, not clock-skewed.
		const delay = secondsBetween(after.scheduled_at, after.updated_at);
		const nominal = 5 * 2 ** (attempt - 1);
		expect(delay).toBeGreaterThanOrEqual(nominal * 0.8 - 0.001);
		expect(delay).toBeLessThanOrEqual(nominal * 1.2 + 0.001);
		// In backoff: nobody may claim it yet.
		expect(await claimJobs(q.sql, { workerId: 'w2', limit: 10 })).toEqual([]);
		await makeDue(q.sql, job.id);
		job = await claimById(job.id, 'w1');
	}
	expect(job.attempts).toBe(4);
	const scheduledBefore = (await getJob(q.sql, job.id)).scheduled_at;
	expect(await failJob(q.sql, { jobId: job.id, workerId: 'w1', claimCount: 4 }, {
		message: 'final boom',
		details: { attempt: 4, stack: 'Error: final boom\n    at handler' }
	})).toBe(true);
	const failed = await getJob(q.sql, job.id);
	expect(failed).toMatchObject({
		status: 'failed',
		attempts: 4,
		max_attempts: 4,
		error_message: 'final boom',
		error_details: { attempt: 4, stack: 'Error: final boom\n    at handler' },
		locked_by: null,
		locked_until: null,
		payload: { p: 1 }
	});
	expect(failed.completed_at).toBeInstanceOf(Date);
	expect(failed.completed_at!.getTime()).toBe(failed.updated_at.getTime());
	expect(failed.scheduled_at.getTime()).toBe(scheduledBefore.getTime());
	expect(failed.started_at!.getTime()).toBeGreaterThanOrEqual(firstStartedAt.getTime());
	await makeDue(q.sql, job.id);
	expect(await claimJobs(q.sql, { workerId: 'w2', limit: 10 })).toEqual([]);
	const recent = await q.sql`select id, error_message, attempts from failed_jobs_recent`;
	expect(recent).toEqual([{ id: job.id, error_message: 'final boom', attempts: 4 }]);
});

test('a permanent failure fails at once, with attempts left', async () => {
	const job = await enqueueAndClaim(q.sql, 'bad-input', 'w1', { maxAttempts: 5 });
	const ok = await failJob(q.sql, { jobId: job.id, workerId: 'w1', claimCount: 1 }, {
		message: 'unknown model: nope/nope',
		details: { kind: 'validation' },
		permanent: true
	});
	expect(ok).toBe(true);
	const after = await getJob(q.sql, job.id);
	expect(after).toMatchObject({
		status: 'failed',
		attempts: 1,
		error_message: 'unknown model: nope/nope',
		error_details: { kind: 'validation' }
	});
	expect(after.completed_at).toBeInstanceOf(Date);
	expect(await claimJobs(q.sql, { workerId: 'w2' })).toEqual([]);
});

test('the seed-style unfenced complete_job(id, false, message, details) also records a failure', async () => {
	const job = await enqueueAndClaim(q.sql, 'seed-style', 'w1', { maxAttempts: 1 });
	const [row] = await q.sql`select complete_job(${job.id}, false, 'Replicate API token not configured',
		'{"status": 401}'::jsonb) as ok`;
	expect(row!.ok).toBe(true);
	expect(await getJob(q.sql, job.id)).toMatchObject({
		status: 'failed',
		error_message: 'Replicate API token not configured',
		error_details: { status: 401 }
	});
	// And a second call for a job that is no longer running is refused.
	const [again] = await q.sql`select complete_job(${job.id}, true) as ok`;
	expect(again!.ok).toBe(false);
	expect((await getJob(q.sql, job.id)).status).toBe('failed');
});

test('p_retry_after_seconds replaces the computed backoff', async () => {
	const job = await enqueueAndClaim(q.sql, 'rate-limited', 'w1');
	expect(await failJob(q.sql, { jobId: job.id, workerId: 'w1', claimCount: 1 }, {
		message: 'HTTP 429',
		retryAfterSeconds: 120
	})).toBe(true);
	const after = await getJob(q.sql, job.id);
	expect(after.status).toBe('pending');
	expect(secondsBetween(after.scheduled_at, after.updated_at)).toBeCloseTo(120, 2);

	// Retry-After applies only while attempts remain: on the last attempt the job fails.
	await makeDue(q.sql, job.id);
	await claimById(job.id, 'w1');
	await q.sql`update job_queue set max_attempts = 2 where id = ${job.id}`;
	expect(await failJob(q.sql, { jobId: job.id, workerId: 'w1', claimCount: 2 }, {
		message: 'HTTP 429 again',
		retryAfterSeconds: 120
	})).toBe(true);
	expect((await getJob(q.sql, job.id)).status).toBe('failed');
});

test('a failure with no message still keeps an error message', async () => {
	const job = await enqueueAndClaim(q.sql, 'quiet', 'w1');
	const [row] = await q.sql`select complete_job(${job.id}, false, null, null, 'w1', 1) as ok`;
	expect(row!.ok).toBe(true);
	expect((await getJob(q.sql, job.id)).error_message).toBe('job failed without a message');
});

test('compute_backoff: 5 s x 2^(n-1) +/- 20%, jittered, capped at an hour', async () => {
	const rows = await q.sql<{ n: number; min: number; max: number; distinct: number }[]>`
		select n,
		       min(extract(epoch from compute_backoff(n)))::float8 as min,
		       max(extract(epoch from compute_backoff(n)))::float8 as max,
		       count(distinct compute_backoff(n))::int as distinct
		from generate_series(1, 14) n, generate_series(1, 200) i
		group by n order by n`;
	for (const row of rows) {
		const nominal = Math.min(3600, 5 * 2 ** (row.n - 1));
		expect(row.min, `attempt ${row.n}`).toBeGreaterThanOrEqual(nominal * 0.8);
		expect(row.max, `attempt ${row.n}`).toBeLessThanOrEqual(nominal * 1.2);
		expect(row.distinct, `attempt ${row.n} is jittered`).toBeGreaterThan(150);
	}
	const [cap] = await q.sql`select extract(epoch from compute_backoff(1000))::float8 as s`;
	expect(cap!.s).toBeGreaterThanOrEqual(3600 * 0.8);
	expect(cap!.s).toBeLessThanOrEqual(3600 * 1.2);
});

test('retry_job puts a failed job back as pending with attempts 0; only failed or cancelled jobs', async () => {
	const job = await enqueueAndClaim(q.sql, 'retry-me', 'w1', { maxAttempts: 1 });
	expect(await retryJob(q.sql, job.id)).toBe(false); // still running
	await failJob(q.sql, { jobId: job.id, workerId: 'w1', claimCount: 1 }, { message: 'boom' });
	expect((await getJob(q.sql, job.id)).status).toBe('failed');
	expect(await retryJob(q.sql, job.id)).toBe(true);
	const retried = await getJob(q.sql, job.id);
	expect(retried).toMatchObject({ status: 'pending', attempts: 0, completed_at: null, started_at: null });
	expect(retried.scheduled_at.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
	expect(await retryJob(q.sql, job.id)).toBe(false); // pending: nothing to retry
	const again = await claimById(job.id, 'w2');
	expect(again.attempts).toBe(1);
});
