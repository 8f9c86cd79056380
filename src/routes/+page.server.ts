import { redirect } from '@sveltejs/kit';
import { load as pageLoad } from '$lib/server/http';
import type { PageServerLoad } from './$types';

/** The landing page is for visitors; signed-in people came to make pictures. */
export const load = pageLoad(async ({ locals }) => {
	if (locals.user) redirect(303, '/generate');
}) satisfies PageServerLoad;
