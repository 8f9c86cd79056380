import type { Handle, ServerInit } from '@sveltejs/kit';
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
	event.locals.user = event.url.pathname.startsWith('/api/worker')
		? null
		: resolveUser(event.request, event.cookies, event.locals.services.sessionSecret);
	return resolve(event);
};

const securityHeaders: Handle = async ({ event, resolve }) => {
	const response = await resolve(event);
	response.headers.set('x-content-type-options', 'nosniff');
	response.headers.set('referrer-policy', 'strict-origin-when-cross-origin');
	response.headers.set('x-frame-options', 'DENY');
	return response;
};

export const handle = sequence(attachServices, identify, securityHeaders);
