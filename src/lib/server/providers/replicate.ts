// The Replicate provider: one prediction per generation, created once and resumed by id, polled
// for a few seconds and then handed back to the queue (or woken by the webhook) while it runs.
import Replicate, { type Prediction } from 'replicate';
import { downloadOutput } from './replicate-output';
import { isNotFound, singleShotFetch, type Fetch } from './replicate-errors';
import { mapReplicateInput, parseProgress } from './replicate-input';
import {
	ProviderError,
	type GenerationInput,
	type ImageProvider,
	type ProviderContext,
	type ProviderResult
} from './types';

export { mapReplicateInput, parseProgress } from './replicate-input';

export interface ReplicateProviderOptions {
	token: string;
	/** Defaults to https://api.replicate.com/v1; tests point it at a local server. */
	baseUrl?: string;
	fetch?: Fetch;
	/** Public URL of POST /api/webhooks/replicate; null/undefined means poll only. */
	webhookUrl?: string | null;
	pollIntervalMs?: number;
	/** How long one job run waits on a prediction before snoozing the job. */
	maxWaitMs?: number;
}

const DEFAULT_BASE_URL = 'https://api.replicate.com/v1';
const WEBHOOK_EVENTS = ['start', 'output', 'logs', 'completed'] as const;
// Without a webhook we must come back to look; with one, the webhook wakes the job and the
// long snooze is only a safety net for a lost delivery.
const CHECK_AGAIN_POLLING_SECONDS = 5;
const CHECK_AGAIN_WEBHOOK_SECONDS = 30;
const SAFETY_FILTER = /nsfw|safety/i;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal.aborted) return reject(signal.reason);
		const onAbort = () => {
			clearTimeout(timer);
			reject(signal.reason);
		};
		const timer = setTimeout(() => {
			signal.removeEventListener('abort', onAbort);
			resolve();
		}, ms);
		signal.addEventListener('abort', onAbort, { once: true });
	});
}

/** 'owner/name' (official model, no version) or 'owner/name:version'. */
function modelReference(modelId: string): { model: string } | { version: string } {
	const colon = modelId.indexOf(':');
	return colon < 0 ? { model: modelId } : { version: modelId.slice(colon + 1) };
}

/** A failed, cancelled or aborted prediction, as a permanent error a user can read. */
export function terminalPredictionError(prediction: Pick<Prediction, 'id' | 'status' | 'error'>): ProviderError {
	const raw = prediction.error == null ? '' : typeof prediction.error === 'string' ? prediction.error : JSON.stringify(prediction.error);
	const details = { predictionId: prediction.id, status: prediction.status, error: raw.slice(0, 2000) };
	if (prediction.status === 'canceled') {
		return new ProviderError('The prediction was cancelled', { permanent: true, details });
	}
	if (prediction.status === 'failed' && SAFETY_FILTER.test(raw)) {
		return new ProviderError("The model's safety filter blocked this image. Try a different prompt.", { permanent: true, kind: 'safety', details });
	}
	if (prediction.status === 'failed') {
		const reason = raw.trim().slice(0, 300) || 'no reason given';
		return new ProviderError(`The model failed: ${reason}`, { permanent: true, details });
	}
	return new ProviderError('Replicate stopped the prediction before it finished', { permanent: true, details });
}

export function createReplicateProvider(options: ReplicateProviderOptions): ImageProvider {
	const baseFetch: Fetch = options.fetch ?? globalThis.fetch;
	const baseUrl = options.baseUrl ?? DEFAULT_BASE_URL;
	const webhookUrl = options.webhookUrl || null;
	const pollIntervalMs = options.pollIntervalMs ?? 1000;
	const maxWaitMs = options.maxWaitMs ?? 8000;

	// A fresh client per call: its fetch lets only one request through (see replicate-errors.ts).
	function client(signal: AbortSignal): Replicate {
		return new Replicate({
			auth: options.token,
			baseUrl,
			fetch: singleShotFetch(baseFetch, signal),
			useFileOutput: false,
			userAgent: 'picture (replicate-javascript/1.4.0)'
		});
	}

	async function create(input: GenerationInput, context: ProviderContext): Promise<Prediction> {
		const { signal } = context;
		const prediction = await client(signal).predictions.create({
			...modelReference(input.model.id),
			input: mapReplicateInput(input),
			...(webhookUrl ? { webhook: webhookUrl, webhook_events_filter: [...WEBHOOK_EVENTS] } : {}),
			signal
		});
		try {
			await context.savePredictionId(prediction.id);
		} catch (error) {
			// Unrecorded, a retry would create (and pay for) a second prediction: stop this one.
			// Best effort: the storage failure is the error worth reporting.
			await cancelQuietly(prediction.id).catch(() => {});
			throw error;
		}
		return prediction;
	}

	async function resume(predictionId: string, signal: AbortSignal): Promise<Prediction> {
		try {
			return await client(signal).predictions.get(predictionId, { signal });
		} catch (error) {
			if (!isNotFound(error)) throw error;
			throw new ProviderError('The prediction no longer exists on Replicate', {
				permanent: true,
				details: { predictionId, status: 404 }
			});
		}
	}

	async function cancelQuietly(predictionId: string): Promise<void> {
		try {
			await client(AbortSignal.timeout(15_000)).predictions.cancel(predictionId);
		} catch (error) {
			// Already gone: nothing left to stop.
			if (!isNotFound(error)) throw error;
		}
	}

	return {
		async generate(input, context): Promise<ProviderResult> {
			const { signal } = context;
			signal.throwIfAborted();
			let prediction = input.predictionId === null ? await create(input, context) : await resume(input.predictionId, signal);
			const deadline = Date.now() + maxWaitMs;
			let progress: number | null = null;

			for (;;) {
				const parsed = parseProgress(prediction.logs);
				// Never backwards: a model may print several bars (weights, then steps).
				if (parsed !== null && (progress === null || parsed > progress)) {
					progress = parsed;
					await context.onProgress(parsed);
				}
				if (prediction.status === 'succeeded') {
					// Replicate deletes outputs after an hour: copy the image now, not later.
					const image = await downloadOutput(prediction, baseFetch, signal);
					return { state: 'succeeded', image };
				}
				if (prediction.status === 'failed' || prediction.status === 'canceled' || prediction.status === 'aborted') {
					throw terminalPredictionError(prediction);
				}
				if (Date.now() + pollIntervalMs > deadline) {
					return {
						state: 'running',
						predictionId: prediction.id,
						progress,
						checkAgainSeconds: webhookUrl ? CHECK_AGAIN_WEBHOOK_SECONDS : CHECK_AGAIN_POLLING_SECONDS
					};
				}
				await sleep(pollIntervalMs, signal);
				prediction = await client(signal).predictions.get(prediction.id, { signal });
			}
		},

		cancel: cancelQuietly
	};
}
