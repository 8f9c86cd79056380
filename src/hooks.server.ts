import type { Handle, ServerInit } from '@sveltejs/kit';
import { sequence } from '@sveltejs/kit/hooks';
import { getServices } from '$lib/server/app';

export const init: ServerInit = async () => {
	await getServices();
};

const attachServices: Handle = async ({ event, resolve }) => {
	event.locals.services = await getServices();
	return resolve(event);
};

const securityHeaders: Handle = async ({ event, resolve }) => {
	const response = await resolve(event);
	response.headers.set('x-content-type-options', 'nosniff');
	response.headers.set('referrer-policy', 'strict-origin-when-cross-origin');
	response.headers.set('x-frame-options', 'DENY');
	return response;
};

export const handle = sequence(attachServices, securityHeaders);
