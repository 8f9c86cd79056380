import { json, text, type Handle, type HandleServerError, type ServerInit } from '@sveltejs/kit';
import { getServices } from '$lib/server/app';
import { resolveUser } from '$lib/server/auth/session';
import { CONSOLE_ONLY, READ_ONLY } from '$lib/server/console/access';
import { routeAccess } from '$lib/server/http/route-access';

export const init: ServerInit = async () => {
	await getServices();
};

const attachServices: Handle = async ({ event, resolve }) => {
	event.locals.services = await getServices();
	return resolve(event);
};

const identify: Handle = async ({ event, resolve }) => {
	// The worker endpoint's Bearer token is the cron secret, not a user's token.
	const { sessions, supabaseAuth } = event.locals.services;
	event.locals.user = event.route.id === '/api/worker' ? null : await resolveUser(event.request, event.cookies, sessions, supabaseAuth);
	return resolve(event);
};

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Signed-in pages and the operations console, guarded for every method. It answers with a Response
 * rather than throwing, so the answer passes back through securityHeaders. The console's services
 * check again (console/access.ts): this is the first of two locks.
 */
const guard: Handle = async ({ event, resolve }) => {
	const access = routeAccess(event.route.id);
	if (access === 'public') return resolve(event);
	const user = event.locals.user;
	if (!user) {
		if (!READS.has(event.request.method)) return refusePage(event, 401, 'Sign in first');
		const location = `/auth/signin?redirectTo=${encodeURIComponent(event.url.pathname + event.url.search)}`;
		return new Response(null, { status: 303, headers: { location } });
	}
	if (access === 'console') {
		if (!user.isAdmin && !user.isOperator) return refuseConsole(event, resolve, CONSOLE_ONLY);
		if (!user.isAdmin && !READS.has(event.request.method)) return refusePage(event, 403, READ_ONLY);
	}
	return resolve(event);
};

/** Route ids of the +server.ts endpoints, from the files themselves. */
const ENDPOINTS = new Set(
	Object.keys(import.meta.glob('./routes/**/+server.ts')).map((file) => file.replace(/^\.\/routes/, '').replace(/\/\+server\.ts$/, '') || '/')
);

/**
 * A browser opening a console page it may not see gets the app's own error page (its layout, its
 * way back): the request goes on with the refusal in locals, and the console layout's load throws it
 * (its page load refuses as well). Everything else (data requests, endpoints, posts) is refused here.
 */
function refuseConsole(event: Event, resolve: Parameters<Handle>[0]['resolve'], message: string) {
	const page = READS.has(event.request.method) && !event.isDataRequest && !ENDPOINTS.has(event.route.id ?? '');
	if (!page || !/text\/html/.test(event.request.headers.get('accept') ?? '')) return refusePage(event, 403, message);
	event.locals.refusal = { status: 403, message };
	return resolve(event);
}

/**
 * The largest request body accepted anywhere: 1 MB. Checked here so the rule is the same under
 * `vite dev`, in tests and in production. adapter-node checks its own BODY_SIZE_LIMIT first
 * (default 512K, answered with its plain-text 413): run it with BODY_SIZE_LIMIT=2M so this rule
 * and its message are the ones that hold, with adapter-node's as a backstop.
 */
export const BODY_LIMIT_BYTES = 1024 * 1024;

const tooLarge = (event: Event) =>
	refusal(event, 413, `The request body is larger than the limit of ${BODY_LIMIT_BYTES} bytes (1 MB)`);

/**
 * A body sent without a Content-Length (chunked), kept while it fits the limit; null when it does
 * not. A refused body is still read (up to drainCap) so the 413 reaches the client: a socket
 * closed on unread data is reset, and the client would see that instead of the answer.
 */
async function readBounded(body: ReadableStream<Uint8Array>, limit: number, drainCap = 8 * limit): Promise<Uint8Array<ArrayBuffer> | null> {
	const reader = body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		size += value.byteLength;
		if (size <= limit) chunks.push(value);
		else if (size > drainCap) {
			await reader.cancel();
			break;
		}
	}
	return size > limit ? null : new Uint8Array(Buffer.concat(chunks));
}

const FORM_TYPES = /^(application\/x-www-form-urlencoded|multipart\/form-data)/i;
const NUL_MESSAGE = 'The request contains a NUL character (\\0 or %00): it is not text, and nothing can store it';

/**
 * Why the URL or a form body cannot be taken, or null: a NUL anywhere (Postgres cannot store one,
 * so it is refused before any route sees it), or a form that does not parse (else a 500 later).
 */
async function inputProblem(request: Request, url: URL): Promise<string | null> {
	if (/%00/.test(url.pathname + url.search)) return NUL_MESSAGE;
	if (request.body === null || !FORM_TYPES.test(request.headers.get('content-type') ?? '')) return null;
	const fields = await request
		.clone()
		.formData()
		.catch(() => null);
	if (!fields) return 'The form body is malformed: send it as application/x-www-form-urlencoded or multipart/form-data';
	for (const [name, value] of fields) if (name.includes('\0') || (typeof value === 'string' && value.includes('\0'))) return NUL_MESSAGE;
	return null;
}

type Event = Parameters<Handle>[0]['event'];

/** An API request, by its route (or, for a path that matches none, by its decoded path). */
function isApi(event: Event): boolean {
	if (event.route.id !== null) return event.route.id.startsWith('/api/');
	try {
		return decodeURIComponent(event.url.pathname).startsWith('/api/');
	} catch {
		return false;
	}
}

function refusal(event: Event, status: number, message: string): Response {
	return isApi(event) ? json({ error: message }, { status }) : text(message, { status });
}

/** Bodies over 1 MB get 413 (declared or chunked); NUL characters and unreadable forms 400. */
const inputLimits: Handle = async ({ event, resolve }) => {
	let request = event.request;
	const declared = request.headers.get('content-length');
	if (declared !== null && Number(declared) > BODY_LIMIT_BYTES) {
		if (request.body) await readBounded(request.body, 0, 8 * BODY_LIMIT_BYTES).catch(() => null); // drained, not kept: see readBounded
		return tooLarge(event);
	}
	if (request.body !== null && declared === null) {
		// Chunked: read it here, bounded, so no route ever holds more than the limit.
		const body = await readBounded(request.body, BODY_LIMIT_BYTES);
		if (!body) return tooLarge(event);
		request = new Request(request.url, { method: request.method, headers: request.headers, body, signal: request.signal });
	}
	const problem = await inputProblem(request, event.url);
	if (problem) return refusal(event, 400, problem);
	return resolve(request === event.request ? event : { ...event, request });
};

/**
 * Pages get SvelteKit's CSP (svelte.config.js: nonces for its own inline script). Everything else
 * (JSON, SSE, images, redirects, the guard's error pages) may load nothing and be framed nowhere.
 */
const NON_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** The guard's refusal, as SvelteKit answers an error() thrown in a hook: JSON for API and data requests, else a page. */
function refusePage(event: Event, status: number, message: string): Response {
	const wantsJson =
		isApi(event) ||
		event.isDataRequest ||
		/^application\/json/.test(event.request.headers.get('accept') ?? '');
	if (wantsJson) return json({ message }, { status });
	const escaped = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
	const html = `<!doctype html><html lang="en"><meta charset="utf-8"><title>${status}</title><h1>${status}</h1><p>${escaped}</p><p><a href="/">Picture</a></p></html>`;
	return new Response(html, { status, headers: { 'content-type': 'text/html; charset=utf-8' } });
}

/**
 * A form action takes a form: any other body (text/plain with the site's Origin passes the CSRF
 * check) would reach request.formData() and throw there. After the guard: who may post is decided first.
 */
const formBodies: Handle = async ({ event, resolve }) => {
	const { request } = event;
	if (request.method === 'POST' && event.route.id !== null && !isApi(event) && !FORM_TYPES.test(request.headers.get('content-type') ?? '')) {
		return refusal(event, 415, 'Form actions take application/x-www-form-urlencoded or multipart/form-data');
	}
	return resolve(event);
};

const securityHeaders: Handle = async ({ event, resolve }) => {
	const response = await resolve(event);
	response.headers.set('x-content-type-options', 'nosniff');
	response.headers.set('referrer-policy', 'strict-origin-when-cross-origin');
	response.headers.set('x-frame-options', 'DENY');
	if (!response.headers.has('content-security-policy')) response.headers.set('content-security-policy', NON_PAGE_CSP);
	return response;
};

/**
 * The handles in order, each resolving into the next. Not @sveltejs/kit/hooks' sequence(): that one
 * opens a tracing span and a request store for every handle of every request, which under load cost
 * more than these handles' own work. Resolve options pass through, and a later handle's replace an
 * earlier one's rather than merging as sequence() does (none of ours gives any). None of ours calls
 * getRequestEvent, which still sees the request's own event.
 */
function chain(...handles: Handle[]): Handle {
	return ({ event, resolve }) => {
		type Options = Parameters<typeof resolve>[1];
		const step = (i: number, current: Event, options: Options): ReturnType<Handle> =>
			i === handles.length
				? resolve(current, options)
				: handles[i]!({ event: current, resolve: (next, nextOptions) => step(i + 1, next, nextOptions ?? options) });
		return step(0, event, undefined);
	};
}

// securityHeaders first: it wraps everything after it, the body limit's and the guard's refusals included.
export const handle = chain(securityHeaders, inputLimits, attachServices, identify, guard, formBodies);

/** A path that matches no route is an answer (404), not a fault: only real errors are logged. */
export const handleError: HandleServerError = ({ error, event, status, message }) => {
	if (status !== 404) console.error(`[picture] ${status} ${event.request.method} ${event.url.pathname}:`, error);
	return { message };
};
