import { fail, redirect } from '@sveltejs/kit';
import { SignInError, signIn, ThrottledError } from '$lib/server/auth/local';
import { safeRedirect } from '$lib/server/auth/redirects';
import { startSession } from '$lib/server/auth/session';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url }) => {
	if (locals.user) redirect(303, safeRedirect(url.searchParams.get('redirectTo')));
	return { redirectTo: url.searchParams.get('redirectTo') };
};

export const actions: Actions = {
	default: async ({ request, locals, cookies, url }) => {
		const form = await request.formData();
		const email = String(form.get('email') ?? '');
		try {
			const account = await signIn(locals.services.sql, email, form.get('password'));
			startSession(cookies, account, locals.services.sessionSecret, url.protocol === 'https:');
		} catch (err) {
			if (err instanceof ThrottledError) return fail(429, { email, error: err.message, field: null });
			if (err instanceof SignInError) return fail(400, { email, error: err.message, field: 'password' });
			throw err;
		}
		redirect(303, safeRedirect(form.get('redirectTo')));
	}
};
