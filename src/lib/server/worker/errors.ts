// How a handler tells the worker what became of its job, beyond plain success.

/** The job cannot succeed on retry (bad input, unknown model, a safety filter): fail it now. */
export class PermanentJobError extends Error {
	constructor(
		message: string,
		public readonly details?: Record<string, unknown>
	) {
		super(message);
		this.name = 'PermanentJobError';
	}
}

/** A transient failure with a known wait (e.g. HTTP 429 with Retry-After). Spends an attempt. */
export class RetryLaterError extends Error {
	constructor(
		message: string,
		public readonly retryAfterSeconds: number,
		public readonly details?: Record<string, unknown>
	) {
		super(message);
		this.name = 'RetryLaterError';
	}
}

/** Returned by a handler to hand its job back for later without spending an attempt. */
export interface Snooze {
	snoozeSeconds: number;
}

export function snooze(seconds: number): Snooze {
	return { snoozeSeconds: Math.max(0, seconds) };
}

export function isSnooze(value: unknown): value is Snooze {
	return typeof value === 'object' && value !== null && 'snoozeSeconds' in value;
}

/** Why a running handler's signal was aborted, or why a handler gave its job up without an outcome. */
export class JobAbortedError extends Error {
	constructor(public readonly reason: 'lease-lost' | 'handed-back' | 'shutdown' | 'deadline') {
		super(
			reason === 'lease-lost'
				? 'the job was cancelled or claimed by another worker'
				: reason === 'handed-back'
					? 'the job went back to its place in line (its model had no free slot)'
				: reason === 'deadline'
					? 'the attempt ran past its time limit'
					: 'the worker is shutting down'
		);
		this.name = 'JobAbortedError';
	}
}

/** Keeps what a person needs from an error, without secrets-bearing objects or huge stacks. */
export function describeError(error: unknown): { message: string; details: Record<string, unknown> } {
	if (error instanceof Error) {
		const extra = (error as { details?: Record<string, unknown> }).details;
		return {
			message: error.message || error.name,
			details: { name: error.name, stack: error.stack?.split('\n').slice(0, 8).join('\n'), ...(extra ?? {}) }
		};
	}
	return { message: String(error), details: { thrown: typeof error } };
}
