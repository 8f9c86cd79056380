// The app's starts enqueue without a NOTIFY inside their transaction (the notify lock is held through
// the commit's WAL flush) and wake the workers after the commit; everyone else still notifies.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AppUser } from '$lib/server/auth/user';
import { GENERATION_CHANNEL } from '$lib/server/generations/events';
import { enqueueJob, JOB_INSERTED_CHANNEL } from '$lib/server/queue';
import { ContinuousWorker } from '$lib/server/worker/continuous';
import type { Services } from '$lib/server/services';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
import { deferred, testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let alice: AppUser;
beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	alice = { id: (await createUser(db.sql)).id } as AppUser;
	await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${alice.id}, 1000, 1000)`;
});
afterAll(() => db.drop());

const request = (prompt: string) => ({ prompt, model_id: 'local/preview', width: 512, height: 512, seed: 1, negative_prompt: null, idempotency_key: null });

/**
 * Everything notified on both channels while `act` runs, up to a marker sent after it: notifications
 * arrive in commit order, so once the marker is heard nothing from `act` is still on its way.
 */
async function heardDuring(act: () => Promise<unknown>): Promise<string[]> {
	const heard: string[] = [];
	const marker = `marker-${crypto.randomUUID()}`;
	const done = deferred();
	const onJob = await db.sql.listen(JOB_INSERTED_CHANNEL, (payload) => (payload === marker ? done.resolve() : heard.push(`job:${payload}`)));
	const onGeneration = await db.sql.listen(GENERATION_CHANNEL, (payload) => heard.push(`generation:${payload}`));
	try {
		await act().catch(() => {});
		await services.jobWaker.idle();
		await db.sql`select pg_notify(${JOB_INSERTED_CHANNEL}, ${marker})`;
		await done.promise;
		return heard;
	} finally {
		await onJob.unlisten();
		await onGeneration.unlisten();
	}
}

test('a job started through the app wakes a listening worker, not its poll', async () => {
	const picked = deferred<string>();
	const worker = new ContinuousWorker({
		sql: db.sql,
		concurrency: 1,
		leaseSeconds: 30,
		pollMs: 60_000, // a poll this slow cannot be what picks the job up
		handlers: { 'generate-image': async (job) => picked.resolve(job.id) }
	});
	await worker.start();
	try {
		const started = await services.generations.start(alice, request('a lighthouse'));
		expect(await picked.promise).toBe(started.job_id);
	} finally {
		await worker.stop(0);
	}
});

test("the app's start notifies nothing inside its transaction; its one wake comes after the commit", async () => {
	const deferredOnly = await heardDuring(
		() => db.sql`select public.start_generation(${alice.id}, 'quiet', 'local/preview', 512, 512, 1, p_defer_wake => true)`
	);
	expect(deferredOnly).toEqual([]);
	const throughApp = await heardDuring(() => services.generations.start(alice, request('woken')));
	expect(throughApp).toEqual(['job:']);
});

test('every other enqueuer notifies as before, in the same transaction as a deferred start too', async () => {
	expect(await heardDuring(() => enqueueJob(db.sql, 'by-hand'))).toEqual(['job:']);
	// A start made without the flag notifies at its commit, on the SSE hub's channel too.
	let id = '';
	const plain = await heardDuring(async () => {
		const [row] = await db.sql<{ r: { generation_id: string } }[]>`
			select public.start_generation(${alice.id}, 'plain', 'local/preview', 512, 512, 1) as r`;
		id = row!.r.generation_id;
	});
	expect(plain).toContain('job:');
	expect(plain).toContain(`generation:${id}`);
	const mixed = await heardDuring(() =>
		db.sql.begin(async (tx) => {
			await tx`select public.start_generation(${alice.id}, 'quiet', 'local/preview', 512, 512, 1, p_defer_wake => true)`;
			await tx`select public.enqueue_job('after-the-start', '{}'::jsonb)`;
		})
	);
	expect(mixed).toEqual(['job:']);
});

test('a start that is refused or rolled back sends no wake and leaves no job', async () => {
	const jobsBefore = await db.sql`select count(*)::int as n from job_queue`;
	const refused = await heardDuring(() => services.generations.start(alice, { ...request('too big'), width: 4096 }));
	expect(refused).toEqual([]);
	const rolledBack = await heardDuring(() =>
		db.sql.begin(async (tx) => {
			await tx`select public.start_generation(${alice.id}, 'undone', 'local/preview', 512, 512, 1, p_defer_wake => true)`;
			throw new Error('undo');
		})
	);
	expect(rolledBack).toEqual([]);
	const blocked = { id: (await createUser(db.sql)).id } as AppUser;
	await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${blocked.id}, 0, 0)`;
	await expect(services.generations.start(blocked, request('not allowed'))).rejects.toThrow();
	expect(await heardDuring(() => services.generations.start(blocked, request('not allowed')))).toEqual([]);
	expect(await db.sql`select count(*)::int as n from job_queue`).toEqual(jobsBefore);
});

test('enqueueJob with a waker notifies nothing in its transaction and wakes once after its commit', async () => {
	expect(await heardDuring(() => enqueueJob(db.sql, 'woken', { waker: services.jobWaker }))).toEqual(['job:']);
	// The flag is switched off again in the same statement: a later insert in the transaction still
	// notifies at commit (the one 'job:' heard below is that insert's, the waker's is not sent).
	const silentThenLoud = await heardDuring(() =>
		db.sql.begin(async (tx) => {
			await enqueueJob(tx, 'quiet-first', { waker: { wake() {} } });
			expect((await tx`select current_setting('picture.defer_wake', true) as v`)[0]!.v).toBe('off');
			await tx`select public.enqueue_job('loud-second', '{}'::jsonb)`;
		})
	);
	expect(silentThenLoud).toEqual(['job:']);
	// A refused enqueue (an empty type) wakes nobody and leaves no job.
	const before = await db.sql`select count(*)::int as n from job_queue`;
	let woke = 0;
	await expect(enqueueJob(db.sql, '', { waker: { wake: () => woke++ } })).rejects.toThrow();
	expect(woke).toBe(0);
	expect(await db.sql`select count(*)::int as n from job_queue`).toEqual(before);
});

test('a burst of woken enqueues from many callers is all picked up by a listening worker, not its poll', async () => {
	const burst = 60;
	const seen = new Set<string>();
	const all = deferred();
	const worker = new ContinuousWorker({
		sql: db.sql,
		concurrency: 4,
		leaseSeconds: 30,
		pollMs: 60_000, // a poll this slow cannot be what picks the jobs up
		handlers: {
			'woken-burst': async (job) => {
				seen.add(job.id);
				if (seen.size === burst) all.resolve();
			}
		}
	});
	await worker.start();
	try {
		// Coalesced: wakes asked for while one is on its way are carried by the next, never dropped.
		const ids = await Promise.all(
			Array.from({ length: burst }, (_, n) => enqueueJob(db.sql, 'woken-burst', { payload: { n }, waker: services.jobWaker }))
		);
		await all.promise;
		expect([...seen].sort()).toEqual([...ids].sort());
	} finally {
		await worker.stop(0);
	}
});
