import { randomUUID } from 'node:crypto';
import { error, redirect } from '@sveltejs/kit';
import { GROUP_VARIATIONS_MAX } from '$lib/schemas';
import type { Group } from '$lib/types';
import type { AppUser } from '$lib/server/auth/user';
import { ValidationError } from '$lib/server/errors';
import { listModels } from '$lib/server/generations/models';
import { generateFailure } from '$lib/server/http/forms';
import { actionProblem, actions as formActions, load as pageLoad, requireUser } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

/** The user's own group, or 404: someone else's is indistinguishable from none at all. */
async function ownGroup(locals: App.Locals, user: AppUser, id: string) {
	const loaded = await locals.services.generations.groups.get(user, id);
	if (!loaded) error(404, 'No such group');
	return loaded;
}

const KEY = /^[\w.:-]{1,255}$/;

export const load = pageLoad(async ({ locals, params }) => {
	const user = requireUser(locals.user);
	const loaded = await ownGroup(locals, user, params.id);
	const models = await listModels(locals.services.sql, locals.services.generations.availability);
	const group: Group = await locals.services.generations.groups.view(loaded);
	return {
		group,
		modelNames: Object.fromEntries(models.map((m) => [m.id, m.display_name])) as Record<string, string>,
		// For "vary this one": one key per page view, so a double click starts one group.
		idempotencyKey: randomUUID()
	};
}) satisfies PageServerLoad;

/** The member named by the form, if it is one of this group's. */
async function memberOf(locals: App.Locals, user: AppUser, groupId: string, request: Request) {
	const form = await request.formData();
	const loaded = await ownGroup(locals, user, groupId);
	const id = form.get('generation_id');
	const member = loaded.members.find((m) => m.id === id);
	if (!member) error(404, 'No such picture in this group');
	const key = form.get('idempotency_key');
	return { loaded, member, key: typeof key === 'string' && KEY.test(key) ? key : null };
}

export const actions = formActions({
	cancel: async ({ locals, params }) => {
		const user = requireUser(locals.user);
		await locals.services.generations.groups.cancel(user, params.id);
		redirect(303, `/groups/${params.id}`);
	},

	/** Marks one finished picture as the one to keep. */
	keep: async ({ locals, params, request }) => {
		const user = requireUser(locals.user);
		const { member } = await memberOf(locals, user, params.id, request);
		try {
			await locals.services.generations.groups.keep(user, params.id, member.id);
		} catch (err) {
			return actionProblem(err);
		}
		redirect(303, `/groups/${params.id}`);
	},

	/** Deletes every member but the kept one, as deleting each would (images and rows). */
	discardOthers: async ({ locals, params }) => {
		const user = requireUser(locals.user);
		const loaded = await ownGroup(locals, user, params.id);
		const kept = loaded.group.kept_generation_id;
		if (!kept) return actionProblem(new ValidationError('generation_id', 'Pick the picture to keep first'));
		for (const member of loaded.members) {
			if (member.id !== kept) await locals.services.generations.remove(user, member.id);
		}
		redirect(303, `/groups/${params.id}`);
	},

	/** "Vary this one": a new group of that picture's model, prompt and size, with new seeds. */
	vary: async ({ locals, params, request }) => {
		const user = requireUser(locals.user);
		const { member, key } = await memberOf(locals, user, params.id, request);
		let groupId: string;
		try {
			const started = await locals.services.generations.groups.start(user, {
				prompt: member.prompt,
				model_ids: [member.model_id],
				variations: GROUP_VARIATIONS_MAX,
				width: member.width,
				height: member.height,
				seed: null,
				negative_prompt: member.negative_prompt,
				idempotency_key: key
			});
			groupId = started.group_id;
		} catch (err) {
			return generateFailure(err, null);
		}
		redirect(303, `/groups/${groupId}`);
	}
} satisfies Actions);
