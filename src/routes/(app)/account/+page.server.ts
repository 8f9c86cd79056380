import { redirect } from '@sveltejs/kit';
import { changePassword } from '$lib/server/auth/local';
import { ValidationError } from '$lib/server/errors';
import { actionProblem, actions as formActions, load as pageLoad, requireUser } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals }) => {
	const user = requireUser(locals.user);
	const { sql, sessions, supabaseAuth } = locals.services;
	const [limits, list] = await Promise.all([locals.services.generations.limits(user), supabaseAuth ? [] : sessions.list(user.id)]);
	return {
		email: user.email,
		role: user.isAdmin ? 'administrator' : user.isOperator ? 'operator (read-only console)' : null,
		limits,
		localAccounts: !supabaseAuth,
		sessions: list.map((session) => ({ ...session, current: session.id === user.sessionId }))
	};
}) satisfies PageServerLoad;

export const actions = formActions({
	/** A new password ends every other session: whoever knew the old one is signed out. */
	password: async ({ request, locals }) => {
		const user = requireUser(locals.user);
		const form = await request.formData();
		try {
			if (locals.services.supabaseAuth) throw new ValidationError('password', 'Accounts are Supabase Auth\'s here: change the password through its reset email');
			await changePassword(locals.services.sql, user.id, form.get('current_password'), form.get('password'));
			const ended = await locals.services.sessions.endAll(user.id, user.sessionId);
			return { action: 'password', message: `Password changed. ${ended} other session${ended === 1 ? '' : 's'} signed out.` };
		} catch (err) {
			return actionProblem(err, { action: 'password' });
		}
	},

	/** Every session of this account, this one included. */
	everywhere: async ({ locals, cookies, url }) => {
		const user = requireUser(locals.user);
		if (locals.services.supabaseAuth) {
			await locals.services.supabaseAuth.signOut(cookies, url.protocol === 'https:', 'global');
			redirect(303, '/auth/signin');
		}
		await locals.services.sessions.endAll(user.id);
		await locals.services.sessions.end(null, cookies, url.protocol === 'https:');
		redirect(303, '/auth/signin');
	}
} satisfies Actions);
