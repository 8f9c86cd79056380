// The HTTP edge: every route's load, form action and endpoint is wrapped here, so a service error or
// a database error the request caused always becomes its 4xx (http/errors.ts), whichever route threw
// it. The access matrix checks that every exported handler is wrapped. The only server module, with
// the hooks, that imports @sveltejs/kit.
import { error, fail, isHttpError, isRedirect, json, type ActionFailure } from '@sveltejs/kit';
import type { AppUser } from '../auth/user';
import { UnauthorizedError } from '../errors';
import { problemFor, type Problem } from './errors';

export { problemFor, type Problem } from './errors';

const WRAPPED = Symbol.for('picture.http.wrapped');

/** True for a handler made by endpoint(), load() or one of actions(): the access matrix asks. */
export function isWrapped(handler: unknown): boolean {
	return typeof handler === 'function' && (handler as unknown as Record<symbol, unknown>)[WRAPPED] === true;
}

function mark<F extends object>(fn: F): F {
	Object.defineProperty(fn, WRAPPED, { value: true });
	return fn;
}

/** SvelteKit's own redirect() and error() pass through untouched. */
const isKitOutcome = (err: unknown) => isRedirect(err) || isHttpError(err);

export function requireUser(user: AppUser | null): AppUser {
	if (!user) throw new UnauthorizedError();
	return user;
}

function problemOrThrow(err: unknown): Problem {
	const problem = problemFor(err);
	if (!problem) throw err;
	return problem;
}

/** The JSON answer of a JSON endpoint for a caller's error: { error, field?, ...extra }. */
export function problemResponse(problem: Problem): Response {
	const body = { error: problem.message, ...(problem.field ? { field: problem.field } : {}), ...problem.extra };
	return json(body, { status: problem.status, headers: problem.headers });
}

/** The JSON answer for an error the caller caused; rethrows anything else (a 500). */
export function errorResponse(err: unknown): Response {
	return problemResponse(problemOrThrow(err));
}

/** For loads: SvelteKit's error page (or the data request's error) with the right status. */
export function throwProblem(err: unknown): never {
	if (isKitOutcome(err)) throw err;
	const problem = problemOrThrow(err);
	error(problem.status, problem.message);
}

/**
 * For form actions: input the user can correct (400, 409, 429) is a fail() the page shows beside
 * the form, with `data` (what the user typed, which form). 401 and 403 are error pages; so is 404,
 * unless `data` names the form whose target is gone (a console row deleted meanwhile).
 */
export function actionProblem(err: unknown): ActionFailure<{ error: string; field: string | null }>;
export function actionProblem<D extends object>(err: unknown, data: D): ActionFailure<D & { error: string; field: string | null }>;
export function actionProblem(err: unknown, data?: object) {
	if (isKitOutcome(err)) throw err;
	const problem = problemOrThrow(err);
	if (problem.status === 401 || problem.status === 403 || (problem.status === 404 && !data)) error(problem.status, problem.message);
	return fail(problem.status, { ...data, error: problem.message, field: problem.field });
}

/** A +server.ts handler. */
export function endpoint<E>(handler: (event: E) => Response | Promise<Response>): (event: E) => Promise<Response> {
	return mark(async (event: E) => {
		try {
			return await handler(event);
		} catch (err) {
			if (isKitOutcome(err)) throw err;
			return errorResponse(err);
		}
	});
}

/** A load function (page or layout). */
export function load<E, R>(fn: (event: E) => R | Promise<R>): (event: E) => Promise<R> {
	return mark(async (event: E) => {
		try {
			return await fn(event);
		} catch (err) {
			throwProblem(err);
		}
	});
}

type Action = (event: never) => unknown;

/** A page's form actions; an action may still catch and shape its own failures. */
export function actions<A extends Record<string, Action>>(definitions: A): A {
	const wrapped: Record<string, Action> = {};
	for (const [name, run] of Object.entries(definitions)) {
		wrapped[name] = mark(async (event: never) => {
			try {
				return await run(event);
			} catch (err) {
				return actionProblem(err);
			}
		});
	}
	return wrapped as A;
}
