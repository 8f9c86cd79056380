// The edge's one mapping of errors to answers: service errors by class, and database errors the
// request caused (SQLSTATE classes 22 and 23) as 4xx; anything else stays ours (a 500).
import { describe, expect, test } from 'vitest';
import { ConflictError, ForbiddenError, NotFoundError, RateLimitError, UnauthorizedError, ValidationError } from '$lib/server/errors';
import { problemFor } from '$lib/server/http/errors';

const pgError = (code: string, message = 'boom') => Object.assign(new Error(message), { name: 'PostgresError', code, routine: 'test' });

describe('service errors', () => {
	test.each([
		[new ValidationError('prompt', 'Enter a prompt'), 400, 'prompt'],
		[new UnauthorizedError(), 401, null],
		[new ForbiddenError(), 403, null],
		[new NotFoundError('No such generation'), 404, null],
		[new ConflictError('Changed meanwhile'), 409, null]
	] as const)('%s', (error, status, field) => {
		expect(problemFor(error)).toMatchObject({ status, message: error.message, field });
	});
	test('a rate limit carries Retry-After and the numbers', () => {
		const limits = { can_generate: false, hourly_limit: 20, hourly_used: 20, daily_limit: 100, daily_used: 20, retry_after_seconds: 42 };
		expect(problemFor(new RateLimitError(limits))).toMatchObject({ status: 429, headers: { 'retry-after': '42' }, extra: { retry_after_seconds: 42 } });
	});
});

describe('database errors', () => {
	test.each([
		['22007', 400, /date or time/],
		['22008', 400, /date or time/],
		['22003', 400, /number/],
		['22021', 400, /cannot be stored/],
		['22P02', 400, /malformed or out of range/],
		['23505', 409, /already exists/],
		['23503', 409, /does not exist/],
		['23514', 400, /breaks a rule/]
	])('%s is a %i with a plain message (no internals)', (code, status, message) => {
		const problem = problemFor(pgError(code, 'invalid input syntax for type uuid: "x" at character 42 in relation job_queue'));
		expect(problem).toMatchObject({ status });
		expect(problem!.message).toMatch(message);
		expect(problem!.message).not.toMatch(/job_queue|character 42/);
	});
	test("our own functions' messages (22023) are written for people and passed on", () => {
		expect(problemFor(pgError('22023', 'start_generation: model x does not exist or is disabled'))).toMatchObject({ status: 400, message: /model x does not exist/ });
	});
	test.each(['40001', '40P01', '53300', '57P01', '08006', 'XX000', '42501'])('%s is not the caller\'s fault: a 500', (code) => {
		expect(problemFor(pgError(code))).toBeNull();
	});
	test('plain errors and look-alikes are ours', () => {
		expect(problemFor(new Error('boom'))).toBeNull();
		expect(problemFor({ name: 'PostgresError' })).toBeNull();
		expect(problemFor(Object.assign(new Error('x'), { code: '22007' }))).toBeNull();
		expect(problemFor(null)).toBeNull();
	});
});
