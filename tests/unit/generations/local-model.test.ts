import sharp from 'sharp';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createLocalProvider } from '$lib/server/providers/local';
import { ProviderError, type GenerationInput, type ModelInfo, type ProviderContext } from '$lib/server/providers/types';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function model(id: 'local/preview' | 'local/detailed', defaults: Record<string, unknown> = {}): ModelInfo {
	return { id, provider: 'local', defaults, sizeMapping: 'dimensions' };
}

function input(overrides: Partial<GenerationInput> = {}): GenerationInput {
	return {
		generationId: '00000000-0000-4000-8000-000000000000',
		model: model('local/detailed'),
		prompt: 'a sunset over mountains',
		negativePrompt: null,
		width: 256,
		height: 256,
		seed: 42,
		predictionId: null,
		...overrides
	};
}

function context(overrides: Partial<ProviderContext> = {}): ProviderContext & { progress: number[] } {
	const progress: number[] = [];
	return {
		signal: new AbortController().signal,
		onProgress: (percent) => {
			progress.push(percent);
		},
		savePredictionId: async () => {
			throw new Error('the local model has no remote prediction to save');
		},
		progress,
		...overrides
	};
}

const instant = createLocalProvider({ msPerImage: 0 });

async function render(overrides: Partial<GenerationInput> = {}): Promise<Buffer> {
	const result = await instant.generate(input(overrides), context());
	if (result.state !== 'succeeded') throw new Error(`expected an image, got ${result.state}`);
	return result.image.data;
}

/** Mean absolute difference per channel, 0-255, of two same-sized images. */
async function difference(a: Buffer, b: Buffer): Promise<number> {
	const [ra, rb] = await Promise.all([sharp(a).raw().toBuffer(), sharp(b).raw().toBuffer()]);
	expect(ra.length).toBe(rb.length);
	let sum = 0;
	for (let i = 0; i < ra.length; i++) sum += Math.abs((ra[i] ?? 0) - (rb[i] ?? 0));
	return sum / ra.length;
}

afterEach(() => {
	vi.useRealTimers();
});

describe('the image', () => {
	test('is a PNG of the requested size, for both models and odd sizes', async () => {
		for (const [id, width, height] of [
			['local/detailed', 256, 256],
			['local/preview', 320, 200],
			['local/detailed', 120, 376],
			['local/preview', 1, 1]
		] as const) {
			const result = await instant.generate(input({ model: model(id), width, height }), context());
			expect(result.state).toBe('succeeded');
			if (result.state !== 'succeeded') return;
			const { image } = result;
			expect(image.contentType).toBe('image/png');
			expect(image.predictionId).toBeNull();
			expect(image.predictTimeSeconds).toBeGreaterThanOrEqual(0);
			expect(image.data.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
			const metadata = await sharp(image.data).metadata();
			expect([metadata.format, metadata.width, metadata.height, metadata.channels]).toEqual(['png', width, height, 3]);
		}
	});

	test('the same inputs give byte-identical images', async () => {
		for (const id of ['local/preview', 'local/detailed'] as const) {
			const options = { model: model(id), prompt: 'neon city', negativePrompt: 'fog', seed: 7 };
			const [a, b] = [await render(options), await render(options)];
			expect(a.equals(b)).toBe(true);
		}
	});

	test('different prompts give clearly different images', async () => {
		const prompts = ['a sunset over mountains', 'deep ocean at night', 'a green forest with fog', 'neon city', 'a cat'];
		const images = await Promise.all(prompts.map((prompt) => render({ prompt })));
		for (let i = 0; i < images.length; i++) {
			for (let j = i + 1; j < images.length; j++) {
				// Typical differences are 30-80 levels; 15 would still be obvious to the eye.
				expect(await difference(images[i]!, images[j]!), `${prompts[i]} vs ${prompts[j]}`).toBeGreaterThan(15);
			}
		}
	});

	test('different seeds, negative prompts and models give different images', async () => {
		const base = await render();
		expect(await difference(base, await render({ seed: 43 }))).toBeGreaterThan(5);
		expect(await difference(base, await render({ negativePrompt: 'blurry' }))).toBeGreaterThan(5);
		expect(await difference(base, await render({ model: model('local/preview') }))).toBeGreaterThan(5);
	});

	test('is a picture, not noise: neighbouring pixels are mostly alike', async () => {
		const { data, info } = await sharp(await render({ prompt: 'a green forest with fog' }))
			.raw()
			.toBuffer({ resolveWithObject: true });
		let sum = 0;
		for (let y = 0; y < info.height; y++) {
			for (let x = 1; x < info.width; x++) {
				const i = (y * info.width + x) * 3;
				sum += Math.abs((data[i] ?? 0) - (data[i - 3] ?? 0));
			}
		}
		expect(sum / (info.height * (info.width - 1))).toBeLessThan(6);
	});

	test('refuses sizes it cannot render, permanently', async () => {
		for (const size of [{ width: 0 }, { height: 5000 }, { width: 12.5 }]) {
			const error = await instant.generate(input(size), context()).catch((e: unknown) => e);
			expect(error).toBeInstanceOf(ProviderError);
			expect((error as ProviderError).options.permanent).toBe(true);
		}
	});
});

describe('steps and progress', () => {
	test('reports strictly increasing progress after each step, ending at 100', async () => {
		const detailed = context();
		await instant.generate(input(), detailed);
		expect(detailed.progress).toHaveLength(20);
		const preview = context();
		await instant.generate(input({ model: model('local/preview') }), preview);
		expect(preview.progress).toHaveLength(10);
		for (const { progress } of [detailed, preview]) {
			expect(progress.at(-1)).toBe(100);
			expect(progress[0]).toBeGreaterThan(0);
			for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1]!);
		}
	});

	test('takes its step count from the options or the model defaults', async () => {
		const seven = context();
		await createLocalProvider({ msPerImage: 0, steps: 7 }).generate(input(), seven);
		expect(seven.progress).toEqual([14, 28, 42, 57, 71, 85, 100]);
		const fromCatalogue = context();
		await instant.generate(input({ model: model('local/detailed', { steps: 24, detail: 'detailed' }) }), fromCatalogue);
		expect(fromCatalogue.progress).toHaveLength(24);
	});

	test('waits for an async progress callback before going on', async () => {
		const log: string[] = [];
		await createLocalProvider({ msPerImage: 0, steps: 3 }).generate(
			input(),
			context({
				onProgress: async (percent) => {
					log.push(`start ${percent}`);
					await Promise.resolve();
					log.push(`end ${percent}`);
				}
			})
		);
		expect(log).toEqual(['start 33', 'end 33', 'start 66', 'end 66', 'start 100', 'end 100']);
	});

	test('with no pace it uses no timers at all', async () => {
		vi.useFakeTimers();
		// Fake timers never fire unless advanced: this would hang if the provider set one.
		const result = await instant.generate(input(), context());
		expect(result.state).toBe('succeeded');
	});

	test('paces its steps to msPerImage', async () => {
		vi.useFakeTimers();
		const ctx = context();
		const generating = createLocalProvider({ msPerImage: 1000, steps: 4 }).generate(input({ width: 64, height: 64 }), ctx);
		await vi.advanceTimersByTimeAsync(249);
		expect(ctx.progress).toEqual([]);
		await vi.advanceTimersByTimeAsync(1);
		expect(ctx.progress).toEqual([25]);
		await vi.advanceTimersByTimeAsync(500);
		expect(ctx.progress).toEqual([25, 50, 75]);
		await vi.advanceTimersByTimeAsync(250);
		const result = await generating;
		expect(ctx.progress).toEqual([25, 50, 75, 100]);
		// The clock is fake too, so the reported time is exactly the pace.
		expect(result.state === 'succeeded' && result.image.predictTimeSeconds).toBe(1);
	});

	test('the preview model, with fewer steps, takes less time', async () => {
		vi.useFakeTimers();
		const ctx = context();
		const generating = createLocalProvider({ msPerImage: 2000 }).generate(
			input({ model: model('local/preview'), width: 64, height: 64 }),
			ctx
		);
		await vi.advanceTimersByTimeAsync(1000);
		await generating;
		expect(ctx.progress).toHaveLength(10);
	});

	test('rejects bad options', () => {
		expect(() => createLocalProvider({ msPerImage: -1 })).toThrow(RangeError);
		expect(() => createLocalProvider({ msPerImage: 0, steps: 0 })).toThrow(RangeError);
		expect(() => createLocalProvider({ msPerImage: 0, steps: 101 })).toThrow(RangeError);
	});

	test('cancel is a harmless no-op', async () => {
		await expect(instant.cancel('anything')).resolves.toBeUndefined();
	});
});

describe('abort', () => {
	test('stops between steps and throws the abort reason', async () => {
		const controller = new AbortController();
		const reason = new Error('the user cancelled');
		const ctx = context({ signal: controller.signal });
		const progress: number[] = [];
		ctx.onProgress = (percent) => {
			progress.push(percent);
			if (progress.length === 3) controller.abort(reason);
		};
		await expect(instant.generate(input(), ctx)).rejects.toBe(reason);
		expect(progress).toHaveLength(3);
	});

	test('wakes up from a paced wait at once', async () => {
		vi.useFakeTimers();
		const controller = new AbortController();
		const ctx = context({ signal: controller.signal });
		const generating = createLocalProvider({ msPerImage: 60_000 }).generate(input({ width: 64, height: 64 }), ctx);
		await vi.advanceTimersByTimeAsync(1000);
		// Mid-wait, and no timer is advanced from here on: only the abort can end the wait.
		controller.abort();
		const error = await generating.catch((e: unknown) => e);
		expect((error as Error).name).toBe('AbortError');
		expect(ctx.progress).toEqual([]);
		expect(vi.getTimerCount()).toBe(0);
	});

	test('an already aborted signal renders nothing', async () => {
		const ctx = context({ signal: AbortSignal.abort() });
		const error = await instant.generate(input(), ctx).catch((e: unknown) => e);
		expect((error as Error).name).toBe('AbortError');
		expect(ctx.progress).toEqual([]);
	});
});
