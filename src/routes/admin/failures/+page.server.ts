import { error } from '@sveltejs/kit';
import { actionFailure } from '$lib/server/admin/jobs';
import { countFailureGroup, listFailureGroups, parseGroupMessage, retryFailureGroup } from '$lib/server/admin/failures';
import { ValidationError } from '$lib/server/errors';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals }) => ({
	...(await listFailureGroups(locals.services.sql)),
	now: new Date()
});

export const actions: Actions = {
	/** First submit: how many of the group's jobs would be retried. Second (confirm=1): retry them. */
	retryGroup: async ({ request, locals }) => {
		const actor = locals.user;
		if (!actor?.isAdmin) error(403, 'This area is for administrators');
		const form = await request.formData();
		try {
			const message = parseGroupMessage(form);
			if (form.get('confirm') !== '1') {
				const { count, asOf } = await countFailureGroup(locals.services.sql, message);
				return { confirm: { message, count, asOf } };
			}
			const count = Number(form.get('count'));
			if (!Number.isSafeInteger(count) || count < 0) throw new ValidationError('count', 'The confirmation is incomplete; ask again');
			const affected = await retryFailureGroup(locals.services.sql, actor, message, { count, asOf: String(form.get('as_of') ?? '') });
			return { done: { message, affected } };
		} catch (err) {
			return actionFailure(err);
		}
	}
};
