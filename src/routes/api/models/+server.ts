import { endpoint } from '$lib/server/http';
import type { RequestHandler } from './$types';

/**
 * The catalogue, with whether each model can be used right now and why not. Serialised once per
 * short while (services.generations.catalogue); a client holding the same version gets a 304.
 */
export const GET = endpoint(async ({ locals, request }) => {
	const { body, etag } = await locals.services.generations.catalogue();
	if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { etag, 'cache-control': 'no-cache' } });
	return new Response(body, { headers: { 'content-type': 'application/json', etag, 'cache-control': 'no-cache' } });
}) satisfies RequestHandler;
