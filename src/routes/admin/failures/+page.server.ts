import { consoleActor, consoleReader } from '$lib/server/console/access';
import { countFailureGroup, listFailureGroups, parseGroupMessage, retryFailureGroup } from '$lib/server/console/failures';
import { ValidationError } from '$lib/server/errors';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals }) => ({
	...(await listFailureGroups(consoleReader(locals.user), locals.services.sql)),
	now: new Date()
})) satisfies PageServerLoad;

export const actions = formActions({
	/** First submit: how many of the group's jobs would be retried. Second (confirm=1): retry them. */
	retryGroup: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const message = parseGroupMessage(form);
			if (form.get('confirm') !== '1') {
				return { confirm: { message, ...(await countFailureGroup(access, locals.services.sql, message)) } };
			}
			const count = Number(form.get('count'));
			if (!Number.isSafeInteger(count) || count < 0) throw new ValidationError('count', 'The confirmation is incomplete; ask again');
			const affected = await retryFailureGroup(access, locals.services.sql, message, { count, asOf: String(form.get('as_of') ?? '') });
			return { done: { message, affected } };
		} catch (err) {
			return actionProblem(err, {});
		}
	}
} satisfies Actions);
