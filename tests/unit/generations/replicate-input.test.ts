// Pure mapping of requests to Replicate inputs, and of logs to progress (no server needed).
import { describe, expect, test } from 'vitest';
import { mapReplicateInput, parseProgress } from '$lib/server/providers/replicate';
import { nearestAspectRatio, fluxMegapixels } from '$lib/server/providers/replicate-input';
import { parseRetryAfter } from '$lib/server/providers/replicate-errors';
import { fluxSchnell, request, sdxl } from '../../support/fake-replicate-fixtures';

describe('mapReplicateInput', () => {
	test('flux gets aspect_ratio, megapixels and png, never width/height or a negative prompt', () => {
		const input = mapReplicateInput(request({ width: 1344, height: 768, negativePrompt: 'blurry' }));
		expect(input).toEqual({
			prompt: 'a lighthouse at dusk, oil painting',
			aspect_ratio: '16:9',
			megapixels: '1',
			seed: 42,
			output_format: 'png',
			num_inference_steps: 4,
			go_fast: true
		});
	});

	test('model defaults may change the output format but not the prompt, size or seed', () => {
		const model = { ...fluxSchnell, defaults: { output_format: 'webp', prompt: 'x', seed: 1, aspect_ratio: '1:1' } };
		const input = mapReplicateInput(request({ model, width: 512, height: 1024 }));
		expect(input).toMatchObject({ output_format: 'webp', prompt: 'a lighthouse at dusk, oil painting', seed: 42, aspect_ratio: '9:16', megapixels: '0.25' });
	});

	test('dimension models get width, height and a trimmed negative prompt when given', () => {
		expect(mapReplicateInput(request({ model: sdxl, width: 1024, height: 1024, negativePrompt: '  text, watermark ' }))).toEqual({
			prompt: 'a lighthouse at dusk, oil painting',
			width: 1024,
			height: 1024,
			seed: 42,
			negative_prompt: 'text, watermark',
			num_inference_steps: 25
		});
		expect(mapReplicateInput(request({ model: sdxl, negativePrompt: '   ' }))).not.toHaveProperty('negative_prompt');
	});

	test('nearest aspect ratio and megapixels', () => {
		expect(nearestAspectRatio(1024, 1024)).toBe('1:1');
		expect(nearestAspectRatio(1920, 1080)).toBe('16:9');
		expect(nearestAspectRatio(1080, 1920)).toBe('9:16');
		expect(nearestAspectRatio(2560, 1080)).toBe('21:9');
		expect(nearestAspectRatio(4000, 1000)).toBe('21:9');
		expect(nearestAspectRatio(832, 1216)).toBe('2:3');
		expect(nearestAspectRatio(896, 1120)).toBe('4:5');
		expect(nearestAspectRatio(1152, 896)).toBe('5:4');
		expect(fluxMegapixels(512, 512)).toBe('0.25');
		expect(fluxMegapixels(512, 1024)).toBe('0.25');
		expect(fluxMegapixels(768, 768)).toBe('1');
		expect(fluxMegapixels(1440, 1440)).toBe('1');
	});
});

describe('parseProgress', () => {
	test('takes the last tqdm percentage', () => {
		const logs = 'Using seed: 42\n  0%|          | 0/20 [00:00<?, ?it/s]\n 45%|████      | 9/20 [00:01<00:01, 8.00it/s]\n';
		expect(parseProgress(logs)).toBe(45);
		expect(parseProgress(`${logs}100%|██████████| 20/20 [00:02<00:00, 8.00it/s]`)).toBe(100);
		// tqdm rewrites one line with carriage returns when not attached to a terminal newline.
		expect(parseProgress(' 10%|█         | 2/20\r 20%|██        | 4/20')).toBe(20);
	});

	test('prefers a tqdm bar over a stray percentage, falls back to any NN%, else null', () => {
		expect(parseProgress(' 30%|███       | 6/20 [..]\nDownloaded 99% of weights')).toBe(30);
		expect(parseProgress('loading 12%')).toBe(12);
		expect(parseProgress('Using seed: 42')).toBeNull();
		expect(parseProgress('')).toBeNull();
		expect(parseProgress(null)).toBeNull();
		expect(parseProgress('999%')).toBeNull();
	});
});

describe('parseRetryAfter', () => {
	test('seconds, HTTP dates and nonsense', () => {
		const now = Date.parse('2025-01-01T00:00:00Z');
		expect(parseRetryAfter('12', now)).toBe(12);
		expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30);
		expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
		expect(parseRetryAfter('soon', now)).toBeUndefined();
		expect(parseRetryAfter(null, now)).toBeUndefined();
	});
});
