import { json } from '@sveltejs/kit';
import { cancelGeneration } from '$lib/server/generations/cancel';
import { getModel } from '$lib/server/generations/models';
import { getGeneration } from '$lib/server/generations/read';
import { toView } from '$lib/server/generations/types';
import { errorResponse, requireUser } from '$lib/server/http';
import { providerFor } from '$lib/server/providers';
import type { RequestHandler } from './$types';

export const GET: RequestHandler = async ({ params, locals }) => {
	const user = requireUser(locals.user);
	const row = await getGeneration(locals.services.sql, user, params.id);
	if (!row) return json({ error: 'No such generation' }, { status: 404 });
	return json(toView(row));
};

/** Cancel: a queued generation never runs; a running one has its prediction cancelled. */
export const DELETE: RequestHandler = async ({ params, locals }) => {
	const user = requireUser(locals.user);
	const { sql, providers } = locals.services;
	try {
		const row = await cancelGeneration(sql, user, params.id, async (modelId) => {
			const model = await getModel(sql, modelId);
			return model ? providerFor(providers, model.provider) : null;
		});
		return json(toView(row));
	} catch (err) {
		return errorResponse(err);
	}
};
