// A run that has lost its job can never store or complete its generation: cancel a running
// generation, retry it at once, and the first run stops at its next progress write (or within a
// second's claim check), writes nothing, and cancels its prediction; the retry makes the one image.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { consoleActor } from '$lib/server/console/access';
import { changeJob } from '$lib/server/console/job-actions';
import { cancelGeneration } from '$lib/server/generations/cancel';
import { providerForModel } from '$lib/server/generations/delete';
import { startGeneration } from '$lib/server/generations/start';
import { createJobHandlers } from '$lib/server/worker/jobs';
import { createProviders } from '$lib/server/providers';
import type { ImageProvider } from '$lib/server/providers/types';
import type { Services } from '$lib/server/runtime';
import type { ImageStorage } from '$lib/server/storage';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { startFakeReplicate, type FakeReplicate } from '../../support/fake-replicate';
import { signedInUser } from '../../support/routes';
import { deferred, eventually, testServices } from '../../support/services';

let db: TestDatabase;
let fake: FakeReplicate;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	fake = await startFakeReplicate();
	services = await testServices(db, 'app', {
		LOCAL_MODEL_MS_PER_IMAGE: '6000',
		REPLICATE_API_TOKEN: fake.token,
		REPLICATE_API_BASE_URL: fake.baseUrl,
		REPLICATE_POLL_INTERVAL_MS: '40',
		REPLICATE_MAX_WAIT_MS: '30000'
	});
	alice = await signedInUser(services);
	admin = await signedInUser(services, { admin: true });
	await db.sql`update models set max_concurrency = 10`;
});
afterAll(async () => {
	await fake.close();
	await db.drop();
});
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`;
});

/** The app's handlers over a store that counts image writes, and a model that counts its progress reports. */
function instrumented() {
	const writes: string[] = [];
	const storage: ImageStorage = {
		kind: services.storage.kind,
		put: (key, data, type) => (writes.push(key), services.storage.put(key, data, type)),
		get: (key) => services.storage.get(key),
		delete: (keys) => services.storage.delete(keys),
		check: () => services.storage.check()
	};
	const base = createProviders(services.config);
	const reports = { total: 0, afterCancel: 0, cancelled: false };
	const counting = (provider: ImageProvider): ImageProvider => ({
		generate: (input, context) =>
			provider.generate(input, {
				...context,
				onProgress: (percent) => {
					reports.total++;
					if (reports.cancelled) reports.afterCancel++;
					return context.onProgress(percent);
				}
			}),
		cancel: (id) => provider.cancel(id)
	});
	const handlers = createJobHandlers({ providers: { local: counting(base.local), replicate: counting(base.replicate!) }, storage, progressIntervalMs: 0 });
	return { writes, reports, handlers };
}

const work = (handlers: Services['handlers']) =>
	runWorkerForBudget({ sql: db.sql, handlers, trigger: 'manual', budgetMs: 30_000, concurrency: 2, leaseSeconds: 30 });
const row = async (id: string) => (await db.sql`select g.*, j.status as job_status, j.claim_count from image_generations g join job_queue j on j.id = g.job_id where g.id = ${id}`)[0]!;

async function cancelThenRetry(modelId: string, width: number, height: number) {
	const { writes, reports, handlers } = instrumented();
	const { generation_id: id, job_id: jobId } = await startGeneration(
		db.sql,
		alice.id,
		{ prompt: 'a lighthouse at dusk', model_id: modelId, width, height, seed: 7, negative_prompt: null, idempotency_key: null },
		{ replicateConfigured: true }
	);
	const first = work(handlers);
	await eventually(async () => reports.total > 0 && (await row(id)).status === 'processing');
	reports.cancelled = true;
	const cancelled = await cancelGeneration(db.sql, alice.user, id, providerForModel(db.sql, services.providers));
	expect(cancelled.status).toBe('cancelled');
	// The operator retries at once, while the first run may still be rendering: an owner's cancel is
	// retried only when the operator says so.
	await changeJob(consoleActor(admin.user), db.sql, 'retry', jobId, { includeOwnerCancelled: true });
	const second = work(handlers);
	const [one, two] = await Promise.all([first, second]);
	return { id, writes, reports, runs: [one, two], final: await row(id) };
}

test('local model: the cancelled run stops at its next step and writes nothing; the retry makes the one image', async () => {
	const { id, writes, reports, runs, final } = await cancelThenRetry('local/preview', 256, 256);
	expect(final).toMatchObject({ status: 'completed', job_status: 'completed', claim_count: 2 });
	expect(writes.filter((key) => key.endsWith('.png'))).toEqual([`${alice.id}/${id}.png`]);
	expect(writes.filter((key) => key.endsWith('.thumb.webp'))).toHaveLength(1);
	// The retry's run reports all 10 steps. The first run reports at most 3 more: one already on its
	// way when the cancel was sent, one whose write raced it, and the one that learns the claim is gone.
	// Unfenced, it would have rendered on to its 10th step (the count would be about 19).
	expect(reports.afterCancel).toBeLessThanOrEqual(10 + 3);
	expect(runs.reduce((sum, run) => sum + run.processed, 0)).toBe(1);
	expect(runs.reduce((sum, run) => sum + run.errors, 0)).toBe(0);
	expect(await services.storage.get(final.image_path)).not.toBeNull();
});

test('Replicate: the cancelled run stops polling, its prediction is cancelled, and only the retry paid for a picture', async () => {
	fake.scriptNext({ startingPolls: 0, processingPolls: 10_000, steps: 10_000 });
	fake.scriptNext({ startingPolls: 0, processingPolls: 2, steps: 4 });
	const createdBefore = fake.createdCount;
	const { id, writes, final } = await cancelThenRetry('black-forest-labs/flux-schnell', 1024, 1024);
	expect(final).toMatchObject({ status: 'completed', job_status: 'completed', claim_count: 2 });
	expect(fake.createdCount - createdBefore).toBe(2);
	const [cancelledPrediction, paid] = [...fake.predictions.values()].slice(-2);
	expect(cancelledPrediction!.canceledAt).not.toBeNull();
	expect(paid!.canceledAt).toBeNull();
	expect(final.prediction_id).toBe(paid!.id);
	// After its cancel, the first prediction is polled at most once more (the poll that was in flight).
	const polls = fake.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/predictions/${cancelledPrediction!.id}`));
	const cancelIndex = fake.requests.findIndex((r) => r.method === 'POST' && r.path.endsWith(`/predictions/${cancelledPrediction!.id}/cancel`));
	expect(polls.filter((r) => fake.requests.indexOf(r) > cancelIndex).length).toBeLessThanOrEqual(1);
	expect(writes.filter((key) => key.startsWith(`${alice.id}/${id}.`) && !key.includes('.thumb.'))).toHaveLength(1);
});

test('a run told nothing by progress still finds out within a second that its job was cancelled', async () => {
	const started = deferred();
	const silent: ImageProvider = {
		// A model that never reports progress and would run for a minute.
		async generate(_input, context) {
			started.resolve();
			await new Promise((resolve, reject) => {
				const timer = setTimeout(resolve, 60_000);
				context.signal.addEventListener('abort', () => (clearTimeout(timer), reject(context.signal.reason)), { once: true });
			});
			throw new Error('not reached');
		},
		async cancel() {}
	};
	const handlers = createJobHandlers({ providers: { local: silent, replicate: null }, storage: services.storage, fenceCheckMs: 200 });
	const { generation_id: id } = await startGeneration(
		db.sql,
		alice.id,
		{ prompt: 'silence', model_id: 'local/preview', width: 256, height: 256, seed: 1, negative_prompt: null, idempotency_key: null },
		{ replicateConfigured: false }
	);
	const run = work(handlers);
	await started.promise;
	await cancelGeneration(db.sql, alice.user, id, providerForModel(db.sql, services.providers));
	const result = await run; // a minute-long render ended: the claim check aborted it
	expect(result).toMatchObject({ processed: 0, errors: 0 });
	expect((await row(id)).status).toBe('cancelled');
});
