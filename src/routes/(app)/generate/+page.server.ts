import { randomUUID } from 'node:crypto';
import { redirect } from '@sveltejs/kit';
import { isGroupForm, parseGenerationRequest, parseGroupRequest } from '$lib/schemas';
import type { GenerateFormValues } from '$lib/forms/generate';
import { readGenerateForm, SIZE_PRESETS, toGenerationBody } from '$lib/forms/generate';
import type { Generation, ModelOption, Usage } from '$lib/types';
import { formFailure, generateFailure } from '$lib/server/http/forms';
import { modelOption } from '$lib/server/generations/models';
import { actions as formActions, load as pageLoad, requireUser } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

const RECENT = 8;

/** What the form starts with: "reuse settings" links fill it from the query string. */
function prefill(query: URLSearchParams, models: ModelOption[]): GenerateFormValues {
	const asked = query.get('model');
	const model = models.find((m) => m.id === asked && m.available) ?? models.find((m) => m.available) ?? models[0];
	const width = query.get('width') ?? '512';
	const height = query.get('height') ?? '512';
	const preset = SIZE_PRESETS.find((p) => String(p.width) === width && String(p.height) === height);
	const seed = query.get('seed') ?? '';
	return {
		prompt: query.get('prompt') ?? '',
		model_id: model?.id ?? '',
		size: preset?.id ?? 'custom',
		width,
		height,
		seed_mode: seed ? 'fixed' : 'random',
		seed,
		negative_prompt: query.get('negative_prompt') ?? '',
		idempotency_key: '',
		variations: '1',
		compare_models: []
	};
}

export const load = pageLoad(async ({ locals, url }) => {
	const user = requireUser(locals.user);
	const { generations } = locals.services;
	const [catalogue, limits, recent] = await Promise.all([generations.models(), generations.limits(user), generations.list(user, { limit: RECENT })]);
	const models: ModelOption[] = catalogue.map(modelOption);
	const usage: Usage = limits;
	const recentViews: Generation[] = await locals.services.generations.views(recent.items);
	return {
		models,
		usage,
		recent: recentViews,
		prefill: prefill(url.searchParams, models),
		// Fallback for browsers without JavaScript; with it, the page makes a new key after each submission.
		idempotencyKey: randomUUID()
	};
}) satisfies PageServerLoad;

export const actions = formActions({
	generate: async ({ request, locals }) => {
		const user = requireUser(locals.user);
		const values = readGenerateForm(await request.formData());
		const body = toGenerationBody(values);
		if (body.ok && isGroupForm(body.value)) {
			const group = parseGroupRequest(body.value);
			if (!group.ok) return formFailure(400, { field: group.field, error: group.error, values, limit: null });
			let groupId: string;
			try {
				groupId = (await locals.services.generations.groups.start(user, group.value)).group_id;
			} catch (err) {
				return generateFailure(err, values);
			}
			redirect(303, `/groups/${groupId}`);
		}
		const parsed = body.ok ? parseGenerationRequest(body.value) : body;
		if (!parsed.ok) return formFailure(400, { field: parsed.field, error: parsed.error, values, limit: null });
		let generationId: string;
		try {
			const started = await locals.services.generations.start(user, parsed.value);
			generationId = started.generation_id;
		} catch (err) {
			return generateFailure(err, values);
		}
		redirect(303, `/generations/${generationId}`);
	}
} satisfies Actions);
