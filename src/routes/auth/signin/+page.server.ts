import { fail, redirect } from '@sveltejs/kit';
import { LocalAccountsUnavailableError, SignInError, signIn, ThrottledError } from '$lib/server/auth/local';
import { safeRedirect } from '$lib/server/auth/redirects';
import { AuthUnavailableError } from '$lib/server/auth/supabase';
import { actions as formActions, load as pageLoad } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals, url, cookies }) => {
	// Supabase mode: an emailed confirmation link comes back here with a PKCE code to exchange.
	const code = url.searchParams.get('code');
	const supabaseAuth = locals.services.supabaseAuth;
	if (supabaseAuth && code && !locals.user) {
		try {
			await supabaseAuth.exchangeCode(cookies, url.protocol === 'https:', code);
		} catch (err) {
			if (err instanceof SignInError || err instanceof AuthUnavailableError) {
				return { redirectTo: url.searchParams.get('redirectTo'), linkError: err.message };
			}
			throw err;
		}
		redirect(303, safeRedirect(url.searchParams.get('redirectTo')));
	}
	if (locals.user) redirect(303, safeRedirect(url.searchParams.get('redirectTo')));
	return { redirectTo: url.searchParams.get('redirectTo') };
}) satisfies PageServerLoad;

export const actions = formActions({
	default: async ({ request, locals, cookies, url }) => {
		const form = await request.formData();
		const email = String(form.get('email') ?? '');
		const secure = url.protocol === 'https:';
		try {
			if (locals.services.supabaseAuth) {
				// @supabase/ssr writes its own session cookies through `cookies`.
				await locals.services.supabaseAuth.signIn(cookies, secure, email, form.get('password'));
			} else {
				const account = await signIn(locals.services.sql, email, form.get('password'));
				await locals.services.sessions.start(account, { cookies, secure, userAgent: request.headers.get('user-agent') });
			}
		} catch (err) {
			if (err instanceof ThrottledError) return fail(429, { email, error: err.message, field: null });
			if (err instanceof SignInError) return fail(400, { email, error: err.message, field: 'password' });
			if (err instanceof AuthUnavailableError || err instanceof LocalAccountsUnavailableError) return fail(503, { email, error: err.message, field: null });
			throw err;
		}
		redirect(303, safeRedirect(form.get('redirectTo')));
	}
} satisfies Actions);
