import { consoleReader, consoleActor } from '$lib/server/console/access';
import { clearUserLimits, endUserSessions, LIMIT_MAX, listUsers, setUserLimits, setUserRole } from '$lib/server/console/users';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import type { UserLimits } from '$lib/server/generations/types';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals, url }) => {
	const access = consoleReader(locals.user);
	const query = url.searchParams.get('q')?.trim() ?? '';
	const page = await listUsers(access, locals.services.sql, { query, before: url.searchParams.get('before') });
	return {
		...page,
		query,
		paged: url.searchParams.has('before'),
		limitMax: LIMIT_MAX,
		localAccounts: !locals.services.supabaseAuth,
		viewerId: access.user.id,
		canAct: access.canAct
	};
}) satisfies PageServerLoad;

const describe = (limits: UserLimits) =>
	`${limits.hourly_limit} an hour, ${limits.daily_limit} a day` +
	(limits.daily_budget_usd != null ? `, $${limits.daily_budget_usd} a day` : '') +
	(limits.monthly_budget_usd != null ? `, $${limits.monthly_budget_usd} a month` : '');

export const actions = formActions({
	limits: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const userId = String(form.get('user_id') ?? '');
		try {
			const limits = await setUserLimits(access, locals.services.sql, userId, {
				hourly: form.get('hourly_limit'),
				daily: form.get('daily_limit'),
				// Absent from a form without the budget fields: those keep their values.
				dailyBudget: form.has('daily_budget_usd') ? form.get('daily_budget_usd') : undefined,
				monthlyBudget: form.has('monthly_budget_usd') ? form.get('monthly_budget_usd') : undefined
			});
			return { action: 'limits', userId, message: `Limits saved: ${describe(limits)}.` };
		} catch (err) {
			return actionProblem(err, { action: 'limits', userId });
		}
	},

	clear: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const userId = String(form.get('user_id') ?? '');
		try {
			const limits = await clearUserLimits(access, locals.services.sql, userId);
			return { action: 'clear', userId, message: `Back to the defaults: ${describe(limits)}.` };
		} catch (err) {
			return actionProblem(err, { action: 'clear', userId });
		}
	},

	role: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const userId = String(form.get('user_id') ?? '');
		try {
			const role = await setUserRole(access, locals.services.sql, userId, form.get('role'), { localAccounts: !locals.services.supabaseAuth });
			return { action: 'role', userId, message: role === 'user' ? 'Now a plain user.' : `Now ${role === 'admin' ? 'an administrator' : 'a read-only operator'}.` };
		} catch (err) {
			return actionProblem(err, { action: 'role', userId });
		}
	},

	/** Signs the user out everywhere at once. */
	endSessions: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const userId = String(form.get('user_id') ?? '');
		try {
			const ended = await endUserSessions(access, locals.services.sql, locals.services.sessions, userId);
			return { action: 'endSessions', userId, message: `${ended} session${ended === 1 ? '' : 's'} ended.` };
		} catch (err) {
			return actionProblem(err, { action: 'endSessions', userId });
		}
	}
} satisfies Actions);
