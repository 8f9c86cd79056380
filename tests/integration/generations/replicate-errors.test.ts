// How the provider fails: retryable (429 honouring Retry-After, 5xx, network) versus permanent
// (bad token, invalid input, failed or filtered predictions), with exactly one request per call.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createReplicateProvider, type ReplicateProviderOptions } from '$lib/server/providers/replicate';
import { ProviderError } from '$lib/server/providers/types';
import { startFakeReplicate, type FakeReplicate } from '../../support/fake-replicate';
import { recordingContext, request } from '../../support/fake-replicate-fixtures';

let server: FakeReplicate;
beforeAll(async () => {
	server = await startFakeReplicate();
});
afterAll(() => server.close());

let requestsBefore = 0;
let createdBefore = 0;
beforeEach(() => {
	requestsBefore = server.requestCount;
	createdBefore = server.createdCount;
});
const newRequests = () => server.requestCount - requestsBefore;

function provider(options: Partial<ReplicateProviderOptions> = {}) {
	return createReplicateProvider({ token: server.token, baseUrl: server.baseUrl, pollIntervalMs: 5, maxWaitMs: 10_000, ...options });
}

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
	const error = await promise.then(
		() => null,
		(e: unknown) => e
	);
	expect(error).toBeInstanceOf(ProviderError);
	return error as ProviderError;
}

describe('HTTP errors', () => {
	test('429 on create: retryable after Retry-After seconds, one request, no prediction', async () => {
		server.forceNext({ status: 429, retryAfter: '7' });
		const error = await failure(provider().generate(request(), recordingContext().context));
		expect(error.options).toMatchObject({ permanent: false, retryAfterSeconds: 7 });
		// The client's own retry loop would have sent 6; ours lets one through.
		expect(newRequests()).toBe(1);
		expect(server.createdCount).toBe(createdBefore);
	});

	test('429 with an HTTP-date Retry-After while polling', async () => {
		server.scriptNext({ processingPolls: 5 });
		const first = await provider({ maxWaitMs: 0 }).generate(request(), recordingContext().context);
		if (first.state !== 'running') throw new Error('expected running');
		const at = new Date(Date.now() + 60_000).toUTCString();
		server.forceNext({ status: 429, retryAfter: at, method: 'GET' });
		requestsBefore = server.requestCount;
		const error = await failure(provider().generate(request({ predictionId: first.predictionId }), recordingContext().context));
		expect(error.options.permanent).toBe(false);
		expect(error.options.retryAfterSeconds).toBeGreaterThanOrEqual(58);
		expect(error.options.retryAfterSeconds).toBeLessThanOrEqual(61);
		expect(newRequests()).toBe(1);
	});

	test('500 on create and on a poll: retryable, one request each', async () => {
		server.forceNext({ status: 500 });
		const onCreate = await failure(provider().generate(request(), recordingContext().context));
		expect(onCreate.options.permanent).toBe(false);
		expect(onCreate.options.retryAfterSeconds).toBeUndefined();
		expect(newRequests()).toBe(1);

		server.scriptNext({ processingPolls: 5 });
		const { context, saved } = recordingContext();
		server.forceNext({ status: 503, method: 'GET' });
		requestsBefore = server.requestCount;
		const onPoll = await failure(provider().generate(request(), context));
		expect(onPoll.options.permanent).toBe(false);
		expect(newRequests()).toBe(2); // the create, then one GET (the client would retry GETs on 5xx)
		expect(saved).toHaveLength(1); // so the retry resumes it
	});

	test('422 invalid input: permanent, with the model\'s explanation', async () => {
		// A bad catalogue default reaches the fake server's real schema check.
		const model = { ...request().model, defaults: { output_format: 'tiff' } };
		const error = await failure(provider().generate(request({ model }), recordingContext().context));
		expect(error.options.permanent).toBe(true);
		expect(error.message).toMatch(/^The model rejected these settings: input\.output_format: output_format must be one of/);
		expect(newRequests()).toBe(1);

		server.forceNext({ status: 422, body: { detail: '- input.prompt: prompt is required', status: 422, title: 'Input validation failed' } });
		const forced = await failure(provider().generate(request(), recordingContext().context));
		expect(forced.message).toBe('The model rejected these settings: input.prompt: prompt is required');
		expect(server.createdCount).toBe(createdBefore);
	});

	test('a rejected token is permanent', async () => {
		const error = await failure(provider({ token: 'r8_wrong' }).generate(request(), recordingContext().context));
		expect(error.message).toBe('Replicate rejected the API token');
		expect(error.options.permanent).toBe(true);
		expect(newRequests()).toBe(1);
	});

	test('a network failure is retryable, and is not retried by the client', async () => {
		const closed = createServer();
		await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
		const { port } = closed.address() as AddressInfo;
		await new Promise((resolve) => closed.close(resolve));
		let calls = 0;
		const counting: typeof fetch = (input, init) => {
			calls += 1;
			return fetch(input, init);
		};
		const broken = createReplicateProvider({ token: 't', baseUrl: `http://127.0.0.1:${port}/v1`, fetch: counting });
		const error = await failure(broken.generate(request(), recordingContext().context));
		expect(error.options.permanent).toBe(false);
		expect(error.message).toMatch(/^Could not reach Replicate/);
		expect(calls).toBe(1);
	});
});

describe('failed predictions', () => {
	test('a model error fails permanently with its message', async () => {
		server.scriptNext({ outcome: 'failed', error: '  CUDA out of memory.\n ' });
		const error = await failure(provider().generate(request(), recordingContext().context));
		expect(error.message).toBe('The model failed: CUDA out of memory.');
		expect(error.options.permanent).toBe(true);
		expect(error.options.details).toMatchObject({ status: 'failed' });
	});

	test('the safety filter fails permanently with a message a user understands', async () => {
		server.scriptNext({ outcome: 'nsfw' });
		const error = await failure(provider().generate(request(), recordingContext().context));
		expect(error.message).toBe("The model's safety filter blocked this image. Try a different prompt.");
		expect(error.options.permanent).toBe(true);
	});

	test('a prediction cancelled on Replicate fails permanently', async () => {
		server.scriptNext({ outcome: 'canceled' });
		const error = await failure(provider().generate(request(), recordingContext().context));
		expect(error.message).toBe('The prediction was cancelled');
		expect(error.options.permanent).toBe(true);
	});

	test('an output that already expired is permanent; a stored prediction that vanished too', async () => {
		server.scriptNext({ processingPolls: 1 });
		const first = await provider({ maxWaitMs: 0 }).generate(request(), recordingContext().context);
		if (first.state !== 'running') throw new Error('expected running');
		server.advance(first.predictionId, 5);
		server.expireOutput(first.predictionId);
		const expired = await failure(provider().generate(request({ predictionId: first.predictionId }), recordingContext().context));
		expect(expired.message).toMatch(/expired/);
		expect(expired.options.permanent).toBe(true);

		const gone = await failure(provider().generate(request({ predictionId: 'nosuchprediction' }), recordingContext().context));
		expect(gone.options.permanent).toBe(true);
		expect(gone.message).toBe('The prediction no longer exists on Replicate');
	});
});
