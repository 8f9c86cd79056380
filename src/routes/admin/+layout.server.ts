import { error } from '@sveltejs/kit';
import { load as layoutLoad } from '$lib/server/http';
import type { LayoutServerLoad } from './$types';

/**
 * The guard in hooks refuses non-administrators; for a browser opening a console page it lets the
 * request through with the refusal in locals, so the refusal is drawn as an error page inside the
 * app's layout. The pages' own loads refuse too (their console services demand access).
 */
export const load = layoutLoad(async ({ locals }) => {
	if (locals.refusal) error(locals.refusal.status, locals.refusal.message);
	return {};
}) satisfies LayoutServerLoad;
