// Fair share with real workers: a heavy user has 500 queued, a light user submits one while every
// slot is busy; the light user's job is the next one started when a slot frees (continuous worker
// and the budgeted run a cron call makes).
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Job } from '$lib/server/queue';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { ContinuousWorker } from '$lib/server/worker/continuous';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
import { deferred, eventually } from '../../support/services';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase();
});
afterAll(() => db.drop());

/** A handler whose jobs run until released one by one; records the order they started in. */
function gatedHandler() {
	const started: Job[] = [];
	const gates: Array<() => void> = [];
	let open = false;
	const handler = async (job: Job) => {
		started.push(job);
		if (open) return;
		const gate = deferred();
		gates.push(() => gate.resolve());
		await gate.promise;
	};
	return {
		started,
		handler,
		releaseOne: () => gates.shift()!(),
		releaseAll: () => {
			open = true;
			for (const release of gates.splice(0)) release();
		}
	};
}

async function heavyAndLight(): Promise<{ heavy: string; light: string }> {
	await db.sql`truncate job_queue, job_queue_lanes cascade`;
	const heavy = (await createUser(db.sql)).id;
	const light = (await createUser(db.sql)).id;
	await db.sql`
		insert into job_queue (job_type, created_by, scheduled_at)
		select 'fair-gen', ${heavy}::uuid, now() - interval '1 hour' + make_interval(secs => n) from generate_series(1, 500) n`;
	return { heavy, light };
}

/** With `slots` busy on heavy jobs, the light user submits; one slot frees; the next start is theirs. */
async function lightStartsInOneSlot(run: ReturnType<typeof gatedHandler>, heavy: string, light: string, slots: number) {
	await eventually(async () => run.started.length === slots);
	expect(run.started.every((job) => job.created_by === heavy)).toBe(true);
	const [row] = await db.sql<{ id: string }[]>`
		insert into job_queue (job_type, created_by) values ('fair-gen', ${light}::uuid) returning id`;
	const id = row!.id;
	run.releaseOne();
	await eventually(async () => run.started.length === slots + 1);
	expect(run.started[slots]!.id).toBe(id);
}

test('continuous worker: the light user waits for one free slot, not for 500 jobs', async () => {
	const { heavy, light } = await heavyAndLight();
	const run = gatedHandler();
	const worker = new ContinuousWorker({
		sql: db.sql, concurrency: 3, leaseSeconds: 30, pollMs: 60_000, listen: true, handlers: { 'fair-gen': run.handler }
	});
	await worker.start();
	try {
		await lightStartsInOneSlot(run, heavy, light, 3);
	} finally {
		run.releaseAll();
		await db.sql`update job_queue set status = 'cancelled' where status = 'pending'`;
		await worker.stop(5_000);
	}
});

test('budgeted (cron) run: the same within one free slot', async () => {
	const { heavy, light } = await heavyAndLight();
	const run = gatedHandler();
	const done = runWorkerForBudget({
		sql: db.sql, trigger: 'manual', budgetMs: 20_000, concurrency: 2, leaseSeconds: 30, handlers: { 'fair-gen': run.handler }
	});
	try {
		await lightStartsInOneSlot(run, heavy, light, 2);
	} finally {
		run.releaseAll();
		await db.sql`update job_queue set status = 'cancelled' where status = 'pending'`;
		await done;
	}
});
