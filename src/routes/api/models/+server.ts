import { json } from '@sveltejs/kit';
import { endpoint } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** The catalogue, with whether each model can be used right now and why not. */
export const GET = endpoint(async ({ locals }) => {
	const models = await locals.services.generations.models();
	return json({
		models: models.map((m) => ({
			id: m.id,
			provider: m.provider,
			display_name: m.display_name,
			description: m.description,
			min_size: m.min_size,
			max_size: m.max_size,
			size_step: m.size_step,
			available: m.available,
			unavailable_reason: m.unavailable_reason
		}))
	});
}) satisfies RequestHandler;
