import { json } from '@sveltejs/kit';
import { isGroupForm, parseGenerationRequest, parseGroupRequest } from '$lib/schemas';
import { NotFoundError } from '$lib/server/errors';
import { endpoint, requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

/**
 * Start a generation: 201 in the seed's shape; the same idempotency key answers with the same one.
 * The group form (`models` and/or `variations`) starts a group and answers with it and its members.
 */
export const POST = endpoint(async ({ request, locals }) => {
	const user = requireUser(locals.user);
	let body: unknown;
	try {
		body = await request.json();
	} catch {
		return json({ error: 'The request body must be JSON', field: 'body' }, { status: 400 });
	}
	const header = request.headers.get('idempotency-key');
	if (header && typeof body === 'object' && body !== null && !('idempotency_key' in body)) {
		body = { ...body, idempotency_key: header };
	}
	if (isGroupForm(body)) {
		const group = parseGroupRequest(body);
		if (!group.ok) return json({ error: group.error, field: group.field }, { status: 400 });
		const started = await locals.services.generations.groups.start(user, group.value);
		const loaded = await locals.services.generations.groups.get(user, started.group_id);
		if (!loaded) throw new NotFoundError('No such group');
		// As GET /api/groups/:id answers it: the queued members with their places in line.
		const view = await locals.services.generations.groups.view(loaded);
		return json({ success: true, group_id: view.id, status: view.status, group: view }, { status: started.created ? 201 : 200 });
	}
	const parsed = parseGenerationRequest(body);
	if (!parsed.ok) return json({ error: parsed.error, field: parsed.field }, { status: 400 });
	const started = await locals.services.generations.start(user, parsed.value);
	return json(
		{ success: true, generation_id: started.generation_id, job_id: started.job_id, status: started.created ? 'queued' : started.status },
		{ status: started.created ? 201 : 200 }
	);
}) satisfies RequestHandler;

/** The caller's generations, newest first: ?limit=&cursor=&status= */
export const GET = endpoint(async ({ url, locals }) => {
	const user = requireUser(locals.user);
	const limitParam = url.searchParams.get('limit');
	const page = await locals.services.generations.list(user, {
		limit: limitParam === null ? undefined : Number(limitParam),
		cursor: url.searchParams.get('cursor'),
		status: url.searchParams.get('status')
	});
	return json({ items: await locals.services.generations.views(page.items), next_cursor: page.next_cursor });
}) satisfies RequestHandler;
