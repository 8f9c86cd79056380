// Calls SvelteKit route handlers the way the framework does (a real Request, locals filled as the
// hooks fill them), against a real database.
import type { AppUser } from '../../src/lib/server/auth/user';
import { consoleReader, type ConsoleAccess } from '../../src/lib/server/console/access';
import type { Services } from '../../src/lib/server/runtime';
import { createUser } from './db';

type AnyHandler = (event: never) => Promise<Response> | Response;

export interface CallOptions {
	method?: string;
	path?: string;
	params?: Record<string, string>;
	body?: unknown;
	headers?: Record<string, string>;
	user?: AppUser | null;
}

/** Runs the handler; an error() thrown by SvelteKit is turned into its response, as the framework does. */
export async function call(handler: AnyHandler, services: Services, options: CallOptions = {}): Promise<Response> {
	const url = new URL(`http://localhost${options.path ?? '/'}`);
	const init: RequestInit = { method: options.method ?? 'GET', headers: { ...options.headers } };
	if (options.body !== undefined) {
		init.body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
		(init.headers as Record<string, string>)['content-type'] = 'application/json';
	}
	const event = { request: new Request(url, init), url, params: options.params ?? {}, locals: { services, user: options.user ?? null } };
	try {
		return await handler(event as never);
	} catch (thrown) {
		const e = thrown as { status?: number; body?: { message: string } };
		if (typeof e.status === 'number' && e.body) return Response.json(e.body, { status: e.status });
		throw thrown;
	}
}

/** A user row in auth.users, a live session of theirs, its token, and the AppUser it resolves to. */
export async function signedInUser(services: Services, options: { admin?: boolean; operator?: boolean } = {}) {
	const roles = [...(options.admin ? ['admin'] : []), ...(options.operator ? ['operator'] : [])];
	const { id, email } = await createUser(services.sql, undefined, roles);
	const token = await services.sessions.start({ id });
	return { id, email, token, user: (await services.sessions.userFromToken(token))! };
}

/**
 * Console access for tests that call console read models directly: an administrator that needs no
 * row in auth.users (nothing it reads is audited). Actions take a signedInUser's access instead.
 */
export function adminAccess(): ConsoleAccess {
	const id = '00000000-0000-4000-8000-00000000ad01';
	return consoleReader({ id, email: 'console@example.test', isAdmin: true, isOperator: false, sessionId: null, claims: { sub: id, role: 'authenticated' } });
}
