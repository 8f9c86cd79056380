import { json } from '@sveltejs/kit';
import { toView } from '$lib/server/generations/types';
import { NotFoundError } from '$lib/server/errors';
import { endpoint, requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

export const GET = endpoint(async ({ params, locals }) => {
	const user = requireUser(locals.user);
	const row = await locals.services.generations.get(user, params.id);
	if (!row) throw new NotFoundError('No such generation');
	const [view] = await locals.services.generations.views([row]);
	return json(view);
}) satisfies RequestHandler;

/** Cancel: a queued generation never runs; a running one stops within a second, its prediction cancelled. */
export const DELETE = endpoint(async ({ params, locals }) => {
	const user = requireUser(locals.user);
	const row = await locals.services.generations.cancel(user, params.id);
	return json(toView(row));
}) satisfies RequestHandler;
