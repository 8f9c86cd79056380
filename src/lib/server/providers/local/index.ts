// The built-in image model: paints an abstract landscape from the prompt and seed, with no network
// and no model weights. It runs in steps like a diffusion model (each step paints a band of rows)
// and paces itself so progress is visible in the app; tests set the pace to 0 and get it at once.
import { composeScene, type Detail } from './scene';
import { SceneRenderer } from './render';
import {
	ProviderError,
	type GenerationInput,
	type ImageProvider,
	type ModelInfo,
	type ProviderContext,
	type ProviderResult
} from '../types';

export interface LocalProviderOptions {
	/** Wall-clock time for one image at the default number of steps; 0 renders without any timer. */
	msPerImage: number;
	/** Steps of the detailed model (default 20); the preview model takes half as many. */
	steps?: number;
	/** What a second of this server's compute costs, recorded as the generation's cost (default 0). */
	pricePerSecondUsd?: number;
}

export const DEFAULT_STEPS = 20;
export const MAX_STEPS = 100;
/** Larger pictures are refused: the raw pixels alone of 4096x4096 take 48 MiB. */
export const MAX_SIDE = 4096;

export function createLocalProvider(options: LocalProviderOptions): ImageProvider {
	const baseSteps = options.steps ?? DEFAULT_STEPS;
	if (!Number.isFinite(options.msPerImage) || options.msPerImage < 0) {
		throw new RangeError(`msPerImage must be a non-negative number, not ${options.msPerImage}`);
	}
	if (!Number.isInteger(baseSteps) || baseSteps < 1 || baseSteps > MAX_STEPS) {
		throw new RangeError(`steps must be a whole number from 1 to ${MAX_STEPS}, not ${baseSteps}`);
	}
	// Every step costs the same time, so the preview model, with fewer steps, is also faster.
	const msPerStep = options.msPerImage / baseSteps;

	return {
		async generate(input: GenerationInput, context: ProviderContext): Promise<ProviderResult> {
			const started = performance.now();
			const { signal } = context;
			checkAborted(signal);
			checkSize(input);

			const detail = detailOf(input.model);
			const steps = stepsOf(input.model, detail, baseSteps);
			const scene = composeScene({
				modelId: input.model.id,
				prompt: input.prompt,
				negativePrompt: input.negativePrompt,
				seed: input.seed,
				detail
			});
			const renderer = new SceneRenderer(scene, input.width, input.height);

			let data: Buffer | null = null;
			for (let step = 0; step < steps; step++) {
				renderer.renderRows(bandStart(step, steps, input.height), bandStart(step + 1, steps, input.height));
				if (step === steps - 1) data = await renderer.png();
				if (msPerStep > 0) await sleepUntil(started + msPerStep * (step + 1), signal);
				checkAborted(signal);
				// Strictly increasing, since steps <= 100; the last step reports 100.
				await context.onProgress(Math.floor(((step + 1) * 100) / steps));
			}
			if (!data) throw new Error('local model finished without an image');
			return {
				state: 'succeeded',
				image: {
					data,
					contentType: 'image/png',
					predictTimeSeconds: (performance.now() - started) / 1000,
					predictionId: null,
					pricePerSecondUsd: options.pricePerSecondUsd ?? 0
				}
			};
		},

		async cancel(): Promise<void> {
			// Nothing runs remotely: aborting the job's signal stops a local generation.
		}
	};
}

/** 'local/preview' is the quick one; anything else local (or defaults.detail) picks the detail. */
export function detailOf(model: ModelInfo): Detail {
	const configured = model.defaults.detail;
	if (configured === 'preview' || configured === 'detailed') return configured;
	return model.id.endsWith('/preview') ? 'preview' : 'detailed';
}

function stepsOf(model: ModelInfo, detail: Detail, baseSteps: number): number {
	const configured = model.defaults.steps;
	const valid = typeof configured === 'number' && Number.isInteger(configured) && configured >= 1;
	if (valid && configured <= MAX_STEPS) return configured;
	return detail === 'preview' ? Math.max(1, Math.ceil(baseSteps / 2)) : baseSteps;
}

function checkSize(input: GenerationInput): void {
	for (const [name, value] of [
		['width', input.width],
		['height', input.height]
	] as const) {
		if (!Number.isInteger(value) || value < 1 || value > MAX_SIDE) {
			throw new ProviderError(`The ${name} must be a whole number of pixels from 1 to ${MAX_SIDE}.`, {
				permanent: true,
				kind: 'input',
				details: { [name]: value }
			});
		}
	}
}

function bandStart(step: number, steps: number, height: number): number {
	return Math.round((step * height) / steps);
}

function checkAborted(signal: AbortSignal): void {
	if (signal.aborted) throw abortReason(signal);
}

function abortReason(signal: AbortSignal): unknown {
	return signal.reason ?? Object.assign(new Error('The generation was aborted'), { name: 'AbortError' });
}

/** Waits until `deadline` (performance.now() time), or rejects as soon as the signal aborts. */
function sleepUntil(deadline: number, signal: AbortSignal): Promise<void> {
	if (signal.aborted) return Promise.reject(abortReason(signal));
	const wait = deadline - performance.now();
	if (wait <= 0) return Promise.resolve();
	return new Promise((resolve, reject) => {
		const onAbort = () => {
			clearTimeout(timer);
			reject(abortReason(signal));
		};
		const timer = setTimeout(() => {
			signal.removeEventListener('abort', onAbort);
			resolve();
		}, wait);
		signal.addEventListener('abort', onAbort, { once: true });
	});
}
