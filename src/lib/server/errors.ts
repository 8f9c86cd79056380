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
			limits.budget_exhausted
				? budgetMessage(limits)
				: which === 'daily'
					? `You have used all ${limits.daily_limit} generations for today`
					: `You have used all ${limits.hourly_limit} generations for this hour`
		);
		this.name = 'RateLimitError';
	}

	/** The money budget that ran out ('daily' or 'monthly'), or null for a count limit. */
	get budget(): 'daily' | 'monthly' | null {
		return this.limits.budget_exhausted ?? null;
	}

	/** When the limit that stopped this start frees up again. */
	get resetsAt(): string {
		const budget = this.budget;
		if (budget === 'daily' && this.limits.daily_budget_resets_at) return new Date(this.limits.daily_budget_resets_at).toISOString();
		if (budget === 'monthly' && this.limits.monthly_budget_resets_at) return new Date(this.limits.monthly_budget_resets_at).toISOString();
		return new Date(Date.now() + this.retryAfterSeconds * 1000).toISOString();
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

function budgetMessage(limits: UserLimits): string {
	const monthly = limits.budget_exhausted === 'monthly';
	const budget = Number(monthly ? limits.monthly_budget_usd : limits.daily_budget_usd);
	const resets = new Date((monthly ? limits.monthly_budget_resets_at : limits.daily_budget_resets_at) ?? Date.now());
	const when = monthly ? resets.toISOString().slice(0, 10) : `${resets.toISOString().slice(0, 16).replace('T', ' ')}`;
	return `You have spent your ${monthly ? 'monthly' : 'daily'} budget of $${budget.toFixed(2)}; it resets at ${when} UTC`;
}
