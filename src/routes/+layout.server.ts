import { takeWelcome } from '$lib/server/auth/welcome';
import { load as layoutLoad } from '$lib/server/http';
import type { LayoutServerLoad } from './$types';

export const load = layoutLoad(async ({ locals, cookies, url }) => {
	const welcome = await takeWelcome(cookies, url.protocol === 'https:', locals.user, locals.services.sql);
	// A layout's data outlives client-side navigation unless its load depends on something that
	// changes: reading the path when there is a notice makes the next navigation run this again
	// (finding the cookie gone), so the notice is seen on one page only.
	if (welcome) void url.pathname;
	return {
		user: locals.user ? { email: locals.user.email, isAdmin: locals.user.isAdmin, isOperator: locals.user.isOperator } : null,
		welcome
	};
}) satisfies LayoutServerLoad;
