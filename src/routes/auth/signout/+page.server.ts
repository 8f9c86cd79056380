import { redirect } from '@sveltejs/kit';
import { endSession } from '$lib/server/auth/session';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async () => redirect(303, '/');

export const actions: Actions = {
	default: async ({ cookies, url }) => {
		endSession(cookies, url.protocol === 'https:');
		redirect(303, '/auth/signin');
	}
};
