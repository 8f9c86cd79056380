// How many claims a wake costs (worker/pool.ts fill): an idle worker with ten free slots, woken for
// one job, takes it with one claim and ramps up only while claims come back full (not a claim per
// free slot, which made ten race for one job); woken for a burst, it still fills every slot. The claims are counted as the real client sends them.
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { Sql } from '$lib/server/db/client';
import { enqueueJob, JOB_INSERTED_CHANNEL } from '$lib/server/queue';
import { ContinuousWorker } from '$lib/server/worker/continuous';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { deferred, eventually } from '../../support/services';

let db: TestDatabase;
let counted: Sql;
let claims = 0;
beforeAll(async () => {
	db = await createTestDatabase();
	counted = postgres(db.url, {
		max: 10,
		onnotice: () => {},
		debug: (_connection: number, query: string) => {
			if (query.includes('claim_jobs(')) claims++;
		}
	}) as unknown as Sql;
});
afterAll(async () => {
	await counted.end({ timeout: 5 });
	await db.drop();
});
beforeEach(async () => {
	await db.sql`truncate job_queue, job_queue_lanes cascade`;
});

const completed = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from job_queue where status = 'completed'`)[0]!.n;

function idleWorker(handler: () => Promise<void>) {
	return new ContinuousWorker({ sql: counted, handlers: { one: handler }, concurrency: 10, batchSize: 1, leaseSeconds: 30, pollMs: 600_000, listen: true });
}

test('woken for one job, an idle worker with ten free slots claims it with one claim, not ten', async () => {
	const worker = idleWorker(async () => {});
	await worker.start();
	let before = 0;
	try {
		// Its first look finds the queue empty.
		await eventually(async () => claims >= 1);
		before = claims;
		await enqueueJob(db.sql, 'one');
		await eventually(async () => (await completed()) === 1);
	} finally {
		// Stopping waits for every claim in flight, so all of them have been counted.
		await worker.stop(5_000);
	}
	// One claim takes the job; a round of two finds nothing; the worker looks once more because it took
	// a job, and once when the job ends (that may open a model's slot): five at most. A claim per free
	// slot, on the wake and again on the end, made eleven or more.
	expect(claims - before).toBeLessThanOrEqual(5);
});

test('woken for a burst, it fills all ten slots at once', async () => {
	const release = deferred();
	let running = 0;
	let most = 0;
	const worker = idleWorker(async () => {
		most = Math.max(most, ++running);
		await release.promise;
		running--;
	});
	await worker.start();
	try {
		await eventually(async () => claims >= 1);
		await db.sql`insert into job_queue (job_type) select 'one' from generate_series(1, 30)`;
		await db.sql`select pg_notify(${JOB_INSERTED_CHANNEL}, '')`;
		await eventually(async () => running === 10);
		release.resolve();
		await eventually(async () => (await completed()) === 30);
		expect(most).toBe(10);
	} finally {
		await worker.stop(5_000);
	}
});
