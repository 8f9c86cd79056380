import { fail, redirect } from '@sveltejs/kit';
import { authSchemaIsGotrue, LocalAccountsUnavailableError, signUp } from '$lib/server/auth/local';
import { safeRedirect } from '$lib/server/auth/redirects';
import { AuthUnavailableError } from '$lib/server/auth/supabase';
import { setWelcome } from '$lib/server/auth/welcome';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals, url }) => {
	if (locals.user) redirect(303, safeRedirect(url.searchParams.get('redirectTo')));
	const { supabaseAuth, sql } = locals.services;
	// Said before anyone types: on a Supabase database without Supabase Auth configured, no local account can be made.
	const unavailable = !supabaseAuth && (await authSchemaIsGotrue(sql)) ? new LocalAccountsUnavailableError().message : null;
	return { redirectTo: url.searchParams.get('redirectTo'), unavailable };
}) satisfies PageServerLoad;

export const actions = formActions({
	default: async ({ request, locals, cookies, url }) => {
		const form = await request.formData();
		const email = String(form.get('email') ?? '');
		const redirectTo = safeRedirect(form.get('redirectTo'));
		const secure = url.protocol === 'https:';
		try {
			const { sql, config, sessions, supabaseAuth } = locals.services;
			if (supabaseAuth) {
				// The confirmation email links back to sign-in, which exchanges the link's code.
				const confirmUrl = `${url.origin}/auth/signin?redirectTo=${encodeURIComponent(redirectTo)}`;
				const { user } = await supabaseAuth.signUp(cookies, secure, email, form.get('password'), confirmUrl);
				if (!user) return { email, notice: `Almost there: confirm your address with the link we sent to ${email}.` };
				setWelcome(cookies, secure, false);
			} else {
				const account = await signUp(sql, email, form.get('password'), config.adminEmails);
				await sessions.start(account, { cookies, secure, userAgent: request.headers.get('user-agent') });
				setWelcome(cookies, secure, account.first);
			}
		} catch (err) {
			if (err instanceof AuthUnavailableError || err instanceof LocalAccountsUnavailableError) return fail(503, { email, error: err.message, field: null });
			return actionProblem(err, { email });
		}
		redirect(303, redirectTo);
	}
} satisfies Actions);
