import { afterAll, beforeAll, expect, test } from 'vitest';
import { enqueueJob } from '$lib/server/queue';
import { ContinuousWorker } from '$lib/server/worker/continuous';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { deferred, eventually } from '../../support/services';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase();
});
afterAll(() => db.drop());

test('wakes on the insert notification, not the poll, and hands running jobs back on stop', async () => {
	const seen: string[] = [];
	const started = deferred<string>();
	const hold = deferred();
	const worker = new ContinuousWorker({
		sql: db.sql,
		concurrency: 2,
		leaseSeconds: 30,
		pollMs: 60_000, // a poll this slow cannot be what picks the jobs up
		handlers: {
			quick: async (job) => {
				seen.push(job.id);
				if (seen.length === 1) started.resolve(job.id);
			},
			stuck: () => hold.promise
		}
	});
	await worker.start();
	try {
		const id = await enqueueJob(db.sql, 'quick');
		expect(await started.promise).toBe(id);

		const stuckId = await enqueueJob(db.sql, 'stuck');
		await eventually(async () => {
			const [row] = await db.sql`select status from job_queue where id = ${stuckId}`;
			return row!.status === 'processing';
		});
		await worker.stop(100);
		const [row] = await db.sql`select status, attempts, locked_by from job_queue where id = ${stuckId}`;
		expect(row).toEqual({ status: 'pending', attempts: 0, locked_by: null });
		const [run] = await db.sql`select trigger, processed, finished_at from worker_runs where worker_id = ${worker.workerId}`;
		expect(run!.trigger).toBe('continuous');
		expect(run!.processed).toBe(1);
		expect(run!.finished_at).not.toBeNull();
	} finally {
		hold.resolve();
		await worker.stop(0);
	}
});

test('reaps jobs whose worker died, so they run again', async () => {
	const id = await enqueueJob(db.sql, 'revive');
	// A worker that claimed it and vanished: its lease ran out a minute ago.
	await db.sql`update job_queue set status = 'processing', attempts = 1, locked_by = 'dead-worker',
		locked_until = now() - interval '1 minute', started_at = now() - interval '2 minutes' where id = ${id}`;
	const ran = deferred<number>();
	const worker = new ContinuousWorker({
		sql: db.sql,
		concurrency: 1,
		leaseSeconds: 30,
		pollMs: 60_000,
		handlers: { revive: async (job) => ran.resolve(job.attempts) }
	});
	await worker.start();
	try {
		expect(await ran.promise).toBe(2);
	} finally {
		await worker.stop(1000);
	}
});

test("the run's counts reach worker_runs soon after jobs finish, not at the next 15 s report or the poll", async () => {
	const worker = new ContinuousWorker({
		sql: db.sql,
		concurrency: 3,
		leaseSeconds: 30,
		pollMs: 60_000, // neither the poll nor the 15 s report can be what writes the counts
		handlers: { counted: async () => {}, refused: async () => Promise.reject(new Error('no')) }
	});
	await worker.start();
	try {
		const run = async () => {
			const [row] = await db.sql<{ processed: number; errors: number; finished_at: Date | null }[]>`
				select processed, errors, finished_at from worker_runs where worker_id = ${worker.workerId}`;
			return row!;
		};
		expect(await run()).toMatchObject({ processed: 0, errors: 0 });
		await enqueueJob(db.sql, 'counted');
		await enqueueJob(db.sql, 'counted');
		await enqueueJob(db.sql, 'refused', { maxAttempts: 1 });
		const reported = await eventually(async () => {
			const row = await run();
			return row.processed === 2 && row.errors === 1 && row;
		}, 5_000);
		expect(reported.finished_at).toBeNull(); // still running: written by the live run, not by stop()
		// And again for the next jobs: a second change is written too (a second apart at most).
		await enqueueJob(db.sql, 'counted');
		await eventually(async () => (await run()).processed === 3, 5_000);
	} finally {
		await worker.stop(0);
	}
});
