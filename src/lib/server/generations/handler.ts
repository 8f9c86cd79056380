// The generate-image job: admit the generation under its model's concurrency limit, run the model,
// store the image and its thumbnail, complete the generation. Remote predictions that are still
// running snooze the job instead of holding a worker.
import type { Queryable } from '../db/client';
import { makeThumbnail } from '../images/thumbnail';
import { providerFor, type Providers } from '../providers';
import { ProviderError, type GeneratedImage } from '../providers/types';
import type { ImageStorage } from '../storage';
import { PermanentJobError, RetryLaterError, snooze } from '../worker/errors';
import type { JobHandler } from '../worker/types';
import { getModel, modelInfo, type ModelRow } from './models';
import { isUuid } from './read';
import type { GenerationRow } from './types';

export interface GenerateImageDeps {
	providers: Providers;
	storage: ImageStorage;
	/** Progress is written at most this often (each write notifies every watching browser). */
	progressIntervalMs?: number;
	/** How long to wait before trying again when the model is at its concurrency limit. */
	busyRetrySeconds?: number;
}

const extensions: Record<string, string> = { 'image/png': 'png', 'image/webp': 'webp', 'image/jpeg': 'jpg' };

/** An SQL string literal (standard_conforming_strings is on in every supported Postgres). */
function literal(value: string): string {
	return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Marks the generation processing unless its model already runs max_concurrency others.
 *
 * One simple-protocol query of two statements, which Postgres runs as one implicit transaction:
 * the advisory lock serialises admissions per model, and the update (a later statement, so a fresh
 * snapshot) counts the running generations only once it holds the lock. Not sql.begin(): if the
 * connection dies inside a postgres.js transaction, the driver's ROLLBACK write lands on a null
 * socket in a setImmediate and crashes the process (porsager/postgres#1208, still in 3.4.9), and a
 * worker must survive a database restart. No parameters in the simple protocol, so the values are
 * inlined: a uuid checked by the caller, a model id and a number read from the database.
 */
async function admit(sql: Queryable, generation: GenerationRow, model: ModelRow): Promise<boolean> {
	if (generation.status === 'processing') return true; // resumed after a snooze: it holds its slot
	if (!isUuid(generation.id) || !Number.isInteger(model.max_concurrency)) throw new Error('admit: unexpected generation or model');
	const results = (await sql.unsafe(`
		select pg_advisory_xact_lock(hashtextextended(${literal('model-slots:' + model.id)}, 0));
		update public.image_generations
		set status = 'processing', started_at = coalesce(started_at, now())
		where id = ${literal(generation.id)} and status = 'queued'
		  and (select count(*) from public.image_generations
		       where model_id = ${literal(model.id)} and status = 'processing') < ${model.max_concurrency}
		returning id`)) as unknown as unknown[][];
	return results[1]?.length === 1;
}

function progressWriter(sql: Queryable, id: string, intervalMs: number) {
	let lastWrite = 0;
	let lastValue = -1;
	return async (percent: number, force = false) => {
		const value = Math.max(0, Math.min(100, Math.round(percent)));
		const now = Date.now();
		if (value <= lastValue || (!force && now - lastWrite < intervalMs)) return;
		lastWrite = now;
		lastValue = value;
		await sql`update public.image_generations set progress = greatest(progress, ${value})
			where id = ${id} and status = 'processing'`;
	};
}

async function storeAndComplete(sql: Queryable, storage: ImageStorage, generation: GenerationRow, image: GeneratedImage) {
	const base = `${generation.user_id}/${generation.id}`;
	const imageKey = `${base}.${extensions[image.contentType] ?? 'png'}`;
	const thumbKey = `${base}.thumb.webp`;
	const thumbnail = await makeThumbnail(image.data);
	await storage.put(imageKey, image.data, image.contentType);
	await storage.put(thumbKey, thumbnail.data, thumbnail.contentType);
	const done = await sql`
		update public.image_generations
		set status = 'completed', progress = 100, completed_at = now(), image_path = ${imageKey},
		    thumbnail_path = ${thumbKey}, image_content_type = ${image.contentType}, image_bytes = ${image.data.length},
		    predict_time_seconds = ${image.predictTimeSeconds}, prediction_id = coalesce(${image.predictionId}, prediction_id),
		    error_message = null
		where id = ${generation.id} and status = 'processing'
		returning id`;
	if (done.length > 0) return;
	// Not ours to complete. Cancelled or deleted while we rendered: the user does not want the image,
	// do not keep it. But completed by another run of this job (ours lost its lease and ran on):
	// that run stored the same keys, and deleting them would leave a completed generation without
	// its image. Delete only what the row does not point at.
	const [current] = await sql<{ image_path: string | null; thumbnail_path: string | null }[]>`
		select image_path, thumbnail_path from public.image_generations where id = ${generation.id}`;
	const orphans = [imageKey, thumbKey].filter((key) => key !== current?.image_path && key !== current?.thumbnail_path);
	if (orphans.length > 0) await storage.delete(orphans);
}

/** How long transient provider errors are waited out without spending attempts (Replicate keeps outputs an hour). */
const TRANSIENT_PATIENCE_MS = 60 * 60_000;
const TRANSIENT_SNOOZE_SECONDS = 5;

export function createGenerateImageHandler(deps: GenerateImageDeps): JobHandler {
	const intervalMs = deps.progressIntervalMs ?? 1000;
	return async (job, { signal, sql }) => {
		const generationId = job.payload.generation_id;
		if (typeof generationId !== 'string' || !isUuid(generationId)) {
			throw new PermanentJobError('The job has no valid generation_id in its payload');
		}
		const [generation] = await sql<GenerationRow[]>`select * from public.image_generations where id = ${generationId}`;
		if (!generation) throw new PermanentJobError(`Generation ${generationId} does not exist`);
		if (generation.status === 'completed' || generation.status === 'cancelled') return;

		const model = await getModel(sql, generation.model_id);
		if (!model || !model.enabled) throw new PermanentJobError(`The model ${generation.model_id} is not available any more`);
		const provider = providerFor(deps.providers, model.provider);
		if (!provider) {
			throw new PermanentJobError('Replicate models are not available on this server (REPLICATE_API_TOKEN is not set)');
		}
		if (!(await admit(sql, generation, model))) return snooze(deps.busyRetrySeconds ?? 2);

		const writeProgress = progressWriter(sql, generation.id, intervalMs);
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
					signal,
					onProgress: (percent) => writeProgress(percent),
					savePredictionId: async (id) => {
						await sql`update public.image_generations set prediction_id = ${id} where id = ${generation.id}`;
						predictionId = id;
					}
				}
			);
			if (result.state === 'running') {
				if (result.progress !== null) await writeProgress(result.progress, true);
				return snooze(result.checkAgainSeconds);
			}
			await storeAndComplete(sql, deps.storage, generation, result.image);
		} catch (error) {
			if (signal.aborted || !(error instanceof ProviderError)) throw error;
			const { permanent, retryAfterSeconds, details } = error.options;
			if (permanent) throw new PermanentJobError(error.message, details);
			if (Date.now() - new Date(generation.created_at).getTime() < TRANSIENT_PATIENCE_MS) {
				// Once the prediction exists it runs on Replicate whatever our check of it answered, so a
				// failed status check or download is no failure of the job; and a 429 before creating one
				// means nothing ran. Either way the job waits (honouring Retry-After) without spending an
				// attempt. Past the patience window, attempts are spent as usual, so an outage ends in failure.
				if (predictionId !== null || details?.status === 429) {
					return snooze(retryAfterSeconds ?? TRANSIENT_SNOOZE_SECONDS);
				}
			}
			if (retryAfterSeconds !== undefined) {
				throw new RetryLaterError(error.message, retryAfterSeconds, { ...details, retryAfterSeconds });
			}
			throw error;
		}
	};
}
