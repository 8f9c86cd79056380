import { fail } from '@sveltejs/kit';
import { clearUserLimits, DEFAULT_LIMITS, LIMIT_MAX, listUsers, setUserLimits } from '$lib/server/admin/users';
import { NotFoundError, ValidationError } from '$lib/server/errors';
import { requireUser } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url }) => {
	const query = url.searchParams.get('q')?.trim() ?? '';
	const page = await listUsers(locals.services.sql, { query, before: url.searchParams.get('before') });
	return { ...page, query, paged: url.searchParams.has('before'), defaults: DEFAULT_LIMITS, limitMax: LIMIT_MAX };
};

/** A service error for one user's form: 400 for bad input, 404 for an unknown user. */
function failure(action: string, userId: string, err: unknown) {
	if (err instanceof ValidationError) return fail(400, { action, userId, error: err.message, field: err.field });
	if (err instanceof NotFoundError) return fail(404, { action, userId, error: err.message, field: null });
	throw err;
}

const describe = (limits: { hourly_limit: number; daily_limit: number }) =>
	`${limits.hourly_limit} an hour, ${limits.daily_limit} a day`;

export const actions: Actions = {
	limits: async ({ request, locals }) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		const userId = String(form.get('user_id') ?? '');
		try {
			const limits = await setUserLimits(locals.services.sql, actor, userId, {
				hourly: form.get('hourly_limit'),
				daily: form.get('daily_limit')
			});
			return { action: 'limits', userId, message: `Limits saved: ${describe(limits)}.` };
		} catch (err) {
			return failure('limits', userId, err);
		}
	},

	clear: async ({ request, locals }) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		const userId = String(form.get('user_id') ?? '');
		try {
			const limits = await clearUserLimits(locals.services.sql, actor, userId);
			return { action: 'clear', userId, message: `Back to the defaults: ${describe(limits)}.` };
		} catch (err) {
			return failure('clear', userId, err);
		}
	}
};
