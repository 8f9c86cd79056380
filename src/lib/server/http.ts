// Small helpers routes share to turn service errors into HTTP answers.
import { error, json } from '@sveltejs/kit';
import type { AppUser } from './auth/user';
import { NotFoundError, RateLimitError, ValidationError } from './errors';

export function requireUser(user: AppUser | null): AppUser {
	if (!user) error(401, 'Sign in first: send your session cookie or Authorization: Bearer <access token>');
	return user;
}

/** The JSON answer for a service error the client can act on; rethrows anything else. */
export function errorResponse(err: unknown): Response {
	if (err instanceof ValidationError) return json({ error: err.message, field: err.field }, { status: 400 });
	if (err instanceof NotFoundError) return json({ error: err.message }, { status: 404 });
	if (err instanceof RateLimitError) {
		return json(
			{ error: err.message, limits: err.limits, retry_after_seconds: err.retryAfterSeconds },
			{ status: 429, headers: { 'retry-after': String(err.retryAfterSeconds) } }
		);
	}
	throw err;
}
