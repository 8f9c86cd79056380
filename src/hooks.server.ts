import { error, redirect, type Handle, type ServerInit } from '@sveltejs/kit';
import { sequence } from '@sveltejs/kit/hooks';
import { getServices } from '$lib/server/app';
import { resolveUser } from '$lib/server/auth/session';

export const init: ServerInit = async () => {
	await getServices();
};

const attachServices: Handle = async ({ event, resolve }) => {
	event.locals.services = await getServices();
	return resolve(event);
};

const identify: Handle = async ({ event, resolve }) => {
	// The worker endpoint's Bearer token is the cron secret, not a user's token.
	const { sessionSecret, config, supabaseAuth } = event.locals.services;
	event.locals.user = event.url.pathname.startsWith('/api/worker')
		? null
		: await resolveUser(event.request, event.cookies, sessionSecret, config.adminEmails, supabaseAuth);
	return resolve(event);
};

/** Pages that need a signed-in user, and the operations console, guarded for every method. */
const guard: Handle = async ({ event, resolve }) => {
	const path = event.url.pathname;
	const user = event.locals.user;
	const isAdminArea = path === '/admin' || path.startsWith('/admin/') || path.startsWith('/api/admin/');
	const needsUser = isAdminArea || SIGNED_IN_PAGES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
	if (needsUser && !user) {
		if (path.startsWith('/api/') || event.request.method !== 'GET') error(401, 'Sign in first');
		redirect(303, `/auth/signin?redirectTo=${encodeURIComponent(path + event.url.search)}`);
	}
	if (isAdminArea && !user!.isAdmin) error(403, 'This area is for administrators');
	return resolve(event);
};

const SIGNED_IN_PAGES = ['/generate', '/history', '/generations'];

const securityHeaders: Handle = async ({ event, resolve }) => {
	const response = await resolve(event);
	response.headers.set('x-content-type-options', 'nosniff');
	response.headers.set('referrer-policy', 'strict-origin-when-cross-origin');
	response.headers.set('x-frame-options', 'DENY');
	return response;
};

export const handle = sequence(attachServices, identify, guard, securityHeaders);
