import { redirect } from '@sveltejs/kit';
import { endSession } from '$lib/server/auth/session';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async () => redirect(303, '/');

export const actions: Actions = {
	default: async ({ cookies, url, locals }) => {
		const secure = url.protocol === 'https:';
		if (locals.services.supabaseAuth) await locals.services.supabaseAuth.signOut(cookies, secure);
		else endSession(cookies, secure);
		redirect(303, '/auth/signin');
	}
};
