import { load as layoutLoad } from '$lib/server/http';
import type { LayoutServerLoad } from './$types';

export const load = layoutLoad(async ({ locals }) => ({
	user: locals.user ? { email: locals.user.email, isAdmin: locals.user.isAdmin, isOperator: locals.user.isOperator } : null
})) satisfies LayoutServerLoad;
