// One interface for every image model provider (the built-in local model, Replicate).
// Providers know nothing of the queue: the generate-image handler maps their results onto it.

export interface ModelInfo {
	/** e.g. 'black-forest-labs/flux-schnell' or 'local/preview' */
	id: string;
	provider: 'local' | 'replicate';
	/** Provider-specific defaults merged into every request, e.g. { num_inference_steps: 4 }. */
	defaults: Record<string, unknown>;
	/**
	 * How width/height reach the model: 'dimensions' passes width and height; 'aspect_ratio' passes
	 * aspect_ratio and megapixels (flux).
	 */
	sizeMapping: 'dimensions' | 'aspect_ratio';
}

export interface GenerationInput {
	generationId: string;
	model: ModelInfo;
	prompt: string;
	negativePrompt: string | null;
	width: number;
	height: number;
	seed: number;
	/** The prediction created by an earlier attempt of this job, if any: resume it, never create a second. */
	predictionId: string | null;
}

export interface ProviderContext {
	signal: AbortSignal;
	/** Progress 0-100; the caller throttles writes. */
	onProgress(percent: number): void | Promise<void>;
	/** Must be awaited right after a remote prediction is created, before any waiting. */
	savePredictionId(id: string): Promise<void>;
}

export interface GeneratedImage {
	data: Buffer;
	contentType: string;
	/** Seconds the model itself ran (Replicate's metrics.predict_time), when known. */
	predictTimeSeconds: number | null;
	predictionId: string | null;
	/** The price of those seconds when the provider sets it (the local model's hardware); else the model's catalogue price. */
	pricePerSecondUsd?: number | null;
}

export type ProviderResult =
	| { state: 'succeeded'; image: GeneratedImage }
	/** Still running remotely: check again later (the job is snoozed, not holding a worker). */
	| { state: 'running'; predictionId: string; progress: number | null; checkAgainSeconds: number };

export interface ImageProvider {
	/** Creates (or resumes) the generation and advances it as far as it can within one job run. */
	generate(input: GenerationInput, context: ProviderContext): Promise<ProviderResult>;
	/** Best effort: stop a remote prediction (the user cancelled). */
	cancel(predictionId: string): Promise<void>;
}

/**
 * A failure with what the queue needs to know: permanent ones fail the job at once with a
 * message a user understands; others retry, after retryAfterSeconds when the provider said so.
 */
export type ProviderFailureKind = 'input' | 'safety' | 'provider' | 'model' | 'unavailable';

export class ProviderError extends Error {
	constructor(
		message: string,
		public readonly options: {
			permanent: boolean;
			retryAfterSeconds?: number;
			details?: Record<string, unknown>;
			/** What kind of failure a user should be told of; by default 'model' when permanent, else 'provider'. */
			kind?: ProviderFailureKind;
		}
	) {
		super(message);
		this.name = 'ProviderError';
	}
}
