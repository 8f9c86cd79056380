// The Replicate provider through the real `replicate` client against the fake server: create once,
// store the id before waiting, poll with progress, resume, snooze, download at once, cancel.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createReplicateProvider, type ReplicateProviderOptions } from '$lib/server/providers/replicate';
import { startFakeReplicate, type FakeReplicate } from '../../support/fake-replicate';
import { PNG_SIGNATURE, recordingContext, request, sdxl } from '../../support/fake-replicate-fixtures';

let server: FakeReplicate;
beforeAll(async () => {
	server = await startFakeReplicate();
});
afterAll(() => server.close());

let before = { requests: 0, created: 0 };
beforeEach(() => {
	before = { requests: server.requestCount, created: server.createdCount };
});
const newRequests = () => server.requestCount - before.requests;
const newPredictions = () => server.createdCount - before.created;

function provider(options: Partial<ReplicateProviderOptions> = {}) {
	return createReplicateProvider({ token: server.token, baseUrl: server.baseUrl, pollIntervalMs: 5, maxWaitMs: 10_000, ...options });
}

describe('generate', () => {
	test('creates one prediction, stores its id before waiting, reports rising progress, returns the PNG', async () => {
		const { context, progress, saved } = recordingContext({
			// Stored after the create and before any poll: a crash now still resumes this prediction.
			onSave: () => expect(server.requestCount - before.requests).toBe(1)
		});
		const result = await provider().generate(request(), context);

		expect(result.state).toBe('succeeded');
		if (result.state !== 'succeeded') return;
		const id = result.image.predictionId!;
		expect(saved).toEqual([id]);
		expect(newPredictions()).toBe(1);
		expect(result.image.data.subarray(0, 8)).toEqual(PNG_SIGNATURE);
		expect(result.image.contentType).toBe('image/png');
		expect(result.image.predictTimeSeconds).toBe(1.234);
		expect(progress.length).toBeGreaterThanOrEqual(3);
		expect(progress.every((value, i) => i === 0 || value > progress[i - 1]!)).toBe(true);
		expect(progress.at(-1)).toBe(100);

		// An official model: POST /v1/models/{owner}/{name}/predictions, no version, flux inputs.
		const created = server.prediction(id);
		expect(server.requests[before.requests]).toMatchObject({ method: 'POST', path: '/v1/models/black-forest-labs/flux-schnell/predictions' });
		expect(created.createBody).not.toHaveProperty('version');
		expect(created.createBody).not.toHaveProperty('webhook');
		expect(created.input).toEqual({
			prompt: 'a lighthouse at dusk, oil painting',
			aspect_ratio: '4:3',
			megapixels: '1',
			seed: 42,
			output_format: 'png',
			num_inference_steps: 4,
			go_fast: true
		});
	});

	test('a versioned model is created with its version, width/height and negative prompt; string output works', async () => {
		server.scriptNext({ output: 'string', processingPolls: 1 });
		const { context } = recordingContext();
		const result = await provider().generate(request({ model: sdxl, width: 768, height: 512, negativePrompt: ' blurry ' }), context);
		expect(result.state).toBe('succeeded');
		if (result.state !== 'succeeded') return;
		const created = server.prediction(result.image.predictionId!);
		expect(server.requests[before.requests]).toMatchObject({ method: 'POST', path: '/v1/predictions' });
		expect(created.createBody.version).toBe(sdxl.id.split(':')[1]);
		expect(created.input).toEqual({ prompt: 'a lighthouse at dusk, oil painting', width: 768, height: 512, seed: 42, negative_prompt: 'blurry', num_inference_steps: 25 });
		expect(result.image.data.subarray(0, 8)).toEqual(PNG_SIGNATURE);
	});

	test('returns running at maxWait, then a later call resumes the same prediction to success', async () => {
		const first = recordingContext();
		const running = await provider({ maxWaitMs: 0 }).generate(request(), first.context);
		expect(running).toMatchObject({ state: 'running', checkAgainSeconds: 5, progress: null });
		if (running.state !== 'running') return;
		expect(first.saved).toEqual([running.predictionId]);

		const second = recordingContext();
		const done = await provider().generate(request({ predictionId: running.predictionId }), second.context);
		expect(done.state).toBe('succeeded');
		if (done.state !== 'succeeded') return;
		expect(done.image.predictionId).toBe(running.predictionId);
		expect(second.saved).toEqual([]); // nothing new to store
		expect(newPredictions()).toBe(1);
		expect(server.requests.slice(before.requests + 1).every((r) => r.method === 'GET')).toBe(true);
	});

	test('running past maxWait mid-poll reports the progress so far', async () => {
		server.scriptNext({ processingPolls: 100_000 });
		const { context } = recordingContext();
		const result = await provider({ maxWaitMs: 200 }).generate(request(), context);
		expect(result).toMatchObject({ state: 'running', checkAgainSeconds: 5 });
		expect(newPredictions()).toBe(1);
		expect(newRequests()).toBeGreaterThan(1); // it did poll before giving up
	});

	test('resuming a stored prediction never creates a second one', async () => {
		server.scriptNext({ startingPolls: 2, processingPolls: 2 });
		const first = await provider({ maxWaitMs: 0 }).generate(request(), recordingContext().context);
		if (first.state !== 'running') throw new Error('expected running');
		const createdBefore = server.createdCount;
		for (let attempt = 0; attempt < 3; attempt += 1) {
			await provider({ maxWaitMs: 0 }).generate(request({ predictionId: first.predictionId }), recordingContext().context);
		}
		const done = await provider().generate(request({ predictionId: first.predictionId }), recordingContext().context);
		expect(done.state).toBe('succeeded');
		expect(server.createdCount).toBe(createdBefore);
	});

	test('downloads the output straight away, before it expires', async () => {
		// The file answers only the very next request after success is shown.
		server.scriptNext({ outputExpiresAfterRequests: 1 });
		const result = await provider().generate(request(), recordingContext().context);
		expect(result.state).toBe('succeeded');
		if (result.state !== 'succeeded') return;
		const url = (server.view(result.image.predictionId!).output as string[])[0]!;
		expect((await fetch(url)).status).toBe(404); // expired now: only an immediate copy works
	});

	test('asks for a webhook with the four events when a webhook URL is configured', async () => {
		const webhookUrl = 'https://picture.example/api/webhooks/replicate';
		const result = await provider({ webhookUrl, maxWaitMs: 0 }).generate(request(), recordingContext().context);
		expect(result).toMatchObject({ state: 'running', checkAgainSeconds: 30 });
		if (result.state !== 'running') return;
		const { createBody } = server.prediction(result.predictionId);
		expect(createBody.webhook).toBe(webhookUrl);
		expect(createBody.webhook_events_filter).toEqual(['start', 'output', 'logs', 'completed']);
	});

	test('stops polling when the signal is aborted', async () => {
		server.scriptNext({ processingPolls: 100_000 });
		const reason = new Error('lease lost');
		const { context, controller } = recordingContext();
		context.onProgress = () => controller.abort(reason);
		await expect(provider().generate(request(), context)).rejects.toBe(reason);
		const after = server.requestCount;
		await new Promise((resolve) => setTimeout(resolve, 30)); // would be several polls if it kept going
		expect(server.requestCount).toBe(after);
	});

	test('if the id cannot be stored, the new prediction is cancelled and the error surfaces', async () => {
		server.scriptNext({ processingPolls: 100 });
		const failure = new Error('database down');
		const { context, saved } = recordingContext({ onSave: () => Promise.reject(failure) });
		await expect(provider().generate(request(), context)).rejects.toBe(failure);
		expect(server.view(saved[0]!).status).toBe('canceled');
	});
});

describe('cancel', () => {
	test('cancels a running prediction, and ignores one that does not exist', async () => {
		server.scriptNext({ processingPolls: 100 });
		const running = await provider({ maxWaitMs: 0 }).generate(request(), recordingContext().context);
		if (running.state !== 'running') throw new Error('expected running');
		await provider().cancel(running.predictionId);
		expect(server.view(running.predictionId).status).toBe('canceled');
		expect(server.requests.at(-1)).toMatchObject({ method: 'POST', path: `/v1/predictions/${running.predictionId}/cancel`, status: 200 });

		await expect(provider().cancel('doesnotexist')).resolves.toBeUndefined();
	});

	test('a prediction cancelled elsewhere fails the job permanently', async () => {
		server.scriptNext({ processingPolls: 100 });
		const running = await provider({ maxWaitMs: 0 }).generate(request(), recordingContext().context);
		if (running.state !== 'running') throw new Error('expected running');
		await provider().cancel(running.predictionId);
		await expect(provider().generate(request({ predictionId: running.predictionId }), recordingContext().context)).rejects.toMatchObject({
			message: 'The prediction was cancelled',
			options: { permanent: true }
		});
	});
});
