// Every attempt of a job (0018's attempt_log) through the real queue functions: failures, reaped
// leases, resets and operator retries each leave one entry with their worker, times and error; the
// claim, heartbeats and successful completion leave none; a stale worker's late call leaves none;
// the log keeps the last 25. Then the job page shows them, oldest first, in words.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { consoleActor, consoleReader } from '$lib/server/console/access';
import { changeJob } from '$lib/server/console/job-actions';
import { getJob } from '$lib/server/console/jobs';
import { resetStuck } from '$lib/server/console/stuck';
import { cancelJob, claimJobs, completeJobs, enqueueJob, failJob, heartbeatJobs, reapExpiredJobs, releaseJobs, snoozeJob, type Claim } from '$lib/server/queue';
import type { Services } from '$lib/server/runtime';
import { describeError, PermanentJobError } from '$lib/server/worker/errors';
import { load as loadJob } from '$routes/admin/jobs/[id]/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { loadPage } from '../../support/console-jobs';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	admin = await signedInUser(services, { admin: true });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from job_queue`;
});

const log = async (id: string) => (await db.sql<{ attempt_log: Record<string, unknown>[] }[]>`select attempt_log from job_queue where id = ${id}`)[0]!.attempt_log;
const row = async (id: string) => (await db.sql`select status, attempts, claim_count, error_message, attempt_log from job_queue where id = ${id}`)[0]!;
/** Claims the one due job as `worker`, making it due first (a retry's backoff is not waited out). */
async function claim(id: string, worker: string): Promise<Claim> {
	await db.sql`update job_queue set scheduled_at = now() where id = ${id} and status = 'pending'`;
	const [job] = await claimJobs(db.sql, { workerId: worker, limit: 1, leaseSeconds: 30 });
	expect(job?.id).toBe(id);
	return { jobId: id, workerId: worker, claimCount: job!.claim_count };
}
const boom = (message: string) => describeError(new Error(message));

describe('what is written, and when', () => {
	test('a failure logs its attempt: worker, claim, start, end, error and stack; the retry time is the one the job got', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		const first = await claim(id, 'worker-a');
		const failure = boom('the provider answered 502');
		expect(await failJob(db.sql, first, failure)).toBe(true);
		const [entry] = await log(id);
		const [job] = await db.sql`select scheduled_at, started_at from job_queue where id = ${id}`;
		expect(entry).toMatchObject({
			kind: 'attempt', attempt: 1, claim: 1, worker: 'worker-a', outcome: 'error', error: 'the provider answered 502',
			permanent: false, counted: true, next: 'retry'
		});
		expect((entry!.details as { stack: string }).stack).toContain('the provider answered 502');
		expect(new Date(entry!.started_at as string).getTime()).toBe(job!.started_at.getTime());
		expect(new Date(entry!.retry_at as string).getTime()).toBe(job!.scheduled_at.getTime());
		expect(new Date(entry!.ended_at as string).getTime()).toBeGreaterThanOrEqual(job!.started_at.getTime());
	});

	test('the claim, heartbeats, a snooze and a successful completion write nothing to the log', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		await failJob(db.sql, await claim(id, 'worker-a'), boom('once'));
		const before = await log(id);
		const second = await claim(id, 'worker-b');
		expect(await heartbeatJobs(db.sql, 'worker-b', [second], 30)).toEqual(new Set([id]));
		expect(await snoozeJob(db.sql, second, 0)).toBe(true);
		const third = await claim(id, 'worker-c');
		expect(await completeJobs(db.sql, 'worker-c', [third])).toEqual(new Set([id]));
		expect(await log(id)).toEqual(before);
		expect(await row(id)).toMatchObject({ status: 'completed', attempts: 2, claim_count: 3 });
	});

	test("a stale worker's late failure changes nothing, its log included", async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		const stale = await claim(id, 'worker-a');
		await db.sql`update job_queue set locked_until = now() - interval '1 second' where id = ${id}`;
		expect(await reapExpiredJobs(db.sql)).toBe(1);
		const fresh = await claim(id, 'worker-b');
		const before = await row(id);
		expect(await failJob(db.sql, stale, boom('too late'))).toBe(false);
		// Same worker name, older claim: still refused.
		expect(await failJob(db.sql, { ...fresh, claimCount: stale.claimCount }, boom('too late'))).toBe(false);
		expect(await row(id)).toEqual(before);
	});

	test('a reaped lease logs the abandoned attempt with its worker and when its lease ran out', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 1 });
		await claim(id, 'worker-killed');
		const [{ locked_until }] = (await db.sql`update job_queue set locked_until = now() - interval '5 seconds' where id = ${id} returning locked_until`) as unknown as [{ locked_until: Date }];
		expect(await reapExpiredJobs(db.sql)).toBe(1);
		const [entry] = await log(id);
		expect(entry).toMatchObject({ outcome: 'lease_expired', worker: 'worker-killed', attempt: 1, claim: 1, next: 'failed', retry_at: null });
		expect(new Date(entry!.ended_at as string).getTime()).toBe(locked_until.getTime());
		expect(entry!.reaped_at).toEqual(expect.any(String));
		expect((await row(id)).status).toBe('failed');
	});

	test('a permanent failure says so and fails at once', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 5 });
		await failJob(db.sql, await claim(id, 'worker-a'), { ...describeError(new PermanentJobError('bad input')), permanent: true });
		expect(await log(id)).toEqual([expect.objectContaining({ permanent: true, next: 'failed', error: 'bad input' })]);
		expect((await row(id)).status).toBe('failed');
	});

	test("an operator's retry marks where attempts start again; a reset from the Stuck page is logged as not counted", async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 1 });
		await failJob(db.sql, await claim(id, 'worker-a'), boom('first run'));
		await changeJob(consoleActor(admin.user), db.sql, 'retry', id);
		await claim(id, 'worker-stuck');
		await db.sql`update job_queue set locked_until = now() - interval '1 second' where id = ${id}`;
		expect(await resetStuck(consoleActor(admin.user), db.sql, [id])).toBe(1);
		expect((await log(id)).map((e) => [e.kind, e.outcome ?? e.from_status, e.attempt ?? e.attempts, e.counted ?? null])).toEqual([
			['attempt', 'error', 1, true],
			['retry', 'failed', 1, null],
			['attempt', 'reset', 1, false]
		]);
		expect(await row(id)).toMatchObject({ status: 'pending', attempts: 0, claim_count: 2 });
	});

	test('a job failing forever keeps only its last 25 entries', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 100 });
		for (let i = 1; i <= 30; i++) await failJob(db.sql, await claim(id, `worker-${i}`), boom(`failure ${i}`));
		const entries = await log(id);
		expect(entries).toHaveLength(25);
		expect(entries[0]).toMatchObject({ attempt: 6, error: 'failure 6' });
		expect(entries.at(-1)).toMatchObject({ attempt: 30, error: 'failure 30' });
		const detail = await getJob(consoleReader(admin.user), db.sql, id);
		expect(detail.logFull).toBe(true);
	});

	test('huge error details are cut to an excerpt, and a huge message to 2,000 characters', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		await failJob(db.sql, await claim(id, 'worker-a'), { message: 'm'.repeat(50_000), details: { blob: 'x'.repeat(100_000) } });
		const [entry] = await log(id);
		expect((entry!.error as string).length).toBe(2000);
		expect(entry!.details).toEqual({ truncated: true, excerpt: expect.any(String) });
		expect(JSON.stringify(entry).length).toBeLessThan(7000);
		// The job's own last error keeps what the seed's columns always kept.
		expect((await row(id)).error_message).toHaveLength(50_000);
	});
});

describe('the job page', () => {
	test('three attempts: two failures (one reaped) and the success, oldest first, with the counts explained', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		await failJob(db.sql, await claim(id, 'worker-a'), boom('timed out after 30 s'));
		await claim(id, 'worker-b');
		await db.sql`update job_queue set locked_until = now() - interval '1 second' where id = ${id}`;
		await reapExpiredJobs(db.sql);
		const snoozed = await claim(id, 'worker-c');
		await snoozeJob(db.sql, snoozed, 0);
		const last = await claim(id, 'worker-c');
		await completeJobs(db.sql, 'worker-c', [last]);

		const page = await loadPage<any>(loadJob, services, admin.user, `/admin/jobs/${id}`, { id });
		expect(page.attempts.map((a: { outcome: string; attempt: number; worker: string | null }) => [a.outcome, a.attempt, a.worker])).toEqual([
			['error', 1, 'worker-a'],
			['lease_expired', 2, 'worker-b'],
			['succeeded', 3, null]
		]);
		expect(page.attempts[0]).toMatchObject({ error: 'timed out after 30 s', stack: expect.stringContaining('Error: timed out after 30 s') });
		expect(page.attempts[0].durationSeconds).toBeGreaterThanOrEqual(0);
		expect(page.attempts[2]).toMatchObject({ claim: 4, note: expect.stringMatching(/keeps no worker/) });
		expect(page.job).toMatchObject({ attempts: 3, max_attempts: 3, claim_count: 4 });
		expect(page.summary.attempts).toMatch(/^The tries that counted towards its limit of 3\. A try that is snoozed or handed back costs none/);
		expect(page.summary.claims).toMatch(/^The times a worker took the job: every try, and also every snooze/);
	});

	test('a running attempt shows its worker; a handed-back one says it cost no attempt', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		await claim(id, 'worker-now');
		let page = await loadPage<any>(loadJob, services, admin.user, `/admin/jobs/${id}`, { id });
		expect(page.attempts).toEqual([expect.objectContaining({ outcome: 'running', worker: 'worker-now', attempt: 1 })]);
		await snoozeJob(db.sql, { jobId: id, workerId: 'worker-now', claimCount: 1 }, 60);
		page = await loadPage<any>(loadJob, services, admin.user, `/admin/jobs/${id}`, { id });
		expect(page.attempts).toEqual([expect.objectContaining({ outcome: 'handed_back', counted: false, retryAt: expect.any(String) })]);
	});

	test('a job from before attempts were kept shows its last error, saying only that one is known', async () => {
		const [{ id }] = (await db.sql`
			insert into job_queue (job_type, status, attempts, completed_at, error_message, error_details)
			values ('thumbnail', 'failed', 3, now(), 'old failure', '{"stack": "Error: old failure\\n    at somewhere"}') returning id`) as unknown as [{ id: string }];
		const page = await loadPage<any>(loadJob, services, admin.user, `/admin/jobs/${id}`, { id });
		expect(page.attempts).toEqual([
			expect.objectContaining({ outcome: 'error', error: 'old failure', stack: 'Error: old failure\n    at somewhere', note: expect.stringMatching(/Only the last error/) })
		]);
	});

	test('a cancelled job ends with its reason; a job never claimed has no attempts', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail');
		expect((await loadPage<any>(loadJob, services, admin.user, `/admin/jobs/${id}`, { id })).attempts).toEqual([]);
		await changeJob(consoleActor(admin.user), db.sql, 'cancel', id);
		const page = await loadPage<any>(loadJob, services, admin.user, `/admin/jobs/${id}`, { id });
		expect(page.attempts).toEqual([expect.objectContaining({ outcome: 'cancelled', error: `Cancelled by an administrator (${admin.email})` })]);
	});
});

// 0029: the two ways a try ended that left no trace before.
describe('a try cancelled while running, and a claim given back unstarted', () => {
	test('cancelling a running job logs the try it cut short: worker, start, end, reason; the page shows it once', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		await claim(id, 'worker-running');
		expect(await cancelJob(db.sql, id, 'Cancelled by an administrator')).toBe(true);
		const [entry] = await log(id);
		expect(entry).toMatchObject({
			kind: 'attempt', attempt: 1, claim: 1, worker: 'worker-running', outcome: 'cancelled',
			error: 'Cancelled by an administrator', counted: true, next: null
		});
		expect(Date.parse(entry!.ended_at as string)).toBeGreaterThanOrEqual(Date.parse(entry!.started_at as string));
		const detail = await getJob(consoleReader(admin.user), db.sql, id);
		expect(detail.attempts.map((a) => [a.outcome, a.worker])).toEqual([['cancelled', 'worker-running']]);
		expect(detail.attempts[0]!.startedAt).not.toBeNull();
		expect(detail.attempts[0]!.note).toMatch(/Cancelled while this try was running/);
	});

	test('cancelling a pending job logs nothing: the page shows the cancel alone', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		expect(await cancelJob(db.sql, id)).toBe(true);
		expect(await log(id)).toEqual([]);
		const detail = await getJob(consoleReader(admin.user), db.sql, id);
		expect(detail.attempts.map((a) => [a.outcome, a.worker, a.startedAt])).toEqual([['cancelled', null, null]]);
	});

	test('a released claim is logged as not counted; a stale worker releasing changes nothing', async () => {
		const id = await enqueueJob(db.sql, 'thumbnail', { maxAttempts: 3 });
		const held = await claim(id, 'worker-prefetch');
		expect([...(await releaseJobs(db.sql, 'someone-else', [held]))]).toEqual([]);
		expect(await log(id)).toEqual([]);
		expect([...(await releaseJobs(db.sql, 'worker-prefetch', [held]))]).toEqual([id]);
		expect(await row(id)).toMatchObject({ status: 'pending', attempts: 0, claim_count: 1 });
		const [entry] = await log(id);
		expect(entry).toMatchObject({ attempt: 1, claim: 1, worker: 'worker-prefetch', outcome: 'released', counted: false, next: 'retry' });
		// Then it runs and succeeds: the page shows the given-back claim, then the success.
		const done = await claim(id, 'worker-b');
		await completeJobs(db.sql, 'worker-b', [done]);
		const detail = await getJob(consoleReader(admin.user), db.sql, id);
		expect(detail.attempts.map((a) => [a.outcome, a.worker, a.counted])).toEqual([
			['released', 'worker-prefetch', false],
			['succeeded', null, true]
		]);
	});
});
