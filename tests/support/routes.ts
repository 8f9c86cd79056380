// Calls SvelteKit route handlers the way the framework does (a real Request, locals filled as the
// hooks fill them), against a real database.
import { signAccessToken } from '../../src/lib/server/auth/tokens';
import { userFromToken } from '../../src/lib/server/auth/session';
import type { AppUser } from '../../src/lib/server/auth/user';
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

/** A user row in auth.users and the AppUser a valid session token for it resolves to. */
export async function signedInUser(services: Services, options: { admin?: boolean } = {}) {
	const { id, email } = await createUser(services.sql);
	const token = signAccessToken(
		{ sub: id, email, app_metadata: { provider: 'email', roles: options.admin ? ['admin'] : [] } },
		services.sessionSecret,
		3600
	);
	return { id, email, token, user: userFromToken(token, services.sessionSecret)! };
}
