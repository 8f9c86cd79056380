// A browser for Supabase-mode tests: keeps cookies between requests and sends each request through
// the app's real hooks (handle) with SvelteKit's own Cookies implementation, so the session cookie
// is read, refreshed and written exactly as in the running app.
import path from 'node:path';
import type { Cookies, RequestEvent } from '@sveltejs/kit';
import { createChunks, stringToBase64URL } from '@supabase/ssr';
import type { Services } from '../../src/lib/server/runtime';
import type { AppUser } from '../../src/lib/server/auth/user';
import { routeIdFor } from './route-ids';

interface SetCookie {
	name: string;
	value: string;
	options: { maxAge?: number; httpOnly?: boolean; sameSite?: unknown; secure?: boolean; path?: string };
}
type GetCookies = (
	request: Request,
	url: URL
) => { cookies: Cookies; new_cookies: Map<string, SetCookie>; set_trailing_slash(mode: 'never' | 'always' | 'ignore'): void };

// SvelteKit does not export its cookie jar; load the very module its server runs (not a copy).
const kitCookies = (await import(/* @vite-ignore */ path.resolve('node_modules/@sveltejs/kit/src/runtime/server/cookie.js'))) as {
	get_cookies: GetCookies;
};

// sequence() needs the request store SvelteKit's server sets up (typed only as an ambient module).
const { with_request_store } = (await import('@sveltejs/kit/internal/server' as string)) as {
	with_request_store<T>(store: unknown, fn: () => T): T;
};

/** Runs a page's default form action, as SvelteKit does for a POST to the page. */
export const defaultAction = (actions: object) => (event: RequestEvent) =>
	(actions as Record<string, (event: never) => unknown>).default!(event as never);

/** The app's hooks, handed these services instead of starting its own (the key app.ts keeps them under). */
export async function appHandle(services: Services) {
	(globalThis as Record<symbol, unknown>)[Symbol.for('picture.services')] = Promise.resolve(services);
	return (await import('../../src/hooks.server')).handle;
}

/** @supabase/ssr's own encoding of a session: "base64-" + base64url(JSON), chunked over 3180 characters. */
export function ssrSessionCookies(storageKey: string, session: unknown): Array<{ name: string; value: string }> {
	return createChunks(storageKey, `base64-${stringToBase64URL(JSON.stringify(session))}`);
}

export interface Answer {
	status: number;
	location: string | null;
	user: AppUser | null;
	/** What the route or action returned (a Response's JSON, an action's data). */
	body: unknown;
	setCookies: SetCookie[];
}

export class Browser {
	readonly jar = new Map<string, string>();

	constructor(
		private readonly handle: Awaited<ReturnType<typeof appHandle>>,
		readonly origin = 'http://localhost:5173'
	) {}

	setCookies(cookies: Array<{ name: string; value: string }>) {
		for (const { name, value } of cookies) this.jar.set(name, value);
	}

	cookieNames(prefix: string) {
		return [...this.jar.keys()].filter((name) => name.startsWith(prefix)).sort();
	}

	/**
	 * Sends one request through handle; `route` plays the matched route (an endpoint, an action or
	 * a load). Thrown redirects and errors become answers, as SvelteKit turns them into responses.
	 */
	async send(
		pathAndQuery: string,
		route: (event: RequestEvent) => unknown,
		init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}
	): Promise<Answer> {
		const url = new URL(pathAndQuery, this.origin);
		const headers = new Headers(init.headers);
		if (this.jar.size) headers.set('cookie', [...this.jar].map(([name, value]) => `${name}=${value}`).join('; '));
		let body: BodyInit | undefined;
		if (init.form) body = new URLSearchParams(init.form);
		if (init.json !== undefined) {
			body = JSON.stringify(init.json);
			headers.set('content-type', 'application/json');
		}
		const request = new Request(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body });
		const { cookies, new_cookies, set_trailing_slash } = kitCookies.get_cookies(request, url);
		set_trailing_slash('never'); // SvelteKit does this once the route is known; cookies set wait for it
		const event = { request, url, cookies, locals: {}, params: {}, route: { id: routeIdFor(url.pathname) }, setHeaders: () => {} } as unknown as RequestEvent;
		let answer: Omit<Answer, 'user' | 'setCookies'>;
		try {
			let routeResult: unknown;
			// sequence() reads the request store SvelteKit's server sets up; tracing off, as by default.
			const state = { tracing: { record_span: ({ fn }: { fn: (span: unknown) => unknown }) => fn({}) } };
			const response = await with_request_store({ event, state }, () =>
				this.handle({
					event,
					resolve: async (e) => {
						routeResult = await route(e);
						return routeResult instanceof Response ? routeResult : new Response(null, { status: 200 });
					}
				})
			);
			const data = routeResult instanceof Response ? await response.clone().json().catch(() => null) : routeResult;
			const failure = data as { status?: number; data?: unknown } | undefined;
			answer =
				failure && typeof failure === 'object' && 'status' in failure && 'data' in failure
					? { status: failure.status!, location: null, body: failure.data }
					: { status: response.status, location: null, body: data };
		} catch (thrown) {
			const e = thrown as { status?: number; location?: string; body?: unknown };
			if (typeof e.status !== 'number') throw thrown;
			answer = { status: e.status, location: e.location ?? null, body: e.body ?? null };
		}
		// What the browser keeps: a cookie with maxAge 0 (or an empty value) is a removal.
		const setCookies = [...new_cookies.values()];
		for (const cookie of setCookies) {
			if (cookie.options.maxAge === 0 || cookie.value === '') this.jar.delete(cookie.name);
			else this.jar.set(cookie.name, cookie.value);
		}
		return { ...answer, user: (event.locals as App.Locals).user ?? null, setCookies };
	}
}
