// Sends one request through the app's real hooks (handle: security headers, body limit, identity,
// guard) and then the route the test names (an endpoint, a load or a form action), as SvelteKit's
// server does. Thrown redirects and errors become answers; an action's fail() its status and data.
import path from 'node:path';
import { isActionFailure, isHttpError, isRedirect, type Cookies, type RequestEvent } from '@sveltejs/kit';
import type { Services } from '../../src/lib/server/runtime';
import { appHandle } from './supabase-auth-flows';
import { routeIdFor } from './route-ids';

type GetCookies = (request: Request, url: URL) => { cookies: Cookies; set_trailing_slash(mode: 'never' | 'always' | 'ignore'): void };
const kitCookies = (await import(/* @vite-ignore */ path.resolve('node_modules/@sveltejs/kit/src/runtime/server/cookie.js'))) as {
	get_cookies: GetCookies;
};
const { with_request_store } = (await import('@sveltejs/kit/internal/server' as string)) as {
	with_request_store<T>(store: unknown, fn: () => T): T;
};

export type Route = (event: RequestEvent) => unknown;

export interface Answer {
	status: number;
	headers: Headers;
	location: string | null;
	/** A Response's JSON (or text when it is not JSON); an action's or load's data. */
	body: unknown;
}

export interface SendOptions {
	method?: string;
	params?: Record<string, string>;
	headers?: Record<string, string>;
	/** Sent as is: a string, FormData, URLSearchParams or a stream (a stream has no Content-Length). */
	body?: BodyInit;
}

export type Send = (pathAndQuery: string, route: Route, options?: SendOptions) => Promise<Answer>;

/** The app's handle on these services, and a send() through it. */
export async function throughHooks(services: Services): Promise<Send> {
	const handle = await appHandle(services);
	return async (pathAndQuery, route, options = {}) => {
		const url = new URL(pathAndQuery, 'http://localhost');
		const init: RequestInit & { duplex?: 'half' } = {
			method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
			headers: options.headers,
			body: options.body
		};
		if (options.body instanceof ReadableStream) init.duplex = 'half';
		const request = new Request(url, init);
		const { cookies, set_trailing_slash } = kitCookies.get_cookies(request, url);
		set_trailing_slash('never');
		const matched = { id: routeIdFor(url.pathname) };
		const event = { request, url, cookies, locals: {}, params: options.params ?? {}, route: matched, setHeaders: () => {}, isDataRequest: false } as unknown as RequestEvent;
		let data: unknown = undefined;
		const state = { tracing: { record_span: ({ fn }: { fn: (span: unknown) => unknown }) => fn({}) } };
		const response = await with_request_store({ event, state }, () =>
			Promise.resolve(handle({
				event,
				resolve: async (e) => {
					const result = await route(e);
					if (result instanceof Response) return result;
					if (isActionFailure(result)) {
						data = result.data;
						return new Response(null, { status: result.status });
					}
					data = result;
					return new Response(null, { status: 200 });
				}
			})).catch(thrown)
		);
		if (data === undefined && response.body) {
			const text = await response.text();
			try {
				data = JSON.parse(text);
			} catch {
				data = text;
			}
		}
		return { status: response.status, headers: response.headers, location: response.headers.get('location'), body: data ?? null };
	};
}

/** What SvelteKit makes of a redirect() or error() thrown by a route: a response. */
function thrown(err: unknown): Response {
	if (isRedirect(err)) return new Response(null, { status: err.status, headers: { location: err.location } });
	if (isHttpError(err)) return Response.json(err.body, { status: err.status });
	throw err;
}

/** The session cookie header for a token, as the browser sends it. */
export const sessionCookie = (token: string) => ({ cookie: `picture_session=${token}` });

/** A form body from fields (a field given as an array is repeated, like ticked checkboxes). */
export function form(fields: Record<string, string | string[]>): FormData {
	const body = new FormData();
	for (const [name, value] of Object.entries(fields)) for (const one of [value].flat()) body.append(name, one);
	return body;
}

/** An action of a page's actions object as a route. */
export const action = (actions: object, name: string): Route => (event) =>
	(actions as Record<string, (event: never) => unknown>)[name]!(event as never);
