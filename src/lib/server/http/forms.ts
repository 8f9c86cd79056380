// The generate form's failures: the page shows the message next to the field, keeps what the user
// typed, and over a limit says when it resets. Other errors map as everywhere (actionProblem).
import { fail } from '@sveltejs/kit';
import { BlockedError, RateLimitError } from '../errors';
import { actionProblem } from './index';

export interface LimitReached {
	hourly_limit: number;
	hourly_used: number;
	daily_limit: number;
	daily_used: number;
	retry_after_seconds: number;
	/** When the next generation is allowed again. */
	resets_at: string;
	/** The money budget that ran out (0027), or null when a count limit did. */
	budget: 'daily' | 'monthly' | null;
}

export interface FormFailure<V> {
	field: string | null;
	error: string;
	values: V;
	limit: LimitReached | null;
}

export function formFailure<V>(status: number, failure: FormFailure<V>) {
	return fail(status, failure);
}

/** fail(429) over a limit with its numbers; anything else as actionProblem, keeping the values. */
export function generateFailure<V>(err: unknown, values: V) {
	if (err instanceof BlockedError) return formFailure(403, { field: null, error: err.message, values, limit: null });
	if (err instanceof RateLimitError) {
		const seconds = err.retryAfterSeconds;
		const { hourly_limit, hourly_used, daily_limit, daily_used } = err.limits;
		return formFailure(429, {
			field: null,
			error: err.message,
			values,
			limit: {
				hourly_limit,
				hourly_used,
				daily_limit,
				daily_used,
				retry_after_seconds: seconds,
				resets_at: err.resetsAt,
				budget: err.budget
			}
		});
	}
	const failure = actionProblem(err, { values, limit: null });
	return failure as ReturnType<typeof formFailure<V>>;
}
