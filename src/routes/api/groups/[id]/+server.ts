import { json } from '@sveltejs/kit';
import { groupView } from '$lib/server/generations/groups';
import { NotFoundError } from '$lib/server/errors';
import { endpoint, requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** The group, its status (complete once its last member ended) and its members, with their places in line. */
export const GET = endpoint(async ({ params, locals }) => {
	const user = requireUser(locals.user);
	const loaded = await locals.services.generations.groups.get(user, params.id);
	if (!loaded) throw new NotFoundError('No such group');
	return json(await locals.services.generations.groups.view(loaded));
}) satisfies RequestHandler;

/** Cancel the group as one: every member still queued or running is cancelled. */
export const DELETE = endpoint(async ({ params, locals }) => {
	const user = requireUser(locals.user);
	return json(groupView(await locals.services.generations.groups.cancel(user, params.id)));
}) satisfies RequestHandler;
