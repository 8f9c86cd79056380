// The whole path through the real replicate client against a local server that speaks its API:
// one prediction per generation even across retries, progress from logs, signed webhooks.
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { signReplicateWebhook } from '$lib/server/providers/webhook-signature';
import type { Services } from '$lib/server/runtime';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { POST as start } from '$routes/api/generations/+server';
import { DELETE as cancel } from '$routes/api/generations/[id]/+server';
import { GET as image } from '$routes/api/generations/[id]/image/+server';
import { POST as webhook } from '$routes/api/webhooks/replicate/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { startFakeReplicate, type FakeReplicate } from '../../support/fake-replicate';
import { call, signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';

let db: TestDatabase;
let fake: FakeReplicate;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	fake = await startFakeReplicate();
	services = await testServices(db, 'app', {
		REPLICATE_API_TOKEN: fake.token,
		REPLICATE_API_BASE_URL: fake.baseUrl,
		REPLICATE_WEBHOOK_SECRET: fake.webhookSecret,
		REPLICATE_POLL_INTERVAL_MS: '20',
		REPLICATE_MAX_WAIT_MS: '300',
		PUBLIC_BASE_URL: 'https://picture.example'
	});
	alice = await signedInUser(services);
});
afterAll(async () => {
	await fake.close();
	await db.drop();
});
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`; // usage outlives generations by design (0017)
	await db.sql`delete from job_queue`;
});

const work = () =>
	runWorkerForBudget({ sql: db.sql, handlers: services.handlers, trigger: 'manual', budgetMs: 20_000, concurrency: 2, leaseSeconds: 30 });
const generation = async (id: string) => (await db.sql`select * from image_generations where id = ${id}`)[0]!;
const jobOf = async (id: string) => (await db.sql`select j.* from job_queue j join image_generations g on g.job_id = j.id where g.id = ${id}`)[0]!;
const makeDue = (id: string) => db.sql`update job_queue set scheduled_at = now() where id = (select job_id from image_generations where id = ${id})`;

async function startFlux(prompt = 'a red fox in snow') {
	const response = await call(start, services, {
		method: 'POST',
		body: { prompt, model_id: 'black-forest-labs/flux-schnell', width: 1024, height: 576, seed: 3 },
		user: alice.user
	});
	expect(response.status).toBe(201);
	return (await response.json()).generation_id as string;
}

function signedDelivery(predictionId: string, options: { deliveryId?: string; timestamp?: number; secret?: string; body?: string } = {}) {
	const body = options.body ?? JSON.stringify(fake.view(predictionId));
	const id = options.deliveryId ?? `msg_${predictionId}_${Math.random()}`;
	const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
	const signature = signReplicateWebhook({ id, timestamp, body, secret: options.secret ?? fake.webhookSecret });
	return call(webhook, services, {
		method: 'POST',
		body,
		headers: { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }
	});
}

test('a prediction that outlives one job run is resumed, never created twice, and its output stored', async () => {
	// More processing polls than one run waits for: the first run must snooze the job.
	fake.scriptNext({ startingPolls: 1, processingPolls: 100, steps: 20 });
	const id = await startFlux();
	expect(await work()).toMatchObject({ processed: 0, errors: 0 });
	const waiting = await generation(id);
	expect(waiting.status).toBe('processing');
	expect(waiting.prediction_id).toMatch(/^[a-z2-7]{26}$/);
	const snoozed = await jobOf(id);
	expect(snoozed).toMatchObject({ status: 'pending', attempts: 0 });
	expect(snoozed.scheduled_at.getTime()).toBeGreaterThan(Date.now());

	const prediction = fake.prediction(waiting.prediction_id);
	expect(prediction.input).toMatchObject({ prompt: 'a red fox in snow', aspect_ratio: '16:9', seed: 3 });
	expect(prediction.webhook).toBe('https://picture.example/api/webhooks/replicate');
	expect(prediction.webhookEventsFilter).toEqual(['start', 'output', 'logs', 'completed']);

	// The prediction finishes; Replicate's "completed" webhook wakes the job at once.
	fake.advance(waiting.prediction_id, 200);
	const delivered = await signedDelivery(waiting.prediction_id);
	expect(delivered.status).toBe(200);
	expect((await jobOf(id)).scheduled_at.getTime()).toBeLessThanOrEqual(Date.now());
	expect(await work()).toMatchObject({ processed: 1, errors: 0 });
	expect(fake.createdCount).toBe(1);

	const done = await generation(id);
	expect(done).toMatchObject({ status: 'completed', progress: 100, predict_time_seconds: '1.234' });
	// metrics.predict_time x the catalogue's $0.003/s for FLUX.1 [schnell] (0027).
	expect(Number(done.cost_usd)).toBeCloseTo(1.234 * 0.003, 6);
	const png = await call(image, services, { params: { id }, path: '/x', user: alice.user });
	expect((await sharp(Buffer.from(await png.arrayBuffer())).metadata()).format).toBe('png');
});

test('429 with Retry-After waits that long without spending an attempt (nothing ran), then the prediction finishes', async () => {
	fake.scriptNext({ startingPolls: 0, processingPolls: 2 });
	fake.forceNext({ status: 429, retryAfter: '37', method: 'POST' });
	const id = await startFlux('a castle');
	const createdBefore = fake.createdCount;
	await work();
	const job = await jobOf(id);
	expect(job).toMatchObject({ status: 'pending', attempts: 0 });
	const wait = (job.scheduled_at.getTime() - Date.now()) / 1000;
	expect(wait).toBeGreaterThan(30);
	expect(wait).toBeLessThanOrEqual(37);
	expect(fake.createdCount).toBe(createdBefore); // the throttled create made nothing

	await makeDue(id);
	await work();
	expect((await generation(id)).status).toBe('completed');
});

test('a failed prediction fails the generation at once with a message a person understands', async () => {
	fake.scriptNext({ startingPolls: 0, processingPolls: 1, outcome: 'nsfw' });
	const id = await startFlux('something the filter dislikes');
	await work();
	const failed = await generation(id);
	expect(failed.status).toBe('failed');
	expect(failed.error_message).toBe("The model's safety filter blocked this image. Try a different prompt.");
	expect(await jobOf(id)).toMatchObject({ status: 'failed', attempts: 1 });
});

test('a retried job (crashed worker) resumes the stored prediction', async () => {
	fake.scriptNext({ startingPolls: 0, processingPolls: 1 });
	const id = await startFlux('a lighthouse');
	const created = fake.createdCount;
	// A first attempt that created the prediction and then died: the lease ran out.
	const [claim] = await db.sql`select * from claim_jobs('doomed-worker', 1)`;
	const predictionResponse = await fetch(`${fake.baseUrl}/models/black-forest-labs/flux-schnell/predictions`, {
		method: 'POST',
		headers: { authorization: `Bearer ${fake.token}`, 'content-type': 'application/json' },
		body: JSON.stringify({ input: { prompt: 'a lighthouse' } })
	});
	const predictionId = (await predictionResponse.json()).id;
	await db.sql`update image_generations set prediction_id = ${predictionId}, status = 'processing' where id = ${id}`;
	await db.sql`update job_queue set locked_until = now() - interval '1 second' where id = ${claim!.id}`;

	await work(); // reaps the expired lease, then runs the job again
	expect(fake.createdCount).toBe(created + 1);
	expect(await generation(id)).toMatchObject({ status: 'completed', prediction_id: predictionId });
	expect(await jobOf(id)).toMatchObject({ status: 'completed', attempts: 2 });
});

test('cancelling a running generation cancels its prediction', async () => {
	fake.scriptNext({ startingPolls: 1, processingPolls: 40_000 });
	const id = await startFlux('a slow one');
	await work();
	const { prediction_id } = await generation(id);
	const response = await call(cancel, services, { method: 'DELETE', params: { id }, user: alice.user });
	expect((await response.json()).status).toBe('cancelled');
	expect(fake.prediction(prediction_id).canceledAt).not.toBeNull();
	expect((await jobOf(id)).status).toBe('cancelled');
});

test('webhooks: only valid, fresh signatures; the same delivery twice changes nothing more', async () => {
	fake.scriptNext({ startingPolls: 0, processingPolls: 1000, steps: 10 });
	const id = await startFlux('a windmill');
	await work();
	const { prediction_id } = await generation(id);
	await db.sql`update image_generations set progress = 1 where id = ${id}`;
	fake.advance(prediction_id, 500);

	const tampered = JSON.stringify({ ...fake.view(prediction_id), logs: '99%|' });
	const bad = await signedDelivery(prediction_id, { secret: `whsec_${Buffer.from('wrong').toString('base64')}` });
	expect(bad.status).toBe(401);
	const stale = await signedDelivery(prediction_id, { timestamp: Math.floor(Date.now() / 1000) - 301 });
	expect(stale.status).toBe(401);
	const forged = await call(webhook, services, {
		method: 'POST',
		body: tampered,
		headers: { 'webhook-id': 'x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' }
	});
	expect(forged.status).toBe(401);
	expect((await generation(id)).progress).toBe(1);

	const first = await signedDelivery(prediction_id, { deliveryId: 'msg_once' });
	expect(await first.json()).toEqual({ ok: true, outcome: 'applied' });
	const after = (await generation(id)).progress;
	expect(after).toBeGreaterThan(1);
	await db.sql`update image_generations set progress = 2 where id = ${id}`;
	const again = await signedDelivery(prediction_id, { deliveryId: 'msg_once' });
	expect(await again.json()).toEqual({ ok: true, outcome: 'duplicate' });
	expect((await generation(id)).progress).toBe(2);
});
