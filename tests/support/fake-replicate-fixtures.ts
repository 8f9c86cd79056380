// Shared fixtures for tests that drive the Replicate provider against the fake server.
import type { ModelInfo, ProviderContext, GenerationInput } from '../../src/lib/server/providers/types';

export const fluxSchnell: ModelInfo = {
	id: 'black-forest-labs/flux-schnell',
	provider: 'replicate',
	defaults: { num_inference_steps: 4, go_fast: true },
	sizeMapping: 'aspect_ratio'
};

export const sdxl: ModelInfo = {
	id: 'stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc',
	provider: 'replicate',
	defaults: { num_inference_steps: 25 },
	sizeMapping: 'dimensions'
};

export function request(overrides: Partial<GenerationInput> = {}): GenerationInput {
	return {
		generationId: '00000000-0000-4000-8000-000000000001',
		model: fluxSchnell,
		prompt: 'a lighthouse at dusk, oil painting',
		negativePrompt: null,
		width: 1024,
		height: 768,
		seed: 42,
		predictionId: null,
		...overrides
	};
}

/** A ProviderContext that records what the provider reported, in order. */
export function recordingContext(options: { onSave?: (id: string) => void | Promise<void> } = {}) {
	const controller = new AbortController();
	const progress: number[] = [];
	const saved: string[] = [];
	const context: ProviderContext = {
		signal: controller.signal,
		onProgress: (percent) => {
			progress.push(percent);
		},
		savePredictionId: async (id) => {
			saved.push(id);
			await options.onSave?.(id);
		}
	};
	return { context, controller, progress, saved };
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
