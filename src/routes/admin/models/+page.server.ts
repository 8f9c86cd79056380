import { fail } from '@sveltejs/kit';
import { CONCURRENCY_MAX, CONCURRENCY_MIN, listModelStats, setModelConcurrency, setModelEnabled, STATS_DAYS } from '$lib/server/admin/models';
import { NotFoundError, ValidationError } from '$lib/server/errors';
import { requireUser } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals }) => ({
	models: await listModelStats(locals.services.sql),
	days: STATS_DAYS,
	concurrency: { min: CONCURRENCY_MIN, max: CONCURRENCY_MAX },
	replicateConfigured: locals.services.config.replicate.apiToken !== null
});

/** A service error for one model's form: 400 for bad input, 404 for an unknown model. */
function failure(action: string, modelId: string, err: unknown) {
	if (err instanceof ValidationError) return fail(400, { action, modelId, error: err.message, field: err.field });
	if (err instanceof NotFoundError) return fail(404, { action, modelId, error: err.message, field: null });
	throw err;
}

function toggle(enabled: boolean) {
	return async ({ request, locals }: Parameters<Actions[string]>[0]) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		const modelId = String(form.get('model_id') ?? '');
		try {
			const changed = await setModelEnabled(locals.services.sql, actor, modelId, enabled);
			const state = enabled ? 'enabled' : 'disabled';
			return { action: enabled ? 'enable' : 'disable', modelId, message: changed ? `${modelId} is ${state}.` : `${modelId} was already ${state}.` };
		} catch (err) {
			return failure(enabled ? 'enable' : 'disable', modelId, err);
		}
	};
}

export const actions: Actions = {
	enable: toggle(true),
	disable: toggle(false),
	concurrency: async ({ request, locals }) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		const modelId = String(form.get('model_id') ?? '');
		try {
			const value = await setModelConcurrency(locals.services.sql, actor, modelId, form.get('max_concurrency'));
			return { action: 'concurrency', modelId, message: `${modelId} now runs at most ${value} at once.` };
		} catch (err) {
			return failure('concurrency', modelId, err);
		}
	}
};
