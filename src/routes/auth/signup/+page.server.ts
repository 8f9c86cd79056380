import { fail, redirect } from '@sveltejs/kit';
import { signUp } from '$lib/server/auth/local';
import { safeRedirect } from '$lib/server/auth/redirects';
import { startSession } from '$lib/server/auth/session';
import { AuthUnavailableError } from '$lib/server/auth/supabase';
import { ValidationError } from '$lib/server/errors';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url }) => {
	if (locals.user) redirect(303, safeRedirect(url.searchParams.get('redirectTo')));
	return { redirectTo: url.searchParams.get('redirectTo') };
};

export const actions: Actions = {
	default: async ({ request, locals, cookies, url }) => {
		const form = await request.formData();
		const email = String(form.get('email') ?? '');
		const redirectTo = safeRedirect(form.get('redirectTo'));
		const secure = url.protocol === 'https:';
		try {
			const { sql, config, sessionSecret, supabaseAuth } = locals.services;
			if (supabaseAuth) {
				// The confirmation email links back to sign-in, which exchanges the link's code.
				const confirmUrl = `${url.origin}/auth/signin?redirectTo=${encodeURIComponent(redirectTo)}`;
				const { user } = await supabaseAuth.signUp(cookies, secure, email, form.get('password'), confirmUrl);
				if (!user) return { email, notice: `Almost there: confirm your address with the link we sent to ${email}.` };
			} else {
				const account = await signUp(sql, email, form.get('password'), config.adminEmails);
				startSession(cookies, account, sessionSecret, secure);
			}
		} catch (err) {
			if (err instanceof ValidationError) return fail(400, { email, error: err.message, field: err.field });
			if (err instanceof AuthUnavailableError) return fail(503, { email, error: err.message, field: null });
			throw err;
		}
		redirect(303, redirectTo);
	}
};
