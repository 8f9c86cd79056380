import { randomUUID } from 'node:crypto';
import { error, redirect } from '@sveltejs/kit';
import type { Generation } from '$lib/types';
import type { AppUser } from '$lib/server/auth/user';
import { getModel } from '$lib/server/generations/models';
import { generateFailure } from '$lib/server/http/forms';
import { actionProblem, actions as formActions, load as pageLoad, requireUser } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

/** The user's own generation, or 404: someone else's is indistinguishable from none at all. */
async function ownGeneration(locals: App.Locals, user: AppUser, id: string) {
	const row = await locals.services.generations.get(user, id);
	if (!row || row.user_id !== user.id) error(404, 'No such generation');
	return row;
}

export const load = pageLoad(async ({ locals, params }) => {
	const user = requireUser(locals.user);
	const row = await ownGeneration(locals, user, params.id);
	const model = await getModel(locals.services.sql, row.model_id);
	const [generation] = (await locals.services.generations.views([row])) as [Generation];
	return {
		generation,
		modelName: model?.display_name ?? row.model_id,
		// For "vary the seed": one key per page view, so a double click starts one generation.
		idempotencyKey: randomUUID()
	};
}) satisfies PageServerLoad;

export const actions = formActions({
	cancel: async ({ locals, params }) => {
		const user = requireUser(locals.user);
		await ownGeneration(locals, user, params.id);
		await locals.services.generations.cancel(user, params.id);
		redirect(303, `/generations/${params.id}`);
	},

	delete: async ({ locals, params }) => {
		const user = requireUser(locals.user);
		try {
			await locals.services.generations.remove(user, params.id);
		} catch (err) {
			return actionProblem(err);
		}
		redirect(303, '/history');
	},

	/** The same settings with a new random seed, as a new generation. */
	vary: async ({ locals, params, request }) => {
		const user = requireUser(locals.user);
		const row = await ownGeneration(locals, user, params.id);
		const key = (await request.formData()).get('idempotency_key');
		let newId: string;
		try {
			const started = await locals.services.generations.start(user, {
					prompt: row.prompt,
					model_id: row.model_id,
					width: row.width,
					height: row.height,
					seed: null,
					negative_prompt: row.negative_prompt,
					idempotency_key: typeof key === 'string' && /^[\w.:-]{1,255}$/.test(key) ? key : null
				});
			newId = started.generation_id;
		} catch (err) {
			return generateFailure(err, null);
		}
		redirect(303, `/generations/${newId}`);
	}
} satisfies Actions);
