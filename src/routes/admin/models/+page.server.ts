import { consoleActor, consoleReader } from '$lib/server/console/access';
import { CONCURRENCY_MAX, CONCURRENCY_MIN, listModelStats, PRICE_MAX, setModelConcurrency, setModelEnabled, setModelPrice, STATS_DAYS } from '$lib/server/console/models';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import type { Actions, PageServerLoad, RequestEvent } from './$types';

export const load = pageLoad(async ({ locals }) => ({
	models: await listModelStats(consoleReader(locals.user), locals.services.sql),
	days: STATS_DAYS,
	concurrency: { min: CONCURRENCY_MIN, max: CONCURRENCY_MAX },
	priceMax: PRICE_MAX,
	replicateConfigured: locals.services.generations.availability.replicateConfigured
})) satisfies PageServerLoad;

function toggle(enabled: boolean) {
	return async ({ request, locals }: RequestEvent) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const modelId = String(form.get('model_id') ?? '');
		const action = enabled ? 'enable' : 'disable';
		try {
			const changed = await setModelEnabled(access, locals.services.sql, modelId, enabled);
			const state = enabled ? 'enabled' : 'disabled';
			return { action, modelId, message: changed ? `${modelId} is ${state}.` : `${modelId} was already ${state}.` };
		} catch (err) {
			return actionProblem(err, { action, modelId });
		}
	};
}

export const actions = formActions({
	enable: toggle(true),
	disable: toggle(false),
	concurrency: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const modelId = String(form.get('model_id') ?? '');
		try {
			const value = await setModelConcurrency(access, locals.services.sql, modelId, form.get('max_concurrency'));
			return { action: 'concurrency', modelId, message: `${modelId} now runs at most ${value} at once.` };
		} catch (err) {
			return actionProblem(err, { action: 'concurrency', modelId });
		}
	},
	price: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const modelId = String(form.get('model_id') ?? '');
		try {
			const price = await setModelPrice(access, locals.services.sql, modelId, form.get('cost_per_second'));
			return { action: 'price', modelId, message: price === null ? `${modelId} has no price now: its costs are unknown.` : `${modelId} now costs $${price} a second.` };
		} catch (err) {
			return actionProblem(err, { action: 'price', modelId });
		}
	}
} satisfies Actions);
