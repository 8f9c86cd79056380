import type { LayoutServerLoad } from './$types';

export const load: LayoutServerLoad = async ({ locals }) => ({
	user: locals.user ? { email: locals.user.email, isAdmin: locals.user.isAdmin } : null
});
