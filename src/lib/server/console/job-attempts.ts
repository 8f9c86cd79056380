// Every try of one job, for its console page: the logged ones (job_queue.attempt_log, 0018: tries
// that failed, were reaped, reset, cancelled while running or given back unstarted (0029), and operator retries) and the one the row itself describes (the
// try running now, or the one that succeeded), which is never logged so the hot path writes nothing.
import type { Job } from '../queue';

export const ATTEMPT_LOG_LIMIT = 25;

export type AttemptOutcome = 'error' | 'lease_expired' | 'reset' | 'running' | 'succeeded' | 'cancelled' | 'handed_back' | 'released' | 'unknown';

export interface AttemptView {
	kind: 'attempt' | 'retry';
	/** The try's number within its run of attempts (an operator's retry starts a new run at 1). */
	attempt: number | null;
	/** Which claim of the job it was (claim_count then): counts every claim, snoozes included. */
	claim: number | null;
	worker: string | null;
	startedAt: string | null;
	endedAt: string | null;
	durationSeconds: number | null;
	outcome: AttemptOutcome;
	error: string | null;
	/** The stack trace from the error's details, as lines (kept apart: it is what people read). */
	stack: string | null;
	/** The rest of the details. */
	details: Record<string, unknown> | null;
	permanent: boolean;
	/** False when the try spent no attempt (a reset by an operator gives its attempt back). */
	counted: boolean;
	next: 'retry' | 'failed' | null;
	retryAt: string | null;
	/** Anything worth saying in words (when a lease ran out, why the worker is unknown). */
	note: string | null;
	/** For kind 'retry': what the job was before the operator retried it. */
	fromStatus?: string | null;
}

type Entry = Record<string, unknown>;
const str = (value: unknown) => (typeof value === 'string' && value !== '' ? value : null);
const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const iso = (value: Date | string | null | undefined) => (value ? new Date(value).toISOString() : null);

function seconds(from: string | null, to: string | null): number | null {
	if (!from || !to) return null;
	const value = (new Date(to).getTime() - new Date(from).getTime()) / 1000;
	return Number.isFinite(value) && value >= 0 ? value : null;
}

/** Splits error details into the stack (shown as text) and the rest (shown as fields). */
function splitDetails(raw: unknown): { stack: string | null; details: Record<string, unknown> | null } {
	if (raw === null || raw === undefined) return { stack: null, details: null };
	if (typeof raw !== 'object' || Array.isArray(raw)) return { stack: null, details: { value: raw } };
	const { stack, ...rest } = raw as Record<string, unknown>;
	return { stack: str(stack), details: Object.keys(rest).length ? rest : null };
}

function fromEntry(entry: Entry): AttemptView {
	if (entry.kind === 'retry') {
		return {
			kind: 'retry', attempt: null, claim: null, worker: null, startedAt: str(entry.at), endedAt: null, durationSeconds: null,
			outcome: 'unknown', error: null, stack: null, details: null, permanent: false, counted: false, next: null, retryAt: null,
			note: `An operator retried it after ${num(entry.attempts) ?? '?'} attempt(s): attempts started again from 1.`,
			fromStatus: str(entry.from_status)
		};
	}
	const outcome = (['error', 'lease_expired', 'reset', 'cancelled', 'released'] as const).find((o) => o === entry.outcome) ?? 'unknown';
	const startedAt = str(entry.started_at);
	const endedAt = str(entry.ended_at);
	const { stack, details } = splitDetails(entry.details);
	const reapedAt = str(entry.reaped_at);
	return {
		kind: 'attempt',
		attempt: num(entry.attempt),
		claim: num(entry.claim),
		worker: str(entry.worker),
		startedAt,
		endedAt,
		durationSeconds: seconds(startedAt, endedAt),
		outcome,
		error: str(entry.error),
		stack,
		details,
		permanent: entry.permanent === true,
		counted: entry.counted !== false,
		next: entry.next === 'retry' || entry.next === 'failed' ? entry.next : null,
		retryAt: str(entry.retry_at),
		note:
			outcome === 'lease_expired'
				? `The worker stopped renewing its lease: the end is when the lease ran out${reapedAt ? ', after which the reaper returned the job' : ''}.`
				: outcome === 'reset'
					? 'Reset from the Stuck page: the attempt was given back.'
					: outcome === 'cancelled'
						? 'Cancelled while this try was running: its worker was told to stop.'
						: outcome === 'released'
							? 'Claimed ahead by its worker and given back before it began (the worker stopped, or the lease left too little time): the attempt was refunded.'
							: null
	};
}

const blank = (): Omit<AttemptView, 'outcome'> => ({
	kind: 'attempt', attempt: null, claim: null, worker: null, startedAt: null, endedAt: null, durationSeconds: null,
	error: null, stack: null, details: null, permanent: false, counted: true, next: null, retryAt: null, note: null
});

/** The job's tries, oldest first, the current or successful one last. `now` dates a running try. */
export function jobAttempts(job: Job & { attempt_log?: unknown }, now: Date): AttemptView[] {
	const log = Array.isArray(job.attempt_log) ? (job.attempt_log as Entry[]).filter((e) => e && typeof e === 'object') : [];
	const views = log.map(fromEntry);
	const lastClaim = [...log].reverse().find((e) => e.kind === 'attempt')?.claim ?? null;
	const startedAt = iso(job.started_at);
	const logged = lastClaim === job.claim_count;

	// A job from before 0018 (or changed by hand) has its last error but no log: show that error.
	if (views.length === 0 && job.error_message && job.status !== 'cancelled') {
		const { stack, details } = splitDetails(job.error_details);
		views.push({
			...blank(), outcome: 'error', error: job.error_message, stack, details,
			note: 'Only the last error is known: it was recorded before each attempt was kept.'
		});
	}

	const current = { ...blank(), attempt: job.attempts, claim: job.claim_count, startedAt };
	if (job.status === 'processing') {
		views.push({ ...current, outcome: 'running', worker: job.locked_by, durationSeconds: seconds(startedAt, now.toISOString()) });
	} else if (job.status === 'completed') {
		const endedAt = iso(job.completed_at);
		views.push({
			...current, outcome: 'succeeded', endedAt, durationSeconds: seconds(startedAt, endedAt),
			note: 'A successful try keeps no worker name: completing a job writes as little as possible.'
		});
	} else if (job.status === 'cancelled' && !(logged && log.at(-1)?.outcome === 'cancelled')) {
		// Cancelled before any try began (a try cancelled while running is in the log since 0029).
		views.push({ ...blank(), outcome: 'cancelled', attempt: null, endedAt: iso(job.completed_at), error: job.error_message, counted: false });
	} else if (job.status === 'pending' && startedAt && !logged && job.claim_count > 0) {
		// Claimed since the last logged try, and back in line without a failure: a snooze or a hand-back.
		views.push({
			...current, outcome: 'handed_back', counted: false, retryAt: iso(job.scheduled_at),
			note: 'Given back without spending an attempt (waiting on a slow model, or its worker shut down); it runs again at the retry time.'
		});
	}
	return views;
}

/** What "Attempts 3 of 3" and "Claims 8" count, in words an operator can act on. */
export function attemptsSummary(job: Pick<Job, 'attempts' | 'max_attempts' | 'claim_count' | 'status'>): { attempts: string; claims: string } {
	const left = Math.max(job.max_attempts - job.attempts, 0);
	const finished = job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled';
	return {
		attempts: `The tries that counted towards its limit of ${job.max_attempts}${finished ? '' : ` (${left} left)`}. A try that is snoozed or handed back costs none, and an operator's retry starts again from 0.`,
		claims: 'The times a worker took the job: every try, and also every snooze (waiting on a slow model), hand-back at shutdown and reclaim after a lost lease, before and after any retry.'
	};
}
