// The generate-image job: admit the generation under its model's concurrency limit, run the model,
// store the image and its thumbnail, complete the generation, all fenced by the job's claim (run.ts).
// Claims pass over the jobs of a model with no free slot (0032), so 'busy' is only a lost race.
// Remote predictions that are still running snooze the job instead of holding a worker.
import type { Queryable } from '../db/client';
import { makeThumbnail } from '../images/thumbnail';
import { providerFor, type Providers } from '../providers';
import { ProviderError, type GeneratedImage } from '../providers/types';
import type { ImageStorage } from '../storage';
import { JobAbortedError, PermanentJobError, RetryLaterError, snooze } from '../worker/errors';
import type { JobHandler } from '../worker/types';
import { classified, type FailureClass } from './failures';
import { getModel, modelInfo } from './models';
import { admitGeneration, completeGeneration, startFence, type Fence, type GenerationRun } from './run';
import { isUuid } from '../../uuid';
import type { GenerationRow } from './types';

export interface GenerateImageDeps {
	providers: Providers;
	storage: ImageStorage;
	/** Progress is written at most this often (each write notifies every watching browser). */
	progressIntervalMs?: number;
	/** How often a run asks whether it still holds its job when the model reports no progress. */
	fenceCheckMs?: number;
}

const extensions: Record<string, string> = { 'image/png': 'png', 'image/webp': 'webp', 'image/jpeg': 'jpg' };

/**
 * Stores the image and its thumbnail, then completes the generation under this run's claim. The
 * claim is asked for just before the write, so a run cancelled meanwhile writes nothing; if it is
 * lost between that check and the completion, its files are removed again (below).
 */
async function storeAndComplete(sql: Queryable, storage: ImageStorage, generation: GenerationRow, run: GenerationRun, fence: Fence, image: GeneratedImage) {
	const base = `${generation.user_id}/${generation.id}`;
	const imageKey = `${base}.${extensions[image.contentType] ?? 'png'}`;
	const thumbKey = `${base}.thumb.webp`;
	const thumbnail = await makeThumbnail(image.data);
	await fence.check();
	try {
		await storage.put(imageKey, image.data, image.contentType);
		await storage.put(thumbKey, thumbnail.data, thumbnail.contentType);
	} catch (error) {
		throw classified(error instanceof Error ? error : new Error(String(error)), 'storage');
	}
	const done = await completeGeneration(sql, run, {
		imagePath: imageKey,
		thumbnailPath: thumbKey,
		contentType: image.contentType,
		bytes: image.data.length,
		predictSeconds: image.predictTimeSeconds,
		predictionId: image.predictionId,
		pricePerSecondUsd: image.pricePerSecondUsd ?? null
	});
	if (done) return;
	// Not ours to complete. Cancelled or deleted while we rendered: the user does not want the image,
	// do not keep it. But completed by another run of this job (ours lost its lease and ran on):
	// that run stored the same keys, and deleting them would leave a completed generation without
	// its image. Delete only what the row does not point at.
	const [current] = await sql<{ image_path: string | null; thumbnail_path: string | null }[]>`
		select image_path, thumbnail_path from public.image_generations where id = ${generation.id}`;
	const orphans = [imageKey, thumbKey].filter((key) => key !== current?.image_path && key !== current?.thumbnail_path);
	if (orphans.length > 0) await storage.delete(orphans);
	// Still our claim: the generation ended some other way (deleted), and the job is simply done.
	await fence.check();
}

/** How long transient provider errors are waited out without spending attempts (Replicate keeps outputs an hour). */
const TRANSIENT_PATIENCE_MS = 60 * 60_000;
const TRANSIENT_SNOOZE_SECONDS = 5;

export function createGenerateImageHandler(deps: GenerateImageDeps): JobHandler {
	const progressIntervalMs = deps.progressIntervalMs ?? 1000;
	const checkMs = deps.fenceCheckMs ?? 1000;
	return async (job, { signal, sql, workerId }) => {
		const generationId = job.payload.generation_id;
		if (typeof generationId !== 'string' || !isUuid(generationId)) {
			throw new PermanentJobError('The job has no valid generation_id in its payload');
		}
		const [generation] = await sql<GenerationRow[]>`select * from public.image_generations where id = ${generationId}`;
		if (!generation) throw new PermanentJobError(`Generation ${generationId} does not exist`);
		if (generation.status === 'completed' || generation.status === 'cancelled') return;

		const model = await getModel(sql, generation.model_id);
		if (!model || !model.enabled) {
			throw new PermanentJobError(`The model ${generation.model_id} is not available any more`, { class: 'unavailable' });
		}
		const provider = providerFor(deps.providers, model.provider);
		if (!provider) {
			throw new PermanentJobError('Replicate models are not available on this server (REPLICATE_API_TOKEN is not set)', { class: 'unavailable' });
		}
		const run: GenerationRun = { generationId: generation.id, jobId: job.id, workerId, claimCount: job.claim_count };
		const admission = await admitGeneration(sql, run);
		if (admission === 'lost') throw new JobAbortedError('lease-lost');
		// Busy: another claimer took the model's last slot first (claims pass over a full model, 0032,
		// but two can read its last free slot at once). admit_generation has already handed the job back
		// to its place in line, attempt refunded: it is not ours any more, so nothing is recorded.
		if (admission === 'busy') throw new JobAbortedError('handed-back');

		const fence = startFence(sql, run, signal, { progressIntervalMs, checkMs });
		let predictionId = generation.prediction_id;
		try {
			const result = await provider.generate(
				{
					generationId: generation.id,
					model: modelInfo(model),
					prompt: generation.prompt,
					negativePrompt: generation.negative_prompt,
					width: generation.width,
					height: generation.height,
					seed: Number(generation.seed),
					predictionId: generation.prediction_id
				},
				{
					signal: fence.signal,
					onProgress: (percent) => fence.progress(percent),
					savePredictionId: async (id) => {
						await sql`update public.image_generations set prediction_id = ${id} where id = ${generation.id}`;
						predictionId = id;
					}
				}
			);
			if (result.state === 'running') {
				if (result.progress !== null) await fence.progress(result.progress, true);
				return snooze(result.checkAgainSeconds);
			}
			await storeAndComplete(sql, deps.storage, generation, run, fence, result.image);
		} catch (error) {
			if (fence.signal.aborted && !signal.aborted) {
				// The run lost its job (cancelled, or reclaimed by another worker): stop paying for it.
				if (predictionId) await provider.cancel(predictionId).catch(() => {});
				throw new JobAbortedError('lease-lost');
			}
			if (signal.aborted || !(error instanceof ProviderError)) throw error;
			const { permanent, retryAfterSeconds } = error.options;
			const failureClass: FailureClass = error.options.kind ?? (permanent ? 'model' : 'provider');
			const details = { ...error.options.details, class: failureClass };
			if (permanent) throw new PermanentJobError(error.message, details);
			if (Date.now() - new Date(generation.created_at).getTime() < TRANSIENT_PATIENCE_MS) {
				// Once the prediction exists it runs on Replicate whatever our check of it answered, so a
				// failed status check or download is no failure of the job; and a 429 before creating one
				// means nothing ran. Either way the job waits (honouring Retry-After) without spending an
				// attempt. Past the patience window, attempts are spent as usual, so an outage ends in failure.
				if (predictionId !== null || error.options.details?.status === 429) {
					return snooze(retryAfterSeconds ?? TRANSIENT_SNOOZE_SECONDS);
				}
			}
			if (retryAfterSeconds !== undefined) {
				throw new RetryLaterError(error.message, retryAfterSeconds, { ...details, retryAfterSeconds });
			}
			throw Object.assign(error, { details });
		} finally {
			fence.stop();
		}
	};
}
