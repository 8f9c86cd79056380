import { json } from '@sveltejs/kit';

const MODELS = [
	{ id: 'local/preview', provider: 'local', display_name: 'Preview', description: 'A local test model', min_size: 256, max_size: 1024, size_step: 64, available: true, unavailable_reason: null },
	{ id: 'black-forest-labs/flux-schnell', provider: 'replicate', display_name: 'FLUX.1 schnell', description: 'Fast text-to-image', min_size: 256, max_size: 1440, size_step: 32, available: true, unavailable_reason: null },
	{ id: 'stability-ai/sdxl', provider: 'replicate', display_name: 'SDXL', description: 'Stable Diffusion XL', min_size: 512, max_size: 1024, size_step: 64, available: false, unavailable_reason: 'no provider token' }
];

/** A small JSON list, as a catalogue endpoint answers. */
export function GET() {
	return json({ models: MODELS });
}
