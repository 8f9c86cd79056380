// Errors services throw; routes map them to HTTP answers (400, 404, 429 ...).
import type { UserLimits } from './generations/types';

export class ValidationError extends Error {
	constructor(
		public readonly field: string,
		message: string
	) {
		super(message);
		this.name = 'ValidationError';
	}
}

export class NotFoundError extends Error {
	constructor(message = 'Not found') {
		super(message);
		this.name = 'NotFoundError';
	}
}

export class RateLimitError extends Error {
	constructor(public readonly limits: UserLimits) {
		const which = limits.daily_used >= limits.daily_limit ? 'daily' : 'hourly';
		super(
			which === 'daily'
				? `You have used all ${limits.daily_limit} generations for today`
				: `You have used all ${limits.hourly_limit} generations for this hour`
		);
		this.name = 'RateLimitError';
	}

	get retryAfterSeconds(): number {
		return this.limits.retry_after_seconds ?? 60;
	}
}
