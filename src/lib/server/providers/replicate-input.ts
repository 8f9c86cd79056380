// Pure helpers for the Replicate provider: a generation request -> a model's inputs, and logs ->
// a progress percentage. Kept apart from the HTTP code so they can be unit-tested directly.
import type { GenerationInput, ModelInfo } from './types';

/** flux-schnell / flux-dev accept exactly these aspect ratios. */
export const FLUX_ASPECT_RATIOS = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'] as const;
export type FluxAspectRatio = (typeof FLUX_ASPECT_RATIOS)[number];

// flux's "megapixels" counts 1024x1024 as "1". Below the geometric mean of the two choices
// (0.5 MP) the smaller render is closer to what was asked for.
const MEGAPIXEL = 1024 * 1024;

export function isFluxModel(model: ModelInfo): boolean {
	return model.sizeMapping === 'aspect_ratio' || /(^|\/)flux/i.test(model.id);
}

/** The allowed ratio closest to width:height, compared on a log scale so 2:1 and 1:2 are symmetric. */
export function nearestAspectRatio(width: number, height: number): FluxAspectRatio {
	const wanted = Math.log(width / height);
	let best: FluxAspectRatio = '1:1';
	let bestDistance = Number.POSITIVE_INFINITY;
	for (const ratio of FLUX_ASPECT_RATIOS) {
		const [w, h] = ratio.split(':').map(Number) as [number, number];
		const distance = Math.abs(Math.log(w / h) - wanted);
		if (distance < bestDistance) {
			best = ratio;
			bestDistance = distance;
		}
	}
	return best;
}

export function fluxMegapixels(width: number, height: number): '1' | '0.25' {
	return width * height <= 0.5 * MEGAPIXEL ? '0.25' : '1';
}

/**
 * The `input` object of a prediction. Model defaults (e.g. num_inference_steps) may override the
 * output format but never the request's own prompt, size or seed.
 */
export function mapReplicateInput(input: GenerationInput): Record<string, unknown> {
	const { model } = input;
	const flux = isFluxModel(model);
	const size =
		model.sizeMapping === 'aspect_ratio'
			? { aspect_ratio: nearestAspectRatio(input.width, input.height), megapixels: fluxMegapixels(input.width, input.height) }
			: { width: input.width, height: input.height };
	const mapped: Record<string, unknown> = {
		// PNG keeps the original lossless; the app makes its own WebP thumbnail.
		...(flux ? { output_format: 'png' } : {}),
		...model.defaults,
		prompt: input.prompt,
		...size,
		seed: input.seed
	};
	// flux has no negative prompt input; sending one would be ignored at best, rejected at worst.
	if (!flux && input.negativePrompt?.trim()) mapped.negative_prompt = input.negativePrompt.trim();
	return mapped;
}

/**
 * The last percentage in a prediction's logs (tqdm prints lines like
 * "  45%|████      | 9/20 [00:01<00:01, 8.00it/s]"), or null when there is none yet.
 * A tqdm bar ("NN%|") wins over a stray "NN%" elsewhere in the logs (e.g. a download message).
 */
export function parseProgress(logs: string | null | undefined): number | null {
	if (!logs) return null;
	return lastPercent(logs, /(\d{1,3})%\s*\|/g) ?? lastPercent(logs, /(\d{1,3})%/g);
}

function lastPercent(logs: string, pattern: RegExp): number | null {
	let last: number | null = null;
	for (const match of logs.matchAll(pattern)) {
		const value = Number(match[1]);
		if (value <= 100) last = value;
	}
	return last;
}
