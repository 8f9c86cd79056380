// The short form of `npm run test:chaos` (scripts/chaos): real worker and enqueuer processes against
// a real database while workers are SIGKILLed and restarted. Every generation ends completed exactly
// once (the job audit and the generation history say so), with exactly one image and one thumbnail
// on disk each and nothing else.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runScenario } from '../../../scripts/chaos/scenario';
import { deliverOutOfOrder } from '../../../scripts/chaos/webhooks';
import { createGenerateImageHandler } from '$lib/server/generations/handler';
import { startGeneration } from '$lib/server/generations/start';
import { claimJobs, reapExpiredJobs } from '$lib/server/queue';
import { JobAbortedError } from '$lib/server/worker/errors';
import { createFsStorage } from '$lib/server/storage/fs';
import { createLocalProvider } from '$lib/server/providers/local';
import type { ImageProvider } from '$lib/server/providers/types';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase({ max: 2 });
});
afterAll(() => db?.drop());

test('kill chaos: no job lost, none completed twice, one image per generation', { timeout: 150_000 }, async () => {
	const result = await runScenario({
		databaseUrl: db.url,
		jobs: 200,
		workers: 2,
		enqueuers: 2,
		concurrency: 4,
		leaseSeconds: 5,
		msPerImage: 100,
		killEveryMs: 2500,
		deadlineMs: 120_000,
		log: () => {}
	});
	const o = result.outcome;
	expect(result.timedOut).toBe(false);
	expect(result.kills).toBeGreaterThan(0);
	expect(o.generations).toBe(200);
	expect({ lost: o.lost, completed: o.completed }).toEqual({ lost: 0, completed: 200 });
	expect({ jobs: o.jobsCompletedTwice, generations: o.generationsCompletedTwice }).toEqual({ jobs: 0, generations: 0 });
	expect(o.images).toMatchObject({ files: 400, expected: 400, missing: 0, orphans: 0 });
	expect(o.backoff.violations).toBe(0);
	// Kills hit running jobs, and those ran again: the drill exercised recovery, not just a quiet queue.
	expect(o.rerunJobs).toBeGreaterThan(0);
});

test('model slots hold when many workers admit at once (admission runs without a client transaction)', async () => {
	const { sql } = db;
	await sql`update models set max_concurrency = 3 where id = 'local/detailed'`;
	const user = await createUser(sql);
	await sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${user.id}, 1000, 1000)`;
	for (let i = 0; i < 12; i++) {
		await startGeneration(
			sql,
			user.id,
			{ prompt: `slot ${i}`, model_id: 'local/detailed', width: 256, height: 256, seed: i, negative_prompt: null, idempotency_key: null },
			{ replicateConfigured: false }
		);
	}
	// A model that holds every admitted generation until released, so the admitted ones overlap.
	let release!: () => void;
	const released = new Promise<void>((resolve) => (release = resolve));
	let admitted = 0;
	const holding: ImageProvider = {
		async generate(_input, context) {
			admitted++;
			await released;
			context.signal.throwIfAborted();
			throw new Error('released');
		},
		async cancel() {}
	};
	const dir = await mkdtemp(path.join(tmpdir(), 'picture-admit-'));
	try {
		const handler = createGenerateImageHandler({ providers: { local: holding, replicate: null }, storage: createFsStorage(dir) });
		// Claims pass over a full model's jobs (0032) and take no more than its free slots: to make twelve
		// admissions race, the gate is lifted for this one claim (the first admission sets it again).
		await sql`select set_concurrency_limit('local/detailed', null)`;
		const jobs = await claimJobs(sql, { workerId: 'admit-test', limit: 12, leaseSeconds: 60, jobTypes: ['generate-image'] });
		expect(jobs).toHaveLength(12);
		const signal = new AbortController().signal;
		let settledCount = 0;
		let nineSettled!: () => void;
		const nine = new Promise<void>((resolve) => (nineSettled = resolve));
		const runs = jobs.map((job) =>
			handler(job, { signal, workerId: 'admit-test', sql })
				.catch((e: Error) => e.message)
				.finally(() => {
					if (++settledCount === 9) nineSettled();
				})
		);
		// The nine refused runs go back to their place at once; the three admitted ones hold their slots meanwhile.
		await nine;
		const [running] = await sql<{ n: number }[]>`
			select count(*)::int as n from image_generations where model_id = 'local/detailed' and status = 'processing'`;
		release();
		const outcomes = await Promise.all(runs);
		expect(running!.n).toBe(3);
		expect(admitted).toBe(3);
		expect(outcomes.filter((o) => o === new JobAbortedError('handed-back').message)).toHaveLength(9);
		const [back] = await sql<{ n: number }[]>`
			select count(*)::int as n from job_queue where job_type = 'generate-image' and status = 'pending' and attempts = 0
			  and concurrency_key = 'local/detailed' and scheduled_at <= now()`;
		expect(back!.n).toBe(9);
	} finally {
		// They wait in line, due: the next tests' workers must not run them (deleting cancels their jobs).
		await sql`delete from image_generations where model_id = 'local/detailed'`;
		await rm(dir, { recursive: true, force: true });
	}
});

test('webhooks delivered out of order (succeeded, processing, succeeded): one final state, reached once', async () => {
	const outcome = await deliverOutOfOrder(db.url);
	expect(outcome).toEqual({
		// msg_2 again at the end is the same delivery twice: recorded once.
		deliveries: ['applied', 'applied', 'applied', 'applied', 'duplicate'],
		finalStatus: 'completed',
		completedInHistory: 1,
		jobCompletions: 1,
		progressAfterLateDelivery: 100,
		predictionsCreated: 1,
		files: 2
	});
});

test('a run that lost its lease and finishes late leaves the winning run\'s image in place', async () => {
	// What a stalled worker (SIGSTOP longer than the lease) does when it wakes mid-job: its run goes
	// on to store the same keys and finds the generation already completed by the run that took over.
	const { sql } = db;
	await sql`update models set max_concurrency = 10 where id = 'local/preview'`;
	const user = await createUser(sql);
	const { generation_id: id, job_id: jobId } = await startGeneration(
		sql,
		user.id,
		{ prompt: 'a late run', model_id: 'local/preview', width: 256, height: 256, seed: 3, negative_prompt: null, idempotency_key: null },
		{ replicateConfigured: false }
	);
	const [job] = await claimJobs(sql, { workerId: 'stalled', limit: 1, leaseSeconds: 60, jobTypes: ['generate-image'] });
	expect(job!.id).toBe(jobId);
	const local = createLocalProvider({ msPerImage: 0 });
	let resume!: () => void;
	const resumed = new Promise<void>((resolve) => (resume = resolve));
	let startedLate!: () => void;
	const lateStarted = new Promise<void>((resolve) => (startedLate = resolve));
	const stalledModel: ImageProvider = {
		async generate(input, context) {
			startedLate();
			await resumed;
			return local.generate(input, context);
		},
		async cancel() {}
	};
	const dir = await mkdtemp(path.join(tmpdir(), 'picture-late-'));
	try {
		const storage = createFsStorage(dir);
		const signal = new AbortController().signal;
		const late = createGenerateImageHandler({ providers: { local: stalledModel, replicate: null }, storage })(job!, { signal, workerId: 'stalled', sql });
		await lateStarted;
		// The stalled worker's lease runs out; the reaper gives the job back and another worker takes it.
		await sql`update job_queue set locked_until = now() - interval '1 second' where id = ${jobId}`;
		expect(await reapExpiredJobs(sql)).toBe(1);
		const [again] = await claimJobs(sql, { workerId: 'winner', limit: 1, leaseSeconds: 60, jobTypes: ['generate-image'] });
		expect(again!.claim_count).toBe(job!.claim_count + 1);
		await createGenerateImageHandler({ providers: { local, replicate: null }, storage })(again!, { signal, workerId: 'winner', sql });
		resume();
		// The late run learns at its first progress write that its claim is gone, and stops.
		await expect(late).rejects.toBeInstanceOf(JobAbortedError);
		const [row] = await sql<{ status: string; image_path: string; thumbnail_path: string }[]>`
			select status, image_path, thumbnail_path from image_generations where id = ${id}`;
		expect(row!.status).toBe('completed');
		expect(await storage.get(row!.image_path)).not.toBeNull();
		expect(await storage.get(row!.thumbnail_path)).not.toBeNull();
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
});
