import { redirect } from '@sveltejs/kit';
import { actions as formActions, load as pageLoad } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async () => redirect(303, '/')) satisfies PageServerLoad;

export const actions = formActions({
	/** Ends this browser's session on the server, not only its cookie. */
	default: async ({ cookies, url, locals }) => {
		const secure = url.protocol === 'https:';
		if (locals.services.supabaseAuth) await locals.services.supabaseAuth.signOut(cookies, secure);
		else await locals.services.sessions.end(locals.user?.sessionId ?? null, cookies, secure);
		redirect(303, '/auth/signin');
	}
} satisfies Actions);
