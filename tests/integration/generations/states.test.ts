// What a user is told when things go wrong, against a real database and real workers: usage that
// deleting cannot refund, failures by class with no server internals, the truth while a generation
// waits to retry or its worker died or the queue is paused, a blocked account, and a time limit per
// attempt that frees a stuck worker slot.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { consoleActor } from '$lib/server/console/access';
import { changeJob } from '$lib/server/console/job-actions';
import { consoleOverview } from '$lib/server/console/overview';
import { pauseType, resumeType, runWorkerNow } from '$lib/server/console/worker';
import { cancelGeneration } from '$lib/server/generations/cancel';
import { deleteGeneration, providerForModel } from '$lib/server/generations/delete';
import { getGeneration } from '$lib/server/generations/read';
import { getUserLimits, startGeneration } from '$lib/server/generations/start';
import { toView } from '$lib/server/generations/types';
import { createJobHandlers } from '$lib/server/worker/jobs';
import { claimJobs, failJob, reapExpiredJobs } from '$lib/server/queue';
import { ProviderError, type ImageProvider } from '$lib/server/providers/types';
import type { Services } from '$lib/server/runtime';
import type { ImageStorage } from '$lib/server/storage';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { WorkerPool } from '$lib/server/worker/pool';
import { POST as startApi } from '$routes/api/generations/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { deferred, eventually, testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, 'app');
	alice = await signedInUser(services);
	admin = await signedInUser(services, { admin: true });
	await db.sql`update models set max_concurrency = 10`;
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`;
	await db.sql`delete from job_queue`;
	await db.sql`delete from user_limits`;
	await db.sql`delete from job_queue_paused_types`;
});

const start = (prompt = 'a lighthouse') =>
	startGeneration(db.sql, alice.id, { prompt, model_id: 'local/preview', width: 256, height: 256, seed: 1, negative_prompt: null, idempotency_key: null }, { replicateConfigured: false });
const used = async () => (await getUserLimits(db.sql, alice.id)).hourly_used;
const view = async (id: string) => toView((await getGeneration(db.sql, alice.user, id))!);
const work = (handlers = services.handlers) => runWorkerForBudget({ sql: db.sql, handlers, trigger: 'manual', budgetMs: 20_000, concurrency: 2, leaseSeconds: 30 });
const providerFor = () => providerForModel(db.sql, services.providers);

describe('usage cannot be refunded by deleting', () => {
	test('a completed generation deleted still counts; the meter does not go down', async () => {
		const { generation_id: id } = await start();
		await work();
		expect(await used()).toBe(1);
		await deleteGeneration(db.sql, alice.user, id, services);
		expect(await getGeneration(db.sql, alice.user, id)).toBeNull();
		expect(await used()).toBe(1);
	});

	test('cancelled before a worker started it: given back; cancelled while running: counts', async () => {
		const queued = await start('never started');
		await cancelGeneration(db.sql, alice.user, queued.generation_id, providerFor());
		expect(await used()).toBe(0);
		const running = await start('started');
		const [job] = await claimJobs(db.sql, { workerId: 'w', limit: 1, leaseSeconds: 30 });
		await db.sql`update image_generations set status = 'processing', started_at = now() where id = ${running.generation_id}`;
		await cancelGeneration(db.sql, alice.user, running.generation_id, providerFor());
		expect(job!.id).toBe(running.job_id);
		expect(await used()).toBe(1);
		// Deleting either afterwards changes nothing.
		await deleteGeneration(db.sql, alice.user, queued.generation_id, services);
		await deleteGeneration(db.sql, alice.user, running.generation_id, services);
		expect(await used()).toBe(1);
	});

	test("an operator's retry of a refunded generation charges it again", async () => {
		const { generation_id: id, job_id: jobId } = await start();
		await cancelGeneration(db.sql, alice.user, id, providerFor());
		expect(await used()).toBe(0);
		// Its owner cancelled it: a plain retry leaves that choice alone, an explicit one runs it again.
		await expect(changeJob(consoleActor(admin.user), db.sql, 'retry', jobId)).rejects.toThrow(/owner cancelled/);
		expect(await used()).toBe(0);
		await changeJob(consoleActor(admin.user), db.sql, 'retry', jobId, { includeOwnerCancelled: true });
		expect((await view(id)).status).toBe('queued');
		expect(await used()).toBe(1);
	});

	test('generate-then-delete in a loop stops at the limit', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit) values (${alice.id}, 3)`;
		for (let i = 0; i < 3; i++) {
			const { generation_id: id } = await start(`round ${i}`);
			await work();
			await deleteGeneration(db.sql, alice.user, id, services);
		}
		await expect(start('one too many')).rejects.toThrow(/used all 3 generations for this hour/);
	});
});

/** Handlers whose image store fails as a broken folder does, with the server's path in the error. */
function brokenStorage(): ImageStorage {
	return {
		kind: 'fs',
		put: async () => {
			throw Object.assign(new Error("ENOTDIR: not a directory, mkdir '/srv/picture/.data/images/secret-user-id'"), { code: 'ENOTDIR' });
		},
		get: async () => null,
		delete: async () => {},
		check: async () => {} // fine at start; it breaks later, as a folder removed under a running app does
	};
}

describe('users are told the class of a failure, never its internals', () => {
	test('a storage failure: no path, no errno; the console keeps the raw error', async () => {
		const handlers = createJobHandlers({ providers: services.providers, storage: brokenStorage(), progressIntervalMs: 0 });
		const { generation_id: id, job_id: jobId } = await start();
		await db.sql`update job_queue set max_attempts = 1 where id = ${jobId}`;
		await work(handlers);
		const seen = await view(id);
		expect(seen.status).toBe('failed');
		expect(seen.failure).toMatchObject({ class: 'storage', title: expect.stringMatching(/could not be saved/) });
		expect(JSON.stringify(seen)).not.toMatch(/ENOTDIR|\/srv\/|mkdir|secret-user-id/);
		expect(seen.error).not.toMatch(/busy or unreachable/);
		const [job] = await db.sql`select error_message, error_details from job_queue where id = ${jobId}`;
		expect(job!.error_message).toMatch(/ENOTDIR/);
		expect(job!.error_details.class).toBe('storage');
	});

	test('an error nobody classified is "something went wrong on our side", not its message', async () => {
		const exploding: ImageProvider = {
			generate: async () => {
				throw new Error('TypeError: cannot read properties of undefined (reading "x") at /app/src/render.ts:42');
			},
			cancel: async () => {}
		};
		const handlers = createJobHandlers({ providers: { local: exploding, replicate: null }, storage: services.storage });
		const { generation_id: id, job_id: jobId } = await start();
		await db.sql`update job_queue set max_attempts = 1 where id = ${jobId}`;
		await work(handlers);
		const seen = await view(id);
		expect(seen.failure?.class).toBe('internal');
		expect(JSON.stringify(seen)).not.toMatch(/TypeError|render\.ts/);
	});

	test('a message written for people (bad input) is kept with its class', async () => {
		const { generation_id: id } = await start();
		const tooBig: ImageProvider = {
			generate: async () => {
				throw new ProviderError('The width must be a whole number of pixels from 1 to 4096.', { permanent: true, kind: 'input' });
			},
			cancel: async () => {}
		};
		await work(createJobHandlers({ providers: { local: tooBig, replicate: null }, storage: services.storage }));
		const seen = await view(id);
		expect(seen.failure?.class).toBe('input');
		expect(seen.error).toMatch(/could not take these settings.*width must be a whole number/);
	});
});

describe('a waiting generation says why it waits', () => {
	test('after a failed attempt: queued again, progress from 0, "retrying at" with the attempt number', async () => {
		const { generation_id: id, job_id: jobId } = await start();
		const [job] = await claimJobs(db.sql, { workerId: 'w1', limit: 1, leaseSeconds: 30 });
		await db.sql`update image_generations set status = 'processing', started_at = now(), progress = 91 where id = ${id}`;
		await failJob(db.sql, { jobId, workerId: 'w1', claimCount: job!.claim_count }, { message: 'HTTP 503', details: { class: 'provider' } });
		const seen = await view(id);
		expect(seen).toMatchObject({ status: 'queued', progress: 0, paused: false, failure: null });
		expect(seen.retry).toMatchObject({ attempt: 2, max_attempts: 3, reason: expect.stringMatching(/busy or unreachable/) });
		expect(Date.parse(seen.retry!.at)).toBeGreaterThan(Date.now());
	});

	test('after its worker died: queued again for the reaper, told the worker stopped responding', async () => {
		const { generation_id: id, job_id: jobId } = await start();
		await claimJobs(db.sql, { workerId: 'doomed', limit: 1, leaseSeconds: 30 });
		await db.sql`update image_generations set status = 'processing', started_at = now(), progress = 40 where id = ${id}`;
		await db.sql`update job_queue set locked_until = now() - interval '1 second' where id = ${jobId}`;
		expect(await reapExpiredJobs(db.sql)).toBe(1);
		const seen = await view(id);
		expect(seen).toMatchObject({ status: 'queued', progress: 0 });
		expect(seen.retry?.reason).toMatch(/stopped responding/);
		// And the retry then runs and completes as usual.
		await work();
		expect((await view(id)).status).toBe('completed');
	});

	test('while the operators pause generating, waiting generations say so, live, and the console and run say so too', async () => {
		const { generation_id: id } = await start();
		const before = await view(id);
		await pauseType(consoleActor(admin.user), db.sql, 'generate-image', 'maintenance');
		const paused = await view(id);
		expect(paused.paused).toBe(true);
		expect(paused.event_seq).toBeGreaterThan(before.event_seq); // so SSE watchers hear of it
		const later = await start('queued during the pause');
		expect((await view(later.generation_id)).paused).toBe(true);
		const overview = await consoleOverview(consoleActor(admin.user), db.sql, services.config);
		expect(overview.paused).toEqual([expect.objectContaining({ job_type: 'generate-image', waiting: 2, reason: 'maintenance' })]);
		const run = await runWorkerNow(consoleActor(admin.user), services, '1');
		expect(run).toMatchObject({ processed: 0, paused: ['generate-image'] });
		await resumeType(consoleActor(admin.user), db.sql, 'generate-image');
		expect((await view(id)).paused).toBe(false);
	});
});

test('a blocked account (limit 0) is told it is blocked, not "1 of 0, resets in 10 minutes"', async () => {
	await db.sql`insert into user_limits (user_id, hourly_limit) values (${alice.id}, 0)`;
	const limits = await getUserLimits(db.sql, alice.id);
	expect(limits).toMatchObject({ can_generate: false, blocked: true, retry_after_seconds: null });
	const response = await call(startApi, services, { method: 'POST', body: { prompt: 'x', model_id: 'local/preview', width: 256, height: 256 }, user: alice.user });
	expect(response.status).toBe(403);
	expect((await response.json()).error).toMatch(/blocked from making pictures.*Ask an administrator/);
	expect(response.headers.get('retry-after')).toBeNull();
});

describe('an attempt has a time limit', () => {
	test('a handler stuck in a call that never returns is abandoned past the limit, its slot freed and the job retried', async () => {
		const entered = deferred();
		const stuck = createJobHandlers({
			providers: {
				local: {
					generate: async () => {
						entered.resolve();
						return new Promise(() => {}); // a storage or network call that hangs forever
					},
					cancel: async () => {}
				},
				replicate: null
			},
			storage: services.storage
		});
		const { generation_id: id, job_id: jobId } = await start();
		await db.sql`update job_queue set payload = payload || '{"attempt_timeout_seconds": 1}' where id = ${jobId}`;
		const pool = new WorkerPool({ sql: db.sql, handlers: stuck, concurrency: 1, leaseSeconds: 30, heartbeatMs: 200 });
		try {
			expect(await pool.fill()).toBe(1);
			await entered.promise;
			expect(pool.freeSlots).toBe(0);
			await eventually(async () => pool.freeSlots === 1, 10_000);
			const [job] = await db.sql`select status, attempts, error_message, error_details from job_queue where id = ${jobId}`;
			expect(job).toMatchObject({ status: 'pending', attempts: 1, error_message: expect.stringMatching(/longer than its limit of 1 s/) });
			expect(job!.error_details.class).toBe('timeout');
			expect(pool.counts.errors).toBe(1);
			expect((await view(id)).retry?.reason).toMatch(/took too long/);
		} finally {
			await pool.stop(0);
		}
	});
});
