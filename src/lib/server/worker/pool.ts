// Runs claimed jobs concurrently: claims into free slots, keeps leases alive while handlers run,
// records each outcome, and hands unfinished jobs back when it stops.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Sql } from '../db/client';
import { claimJobs, completeJobs, failJob, heartbeatJobs, reapExpiredJobs, snoozeJob } from '../queue';
import type { Claim, Job } from '../queue/types';
import { describeError, isSnooze, JobAbortedError, PermanentJobError, RetryLaterError } from './errors';
import type { JobHandlers, WorkerCounts } from './types';

export interface PoolOptions {
	sql: Sql;
	handlers: JobHandlers;
	workerId?: string;
	/** Jobs run at once. */
	concurrency: number;
	/** Jobs taken per claim query (1 = one claim per free slot). */
	batchSize?: number;
	leaseSeconds: number;
	/**
	 * How often leases are renewed and expired ones (other workers') returned: a third of the lease
	 * by default. Reaping on this beat bounds recovery: a killed worker's job is pending again at
	 * most lease + heartbeatMs after the kill (40 s with the 30 s default lease), wherever the
	 * caller's own, slower reaper happens to be in its cycle.
	 */
	heartbeatMs?: number;
	/**
	 * How long one attempt may run when its job names no limit of its own (payload
	 * attempt_timeout_seconds, as generation jobs carry their model's). Past it the attempt is
	 * abandoned, counted as a failure (retried while attempts remain) and its slot freed, even if the
	 * handler is stuck in a call that never returns. Checked on the heartbeat, so it fires up to one
	 * beat late.
	 */
	attemptTimeoutSeconds?: number;
	log?: (message: string) => void;
}

export const DEFAULT_ATTEMPT_TIMEOUT_SECONDS = 600;

/** The job's own limit when it names a sane one, else the pool's. */
function attemptLimitSeconds(job: Job, fallback: number): number {
	const own = job.payload?.attempt_timeout_seconds;
	return typeof own === 'number' && Number.isInteger(own) && own >= 1 && own <= 86_400 ? own : fallback;
}

interface Running {
	job: Job;
	claim: Claim;
	controller: AbortController;
	done: Promise<void>;
	/** The handler succeeded; only its (batched) completion is still being written. */
	settling?: boolean;
	/** When this attempt is abandoned (Date.now() time). */
	deadlineAt: number;
}

export function newWorkerId(): string {
	return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export class WorkerPool {
	readonly workerId: string;
	readonly counts: WorkerCounts = { processed: 0, errors: 0 };
	/** Expired leases this pool returned to the queue on its heartbeat. */
	reaped = 0;
	private readonly running = new Map<string, Running>();
	private readonly jobTypes: string[];
	private reserved = 0;
	/** Entries in `running` whose handler is done and whose completion is being written. */
	private settling = 0;
	private stopping = false;
	private slotWaiters: Array<() => void> = [];
	private completions: Array<{ claim: Claim; resolve: (held: boolean) => void; reject: (e: unknown) => void }> = [];
	private flushing = false;
	private heartbeatTimer: NodeJS.Timeout | null = null;

	constructor(private readonly options: PoolOptions) {
		this.workerId = options.workerId ?? newWorkerId();
		this.jobTypes = Object.keys(options.handlers);
		const every = options.heartbeatMs ?? (options.leaseSeconds * 1000) / 3;
		this.heartbeatTimer = setInterval(() => void this.beat(), every);
		this.heartbeatTimer.unref();
	}

	get size(): number {
		return this.running.size;
	}

	/**
	 * Slots for new claims: a job whose handler has finished no longer takes one while its completion
	 * is written (that write waits for a disk flush; the next job need not). It still counts in size.
	 */
	get freeSlots(): number {
		return this.options.concurrency - (this.running.size - this.settling) - this.reserved;
	}

	/** Claims into every free slot; resolves with how many jobs it started. */
	async fill(): Promise<number> {
		if (this.jobTypes.length === 0) return 0;
		const batch = Math.max(1, this.options.batchSize ?? 1);
		const claims: Promise<number>[] = [];
		while (!this.stopping && this.freeSlots > 0) {
			const limit = Math.min(this.freeSlots, batch);
			this.reserved += limit;
			claims.push(this.claim(limit).finally(() => (this.reserved -= limit)));
		}
		const started = await Promise.all(claims);
		return started.reduce((sum, n) => sum + n, 0);
	}

	/** Resolves when a slot frees up, or after timeoutMs. */
	waitForSlot(timeoutMs: number): Promise<void> {
		return new Promise((resolve) => {
			const timer = setTimeout(done, Math.max(0, timeoutMs));
			function done() {
				clearTimeout(timer);
				resolve();
			}
			this.slotWaiters.push(done);
		});
	}

	/**
	 * Stops claiming, lets running jobs finish for up to graceMs, then aborts the rest and gives
	 * them back to the queue without spending their attempt.
	 */
	async stop(graceMs: number): Promise<number> {
		this.stopping = true;
		const deadline = Date.now() + graceMs;
		while (this.running.size > 0 && Date.now() < deadline) await this.waitForSlot(deadline - Date.now());
		let returned = 0;
		for (const entry of [...this.running.values()]) {
			if (entry.settling) continue; // done; its completion is on its way
			entry.controller.abort(new JobAbortedError('shutdown'));
			if (await snoozeJob(this.options.sql, entry.claim, 0).catch(() => false)) returned++;
		}
		if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
		this.heartbeatTimer = null;
		// Give aborted handlers a moment to settle so their promises do not outlive the pool.
		await Promise.race([
			Promise.allSettled([...this.running.values()].map((entry) => entry.done)),
			new Promise((resolve) => setTimeout(resolve, 1000).unref())
		]);
		return returned;
	}

	private async claim(limit: number): Promise<number> {
		const jobs = await claimJobs(this.options.sql, {
			workerId: this.workerId,
			limit,
			leaseSeconds: this.options.leaseSeconds,
			jobTypes: this.jobTypes
		});
		for (const job of jobs) this.start(job);
		return jobs.length;
	}

	private start(job: Job): void {
		const controller = new AbortController();
		const claim: Claim = { jobId: job.id, workerId: this.workerId, claimCount: job.claim_count };
		const limit = attemptLimitSeconds(job, this.options.attemptTimeoutSeconds ?? DEFAULT_ATTEMPT_TIMEOUT_SECONDS);
		const entry = { job, claim, controller, deadlineAt: Date.now() + limit * 1000 } as Running;
		this.running.set(job.id, entry);
		entry.done = this.execute(entry).finally(() => {
			// An abandoned attempt left the map already; the same job may be running again by now.
			if (this.running.get(job.id) === entry) this.running.delete(job.id);
			if (entry.settling) this.settling--;
			this.wakeSlotWaiters();
		});
	}

	private wakeSlotWaiters(): void {
		const waiters = this.slotWaiters;
		this.slotWaiters = [];
		for (const wake of waiters) wake();
	}

	private async execute(entry: Running): Promise<void> {
		const { job, claim, controller } = entry;
		const handler = this.options.handlers[job.job_type]!;
		const { sql } = this.options;
		try {
			const result = await handler(job, { signal: controller.signal, workerId: this.workerId, sql });
			if (controller.signal.aborted) return;
			if (isSnooze(result)) {
				await snoozeJob(sql, claim, result.snoozeSeconds);
				return;
			}
			entry.settling = true;
			this.settling++;
			this.wakeSlotWaiters();
			if (await this.completeSoon(claim)) this.counts.processed++;
		} catch (error) {
			// Cancelled, reclaimed or handed back (or the handler found so itself): not ours to record.
			if (controller.signal.aborted || error instanceof JobAbortedError) return;
			this.counts.errors++;
			const { message, details } = describeError(error);
			const held = await failJob(sql, claim, {
				message,
				details,
				permanent: error instanceof PermanentJobError,
				retryAfterSeconds: error instanceof RetryLaterError ? error.retryAfterSeconds : undefined
			}).catch((e: unknown) => {
				this.options.log?.(`worker ${this.workerId}: could not record the failure of job ${job.id}: ${String(e)}`);
				return false;
			});
			if (!held) this.options.log?.(`worker ${this.workerId}: job ${job.id} was no longer ours when it failed`);
		}
	}

	/** Successes are written in batches: every completion waiting when a flush starts goes in one call. */
	private completeSoon(claim: Claim): Promise<boolean> {
		return new Promise((resolve, reject) => {
			this.completions.push({ claim, resolve, reject });
			if (!this.flushing) {
				this.flushing = true;
				setImmediate(() => void this.flushCompletions());
			}
		});
	}

	private async flushCompletions(): Promise<void> {
		while (this.completions.length > 0) {
			const batch = this.completions.splice(0, 1000);
			try {
				const held = await completeJobs(this.options.sql, this.workerId, batch.map((c) => c.claim));
				for (const item of batch) item.resolve(held.has(item.claim.jobId));
			} catch (error) {
				for (const item of batch) item.reject(error);
			}
		}
		this.flushing = false;
	}

	private beating = false;

	/** One heartbeat: abandon attempts past their limit, renew our leases, return expired ones. Never two at once. */
	private async beat(): Promise<void> {
		if (this.beating) return;
		this.beating = true;
		try {
			await this.abandonOverdue();
			await this.renewLeases();
			if (!this.stopping) this.reaped += await reapExpiredJobs(this.options.sql);
		} catch (error) {
			this.options.log?.(`worker ${this.workerId}: reaping failed: ${String(error)}`);
		} finally {
			this.beating = false;
		}
	}

	private async abandonOverdue(): Promise<void> {
		const now = Date.now();
		const overdue = [...this.running.values()].filter((entry) => !entry.settling && entry.deadlineAt <= now);
		for (const entry of overdue) {
			const seconds = attemptLimitSeconds(entry.job, this.options.attemptTimeoutSeconds ?? DEFAULT_ATTEMPT_TIMEOUT_SECONDS);
			entry.controller.abort(new JobAbortedError('deadline'));
			this.counts.errors++;
			const held = await failJob(this.options.sql, entry.claim, {
				message: `The attempt took longer than its limit of ${seconds} s and was abandoned`,
				details: { class: 'timeout', timeout_seconds: seconds, worker: this.workerId }
			}).catch(() => false);
			// The slot is free once the failure is recorded, not before: a new claim never overlaps it.
			if (this.running.get(entry.job.id) === entry) this.running.delete(entry.job.id);
			this.wakeSlotWaiters();
			this.options.log?.(`worker ${this.workerId}: job ${entry.job.id} passed its ${seconds} s limit${held ? '' : ' (it was no longer ours)'}`);
		}
	}

	private async renewLeases(): Promise<void> {
		const entries = [...this.running.values()];
		if (entries.length === 0) return;
		try {
			const held = await heartbeatJobs(
				this.options.sql,
				this.workerId,
				entries.map((e) => e.claim),
				this.options.leaseSeconds
			);
			for (const entry of entries) {
				if (!held.has(entry.job.id) && this.running.has(entry.job.id)) {
					entry.controller.abort(new JobAbortedError('lease-lost'));
				}
			}
		} catch (error) {
			this.options.log?.(`worker ${this.workerId}: heartbeat failed: ${String(error)}`);
		}
	}
}
