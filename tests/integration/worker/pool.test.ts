import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { cancelJob, enqueueJob } from '$lib/server/queue';
import { PermanentJobError, RetryLaterError, snooze } from '$lib/server/worker/errors';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
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

const job = async (id: string) => (await db.sql`select * from job_queue where id = ${id}`)[0]!;

describe('budgeted run', () => {
	test('runs handlers concurrently and records each outcome; a throwing handler never stops the loop', async () => {
		let running = 0;
		let peak = 0;
		const ids = await Promise.all(
			Array.from({ length: 12 }, (_, i) => enqueueJob(db.sql, i % 4 === 0 ? 'explode' : 'work', { payload: { i } }))
		);
		const result = await runWorkerForBudget({
			sql: db.sql,
			trigger: 'manual',
			budgetMs: 20_000,
			concurrency: 4,
			leaseSeconds: 30,
			handlers: {
				work: async () => {
					peak = Math.max(peak, ++running);
					await new Promise((resolve) => setTimeout(resolve, 20));
					running--;
				},
				explode: async () => {
					throw new Error('boom: the model fell over');
				}
			}
		});
		expect(result.processed).toBe(9);
		expect(result.errors).toBe(3);
		expect(peak).toBeGreaterThan(1);
		expect(peak).toBeLessThanOrEqual(4);
		const rows = await db.sql`select status, error_message, attempts from job_queue where id = any(${ids}::uuid[])`;
		expect(rows.filter((r) => r.status === 'completed')).toHaveLength(9);
		const failed = rows.filter((r) => r.error_message === 'boom: the model fell over');
		expect(failed).toHaveLength(3);
		// A plain error retries later: back to pending with one attempt spent.
		for (const row of failed) expect([row.status, row.attempts]).toEqual(['pending', 1]);

		const [run] = await db.sql`select * from worker_runs where id = ${result.runId}`;
		expect(run).toMatchObject({ trigger: 'manual', processed: 9, errors: 3 });
		expect(run!.finished_at).toBeInstanceOf(Date);
	});

	test('permanent errors fail at once; Retry-After is honoured; a snooze spends no attempt', async () => {
		const permanent = await enqueueJob(db.sql, 'permanent');
		const later = await enqueueJob(db.sql, 'later');
		const snoozed = await enqueueJob(db.sql, 'sleepy');
		await runWorkerForBudget({
			sql: db.sql,
			trigger: 'manual',
			budgetMs: 10_000,
			concurrency: 3,
			leaseSeconds: 30,
			handlers: {
				permanent: async () => {
					throw new PermanentJobError('unknown model', { model: 'nope' });
				},
				later: async () => {
					throw new RetryLaterError('rate limited', 120);
				},
				sleepy: async () => snooze(60)
			}
		});
		expect(await job(permanent)).toMatchObject({ status: 'failed', attempts: 1, error_message: 'unknown model' });
		expect((await job(permanent)).error_details).toMatchObject({ model: 'nope', name: 'PermanentJobError' });
		const retried = await job(later);
		expect(retried.status).toBe('pending');
		const delay = (retried.scheduled_at.getTime() - Date.now()) / 1000;
		expect(delay).toBeGreaterThan(100);
		expect(delay).toBeLessThanOrEqual(121);
		expect(await job(snoozed)).toMatchObject({ status: 'pending', attempts: 0 });
	});

	test('stops claiming before the budget ends and hands back what is still running', async () => {
		const release = deferred();
		const slow = await enqueueJob(db.sql, 'slow', { priority: 10 });
		const waiting = await enqueueJob(db.sql, 'slow');
		const started = Date.now();
		const result = await runWorkerForBudget({
			sql: db.sql,
			trigger: 'manual',
			budgetMs: 600,
			claimMarginMs: 300,
			concurrency: 1,
			leaseSeconds: 30,
			handlers: { slow: () => release.promise }
		});
		release.resolve();
		expect(Date.now() - started).toBeLessThan(3000);
		expect(result).toMatchObject({ processed: 0, errors: 0, returned: 1 });
		// Handed back without spending its attempt; the other job was never claimed.
		expect(await job(slow)).toMatchObject({ status: 'pending', attempts: 0, locked_by: null });
		expect(await job(waiting)).toMatchObject({ status: 'pending', attempts: 0 });
	});

	test('claims only the job types it has handlers for', async () => {
		const mine = await enqueueJob(db.sql, 'mine');
		const other = await enqueueJob(db.sql, 'someone-else');
		await runWorkerForBudget({
			sql: db.sql,
			trigger: 'manual',
			budgetMs: 5000,
			concurrency: 2,
			leaseSeconds: 30,
			handlers: { mine: async () => {} }
		});
		expect((await job(mine)).status).toBe('completed');
		expect(await job(other)).toMatchObject({ status: 'pending', attempts: 0 });
	});
});

describe('leases while a handler runs', () => {
	test('heartbeats extend the lease, and a cancelled job has its handler aborted', async () => {
		const id = await enqueueJob(db.sql, 'long');
		const aborted = deferred<unknown>();
		const pool = new WorkerPool({
			sql: db.sql,
			concurrency: 1,
			leaseSeconds: 2,
			heartbeatMs: 50,
			handlers: {
				long: (_job, { signal }) =>
					new Promise((_resolve, reject) => {
						signal.addEventListener('abort', () => {
							aborted.resolve(signal.reason);
							reject(signal.reason);
						});
					})
			}
		});
		expect(await pool.fill()).toBe(1);
		const first = (await job(id)).locked_until as Date;
		const extended = await eventually(async () => {
			const lease = (await job(id)).locked_until as Date;
			return lease.getTime() > first.getTime() ? lease : null;
		});
		expect(extended.getTime()).toBeGreaterThan(first.getTime());

		expect(await cancelJob(db.sql, id, 'cancelled by the user')).toBe(true);
		expect(String(await aborted.promise)).toContain('cancelled or claimed by another worker');
		await pool.stop(1000);
		expect(await job(id)).toMatchObject({ status: 'cancelled', error_message: 'cancelled by the user' });
	});
});
