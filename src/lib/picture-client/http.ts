// Requests to the app: its base URL, the token or cookies, the fetch to use.
import type { ClientOptions } from './types';
import { errorFromResponse, networkError } from './errors';

/** An absolute URL for an app path (`/api/...`), or the path itself when baseUrl is empty. */
export function resolveUrl(options: ClientOptions, path: string): string {
	if (/^[a-z][a-z0-9+.-]*:/i.test(path)) return path;
	const base = (options.baseUrl ?? '').replace(/\/+$/, '');
	return base + path;
}

export function generationPath(id: string, tail = ''): string {
	return `/api/generations/${encodeURIComponent(id)}${tail}`;
}

function fetchOf(options: ClientOptions): typeof fetch {
	const chosen = options.fetch ?? globalThis.fetch;
	if (!chosen) throw new Error('No fetch: pass options.fetch');
	// Called unbound, a browser's window.fetch throws "Illegal invocation".
	return options.fetch ? chosen : (input, init) => globalThis.fetch(input, init);
}

/** The Authorization header's value, if there is a token. A plain string stays synchronous. */
export function tokenOf(options: ClientOptions): string | null | Promise<string | null> {
	const token = options.token;
	if (typeof token !== 'function') return token ?? null;
	return Promise.resolve(token()).then((value) => value ?? null);
}

export interface Call {
	method?: string;
	headers?: Record<string, string>;
	body?: string;
	signal?: AbortSignal;
}

/** Sends one request; throws a PictureError for no answer (network) but returns every answer. */
export async function send(options: ClientOptions, path: string, call: Call = {}): Promise<Response> {
	const pending = tokenOf(options);
	const token = typeof pending === 'string' || pending === null ? pending : await pending;
	const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
	if (token) headers.authorization = `Bearer ${token}`;
	try {
		return await fetchOf(options)(resolveUrl(options, path), {
			method: call.method ?? 'GET',
			headers,
			body: call.body,
			signal: call.signal,
			credentials: options.credentials ?? 'same-origin',
			cache: 'no-store'
		});
	} catch (err) {
		if (call.signal?.aborted) throw err;
		throw networkError(err);
	}
}

/** Sends and reads a JSON answer; an unsuccessful one becomes a thrown PictureError. */
export async function sendJson<T>(options: ClientOptions, path: string, call: Call = {}): Promise<{ status: number; body: T }> {
	const response = await send(options, path, call);
	if (!response.ok) throw await errorFromResponse(response);
	return { status: response.status, body: (await response.json()) as T };
}
