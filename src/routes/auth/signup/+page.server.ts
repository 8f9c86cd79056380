import { fail, redirect } from '@sveltejs/kit';
import { signUp } from '$lib/server/auth/local';
import { safeRedirect } from '$lib/server/auth/redirects';
import { startSession } from '$lib/server/auth/session';
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
		try {
			const { sql, config, sessionSecret } = locals.services;
			const account = await signUp(sql, email, form.get('password'), config.adminEmails);
			startSession(cookies, account, sessionSecret, url.protocol === 'https:');
		} catch (err) {
			if (err instanceof ValidationError) return fail(400, { email, error: err.message, field: err.field });
			throw err;
		}
		redirect(303, safeRedirect(form.get('redirectTo')));
	}
};
