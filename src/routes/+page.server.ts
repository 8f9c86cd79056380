import { redirect } from '@sveltejs/kit';
import type { PageServerLoad } from './$types';

/** The landing page is for visitors; signed-in people came to make pictures. */
export const load: PageServerLoad = async ({ locals }) => {
	if (locals.user) redirect(303, '/generate');
};
