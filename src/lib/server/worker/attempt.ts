// One run of a claimed job, and the context its handler gets. Kept small: the batched path makes
// one per job, and a trivial job must cost little more than its two rows of SQL.
import type { Queryable } from '../db/client';
import type { Claim, Job } from '../queue/types';
import type { JobAbortedError } from './errors';
import type { JobContext } from './types';

export const DEFAULT_ATTEMPT_TIMEOUT_SECONDS = 600;

/** The job's own limit when it names a sane one, else the pool's. */
export function attemptLimitSeconds(job: Job, fallback: number): number {
	const own = job.payload?.attempt_timeout_seconds;
	return typeof own === 'number' && Number.isInteger(own) && own >= 1 && own <= 86_400 ? own : fallback;
}

/** A job claimed ahead of a free slot; `at` is when its lease was last known to be ours. */
export interface Buffered {
	job: Job;
	at: number;
}

export class Attempt implements JobContext {
	/** The handler succeeded; only its (batched) completion is still being written. */
	settling = false;
	private controller: AbortController | null = null;
	private reason: JobAbortedError | null = null;

	constructor(
		readonly job: Job,
		readonly workerId: string,
		readonly sql: Queryable,
		/** When this attempt is abandoned (Date.now() time). */
		readonly deadlineAt: number
	) {}

	/**
	 * Made on first use: most handlers that finish quickly never look, and an AbortController per job
	 * was the costliest allocation of the batched path. One asked for after an abort is born aborted.
	 */
	get signal(): AbortSignal {
		if (!this.controller) {
			this.controller = new AbortController();
			if (this.reason) this.controller.abort(this.reason);
		}
		return this.controller.signal;
	}

	get aborted(): boolean {
		return this.reason !== null;
	}

	abort(reason: JobAbortedError): void {
		if (this.reason) return;
		this.reason = reason;
		this.controller?.abort(reason);
	}

	get claim(): Claim {
		return { jobId: this.job.id, workerId: this.workerId, claimCount: this.job.claim_count };
	}
}
