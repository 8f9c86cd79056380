// fail() answers for form actions, as errorResponse (http.ts) is for JSON endpoints: the page shows
// the message next to the field and keeps what the user typed.
import { error, fail } from '@sveltejs/kit';
import { NotFoundError, RateLimitError, ValidationError } from './errors';

export interface LimitReached {
	hourly_limit: number;
	hourly_used: number;
	daily_limit: number;
	daily_used: number;
	retry_after_seconds: number;
	/** When the next generation is allowed again. */
	resets_at: string;
}

export interface FormFailure<V> {
	field: string | null;
	error: string;
	values: V;
	limit: LimitReached | null;
}

export function formFailure<V>(status: 400 | 429, failure: FormFailure<V>) {
	return fail(status, failure);
}

/** fail(400) for invalid input, fail(429) over a limit, 404 for someone else's generation; rethrows the rest. */
export function actionFailure<V>(err: unknown, values: V) {
	if (err instanceof ValidationError) return formFailure(400, { field: err.field, error: err.message, values, limit: null });
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
				resets_at: new Date(Date.now() + seconds * 1000).toISOString()
			}
		});
	}
	if (err instanceof NotFoundError) error(404, err.message);
	throw err;
}
