// The one mapping of errors to HTTP answers. Service errors say what went wrong in the caller's terms;
// database errors that a request's values caused (SQLSTATE classes 22 "data exception" and 23
// "integrity constraint violation") are the caller's fault too, so they are a 4xx with a message,
// never a 500. Anything else is ours: it stays a 500 and is logged by SvelteKit.
import {
	ConflictError,
	ForbiddenError,
	NotFoundError,
	RateLimitError,
	UnauthorizedError,
	ValidationError
} from '../errors';

export interface Problem {
	status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429;
	message: string;
	/** The form field or parameter at fault, when there is one. */
	field: string | null;
	headers?: Record<string, string>;
	/** Extra JSON members of the answer (a rate limit's numbers). */
	extra?: Record<string, unknown>;
}

interface DatabaseError {
	name: string;
	code: string;
	message: string;
	routine?: string;
}

function isDatabaseError(err: unknown): err is DatabaseError {
	return typeof err === 'object' && err !== null && (err as DatabaseError).name === 'PostgresError' && typeof (err as DatabaseError).code === 'string';
}

/**
 * Our own SQL functions raise 22023 (invalid_parameter_value) and P0001 with messages written for
 * people; Postgres' built-in messages name types and internals, so those get a plain sentence.
 */
function databaseProblem(err: DatabaseError): Problem | null {
	const code = err.code;
	if (code === '22023' || code === 'P0001') return { status: 400, message: err.message, field: null };
	if (code === '22007' || code === '22008') return { status: 400, message: 'A date or time in the request is out of range or malformed', field: null };
	if (code === '22003') return { status: 400, message: 'A number in the request is out of range', field: null };
	if (code === '22021' || code === '22P05') return { status: 400, message: 'The request contains characters that cannot be stored (for example a NUL)', field: null };
	if (code.startsWith('22')) return { status: 400, message: 'A value in the request is malformed or out of range', field: null };
	if (code === '23505') return { status: 409, message: 'That already exists', field: null };
	if (code === '23503') return { status: 409, message: 'The request refers to something that does not exist (any more)', field: null };
	if (code.startsWith('23')) return { status: 400, message: 'The request breaks a rule of the data', field: null };
	return null;
}

/** The answer for an error the caller caused, or null for our own failures (a 500). */
export function problemFor(err: unknown): Problem | null {
	if (err instanceof ValidationError) return { status: 400, message: err.message, field: err.field };
	if (err instanceof UnauthorizedError) return { status: 401, message: err.message, field: null, headers: { 'www-authenticate': 'Bearer' } };
	if (err instanceof ForbiddenError) return { status: 403, message: err.message, field: null };
	if (err instanceof NotFoundError) return { status: 404, message: err.message, field: null };
	if (err instanceof ConflictError) return { status: 409, message: err.message, field: null, extra: err.details };
	if (err instanceof RateLimitError) {
		return {
			status: 429,
			message: err.message,
			field: null,
			headers: { 'retry-after': String(err.retryAfterSeconds) },
			extra: { limits: err.limits, retry_after_seconds: err.retryAfterSeconds, budget: err.budget, resets_at: err.resetsAt }
		};
	}
	if (isDatabaseError(err)) {
		const problem = databaseProblem(err);
		// Logged: a data exception that reaches the database means a check above it is missing.
		if (problem) console.warn(`[picture] ${problem.status} from the database (${err.code}${err.routine ? ` in ${err.routine}` : ''}): ${err.message}`);
		return problem;
	}
	return null;
}
