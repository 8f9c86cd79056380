// Errors services throw; the HTTP edge (http/errors.ts) maps each to one answer (400, 401, 403, 404,
// 409, 429 ...). Services never import @sveltejs/kit.
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

/** Nobody is signed in (or the session has ended): 401. */
export class UnauthorizedError extends Error {
	constructor(message = 'Sign in first: send your session cookie or Authorization: Bearer <access token>') {
		super(message);
		this.name = 'UnauthorizedError';
	}
}

/** Signed in, but not allowed to do this: 403. */
export class ForbiddenError extends Error {
	constructor(message = 'This area is for administrators') {
		super(message);
		this.name = 'ForbiddenError';
	}
}

/** A limit of 0: this account may not make pictures at all until an administrator lifts it. */
export class BlockedError extends ForbiddenError {
	constructor() {
		super('Your account is blocked from making pictures (its limit is 0). Ask an administrator of this site to lift it.');
		this.name = 'BlockedError';
	}
}

export class NotFoundError extends Error {
	constructor(message = 'Not found') {
		super(message);
		this.name = 'NotFoundError';
	}
}

/** The request was valid but the state it was made against has moved on: 409. */
export class ConflictError extends Error {
	constructor(
		message: string,
		public readonly details: Record<string, unknown> = {}
	) {
		super(message);
		this.name = 'ConflictError';
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

/** A group asked for more pictures than the user has room for: nothing was started. */
export class GroupRateLimitError extends RateLimitError {
	constructor(
		limits: UserLimits,
		public readonly needed: number,
		public readonly room: number
	) {
		super(limits);
		if (limits.can_generate) {
			this.message = `This group makes ${needed} pictures and you have room for ${room} more right now; ask for fewer`;
		}
		this.name = 'GroupRateLimitError';
	}
}
