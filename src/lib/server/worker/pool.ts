// Runs claimed jobs concurrently: claims into free slots (with prefetch, also into a small local
// buffer the slots drain as they free), keeps leases alive while handlers run or wait, records each
// outcome, and hands unfinished and unstarted jobs back when it stops.
import { claimJobs, completeJobs, failJob, heartbeatJobs, reapExpiredJobs, releaseJobs, snoozeJob } from '../queue';
import type { Job } from '../queue/types';
import { Attempt, attemptLimitSeconds, DEFAULT_ATTEMPT_TIMEOUT_SECONDS, type Buffered } from './attempt';
import { describeError, isSnooze, JobAbortedError, PermanentJobError, RetryLaterError } from './errors';
import { newWorkerId, type PoolOptions } from './pool-options';
import type { JobHandlers, WorkerCounts } from './types';

export { DEFAULT_ATTEMPT_TIMEOUT_SECONDS } from './attempt';
export { newWorkerId, type PoolOptions } from './pool-options';

/** Completion writes a pool keeps in flight at once. */
const MAX_COMPLETION_WRITES = 2;

export class WorkerPool {
	readonly workerId: string;
	readonly counts: WorkerCounts = { processed: 0, errors: 0 };
	/** Expired leases this pool returned to the queue on its heartbeat. */
	reaped = 0;
	private readonly running = new Map<string, Attempt>();
	private readonly jobTypes: string[];
	private readonly batch: number;
	private readonly prefetch: number;
	private readonly attemptTimeout: number;
	/** Claimed, not started, oldest first. */
	private buffer: Buffered[] = [];
	/** Jobs asked for by claims still in flight, and buffered jobs being confirmed (they hold a slot). */
	private claiming = 0;
	/** The last claim took fewer jobs than it asked for: the next wake probes with one claim first. */
	private lineRanDry = true;
	private confirming = 0;
	/** Entries in `running` whose handler is done and whose completion is being written. */
	private settling = 0;
	private stopping = false;
	private slotWaiters: Array<() => void> = [];
	private completions: Attempt[] = [];
	/** Completion writes in flight: a second may start while the first waits for its disk flush (they share it). */
	private flushing = 0;
	private readonly inFlight = new Set<Promise<unknown>>();
	private heartbeatTimer: NodeJS.Timeout | null = null;

	constructor(private readonly options: PoolOptions) {
		this.workerId = options.workerId ?? newWorkerId();
		this.jobTypes = Object.keys(options.handlers);
		this.batch = Math.max(1, options.batchSize ?? 1);
		this.prefetch = Math.max(0, options.prefetch ?? 0);
		this.attemptTimeout = options.attemptTimeoutSeconds ?? DEFAULT_ATTEMPT_TIMEOUT_SECONDS;
		const every = options.heartbeatMs ?? (options.leaseSeconds * 1000) / 3;
		this.heartbeatTimer = setInterval(() => void this.beat(), every);
		this.heartbeatTimer.unref();
	}

	/** Jobs running (a finished one until its completion is written); buffered ones not included. */
	get size(): number {
		return this.running.size;
	}

	/** Jobs claimed ahead and waiting for a slot. */
	get buffered(): number {
		return this.buffer.length;
	}

	/** Handlers running now: a finished one whose completion is still being written holds no slot. */
	private get active(): number {
		return this.running.size - this.settling + this.confirming;
	}

	/**
	 * Jobs a claim may take now. Without prefetch: the free slots, less claims in flight. With it, a
	 * claim waits until the buffer has room for half a batch (refilled before it runs dry, never in
	 * dribbles of one job).
	 */
	get freeSlots(): number {
		const room = this.options.concurrency + this.prefetch - this.active - this.buffer.length - this.claiming;
		if (this.prefetch === 0) return room;
		return room >= Math.min(this.batch, Math.ceil(this.prefetch / 2)) ? room : 0;
	}

	/** Starts buffered jobs in free slots and claims into the room left; resolves with the jobs taken. */
	async fill(): Promise<number> {
		if (this.jobTypes.length === 0) return 0;
		let taken = this.startBuffered();
		// After a claim that came back short (the line ran dry), claims ramp up: one, then two, then
		// four..., each round only if every claim of the last came back full. A wake then usually means
		// a job or two, and a claim for every free slot at once (ten, for ten idle slots) would race for
		// them, the winner's claim slowed by nine that find nothing. While claims come back full, the
		// room is claimed at once (below).
		const ramp = this.lineRanDry;
		for (let width = 1; ramp && !this.stopping && this.freeSlots > 0; width *= 2) {
			const round: Promise<number>[] = [];
			let asked = 0;
			for (let room = this.freeSlots; round.length < width && room > 0; room = this.freeSlots) {
				const limit = Math.min(room, this.batch);
				asked += limit;
				this.claiming += limit;
				round.push(this.track(this.claim(limit).finally(() => (this.claiming -= limit))));
			}
			let got = 0;
			for (const n of await Promise.all(round)) got += n;
			taken += got;
			if (got < asked) return taken;
		}
		const claims: Promise<number>[] = [];
		for (let room = this.freeSlots; !this.stopping && room > 0; room = this.freeSlots) {
			const limit = Math.min(room, this.batch);
			this.claiming += limit;
			claims.push(this.track(this.claim(limit).finally(() => (this.claiming -= limit))));
		}
		for (const n of await Promise.all(claims)) taken += n;
		return taken;
	}

	/** Resolves when a slot frees up (or the pool is stopping and a job ends), or after timeoutMs. */
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
	 * Stops claiming, gives buffered jobs back unstarted (attempt refunded), lets running jobs
	 * finish for up to graceMs, then aborts the rest and gives them back without spending their attempt.
	 */
	async stop(graceMs: number): Promise<number> {
		this.stopping = true;
		const deadline = Date.now() + graceMs;
		await Promise.allSettled([...this.inFlight]);
		let returned = await this.release(this.buffer.splice(0));
		while (this.running.size > 0 && Date.now() < deadline) await this.waitForSlot(deadline - Date.now());
		for (const attempt of [...this.running.values()]) {
			if (attempt.settling) continue; // done; its completion is on its way
			attempt.abort(new JobAbortedError('shutdown'));
			if (await snoozeJob(this.options.sql, attempt.claim, 0).catch(() => false)) returned++;
		}
		if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
		this.heartbeatTimer = null;
		// Give aborted handlers (and the last completions) a moment to settle so they do not outlive the pool.
		const until = Date.now() + 1000;
		while (this.running.size > 0 && Date.now() < until) await this.waitForSlot(until - Date.now());
		return returned;
	}

	private track<T>(work: Promise<T>): Promise<T> {
		this.inFlight.add(work);
		void work.finally(() => this.inFlight.delete(work)).catch(() => {});
		return work;
	}

	private async claim(limit: number): Promise<number> {
		const jobs = await claimJobs(this.options.sql, {
			workerId: this.workerId,
			limit,
			leaseSeconds: this.options.leaseSeconds,
			jobTypes: this.jobTypes
		});
		this.lineRanDry = jobs.length < limit;
		const now = Date.now();
		const buffered: Buffered[] = [];
		for (const job of jobs) {
			if (!this.stopping && this.active < this.options.concurrency) this.start(job, now);
			else buffered.push({ job, at: now });
		}
		// Claimed while stopping (or more than fits, without prefetch): not ours to start.
		if (this.stopping || this.prefetch === 0) await this.release(buffered);
		else for (const item of buffered) this.buffer.push(item);
		return jobs.length;
	}

	/** Gives unstarted jobs back; returns how many were still ours. */
	private async release(items: Buffered[]): Promise<number> {
		if (items.length === 0) return 0;
		const claims = items.map(({ job }) => ({ jobId: job.id, claimCount: job.claim_count }));
		try {
			return (await releaseJobs(this.options.sql, this.workerId, claims)).size;
		} catch (error) {
			this.options.log?.(`worker ${this.workerId}: could not give back ${items.length} unstarted job(s): ${String(error)}`);
			return 0;
		}
	}

	/** Moves buffered jobs into free slots; ones that waited too long are confirmed first. Returns how many left the buffer. */
	private startBuffered(): number {
		if (this.buffer.length === 0 || this.stopping) return 0;
		const now = Date.now();
		const recheckMs = this.options.recheckMs ?? 250;
		let taken = 0;
		let confirm: Buffered[] | null = null;
		while (taken < this.buffer.length && this.active < this.options.concurrency) {
			const item = this.buffer[taken++]!;
			if (now - item.at < recheckMs) this.start(item.job, now);
			else {
				(confirm ??= []).push(item);
				this.confirming++;
			}
		}
		this.buffer = taken === this.buffer.length ? [] : this.buffer.slice(taken);
		if (confirm) void this.track(this.confirm(confirm));
		return taken;
	}

	/** Renews the leases of jobs that waited long in the buffer and starts the ones still ours. */
	private async confirm(items: Buffered[]): Promise<void> {
		let held = new Set<string>();
		try {
			held = await heartbeatJobs(this.options.sql, this.workerId, items.map(({ job }) => ({ jobId: job.id, claimCount: job.claim_count })), this.options.leaseSeconds);
		} catch (error) {
			// Not started, not released: the lease runs out and the reaper returns them (at-least-once).
			this.options.log?.(`worker ${this.workerId}: could not confirm ${items.length} buffered job(s): ${String(error)}`);
		}
		this.confirming -= items.length;
		const keep = items.filter(({ job }) => held.has(job.id));
		if (this.stopping) await this.release(keep);
		else for (const item of keep) this.start(item.job, Date.now());
		this.onSlotFreed();
	}

	private start(job: Job, now: number): void {
		const attempt = new Attempt(job, this.workerId, this.options.sql, now + attemptLimitSeconds(job, this.attemptTimeout) * 1000);
		this.running.set(job.id, attempt);
		const handler = this.options.handlers[job.job_type]!;
		let result: ReturnType<typeof handler>;
		try {
			result = handler(job, attempt);
		} catch (error) {
			this.failed(attempt, error);
			return;
		}
		result.then(
			(outcome) => this.succeeded(attempt, outcome),
			(error: unknown) => this.failed(attempt, error)
		);
	}

	private succeeded(attempt: Attempt, outcome: Awaited<ReturnType<JobHandlers[string]>>): void {
		if (attempt.aborted) return this.finish(attempt);
		if (isSnooze(outcome)) {
			snoozeJob(this.options.sql, attempt.claim, outcome.snoozeSeconds)
				.catch((e: unknown) => this.options.log?.(`worker ${this.workerId}: could not snooze job ${attempt.job.id}: ${String(e)}`))
				.finally(() => this.finish(attempt));
			return;
		}
		// The slot is free now: the completion is written in the next batch, the next job need not wait for it.
		attempt.settling = true;
		this.settling++;
		this.completions.push(attempt);
		if (this.completions.length === 1 && this.flushing < MAX_COMPLETION_WRITES) {
			this.flushing++;
			setImmediate(() => void this.flushCompletions());
		}
		this.onSlotFreed();
	}

	private failed(attempt: Attempt, error: unknown): void {
		// Cancelled, reclaimed or handed back (or the handler found so itself): not ours to record.
		if (attempt.aborted || error instanceof JobAbortedError) return this.finish(attempt);
		this.counts.errors++;
		const { message, details } = describeError(error);
		const { job } = attempt;
		failJob(this.options.sql, attempt.claim, {
			message,
			details,
			permanent: error instanceof PermanentJobError,
			retryAfterSeconds: error instanceof RetryLaterError ? error.retryAfterSeconds : undefined
		})
			.then((held) => {
				if (!held) this.options.log?.(`worker ${this.workerId}: job ${job.id} was no longer ours when it failed`);
			})
			.catch((e: unknown) => this.options.log?.(`worker ${this.workerId}: could not record the failure of job ${job.id}: ${String(e)}`))
			.finally(() => this.finish(attempt));
	}

	private finish(attempt: Attempt): void {
		// An abandoned attempt left the map already; the same job may be running again by now.
		if (this.running.get(attempt.job.id) === attempt) this.running.delete(attempt.job.id);
		if (attempt.settling) {
			attempt.settling = false;
			this.settling--;
		}
		this.onSlotFreed();
	}

	/** A slot freed: hand it the next buffered job, and wake whoever waits for room to claim. */
	private onSlotFreed(): void {
		if (this.buffer.length > 0) this.startBuffered();
		if (this.slotWaiters.length > 0 && (this.stopping || this.freeSlots > 0)) {
			const waiters = this.slotWaiters;
			this.slotWaiters = [];
			for (const wake of waiters) wake();
		}
	}

	/** Successes are written in batches: every completion waiting when a flush starts goes in one call. */
	private async flushCompletions(): Promise<void> {
		while (this.completions.length > 0) {
			const batch = this.completions.splice(0, 1000);
			try {
				const held = await completeJobs(this.options.sql, this.workerId, batch.map((a) => ({ jobId: a.job.id, claimCount: a.job.claim_count })));
				for (const attempt of batch) if (held.has(attempt.job.id)) this.counts.processed++;
			} catch (error) {
				// Not recorded: the lease runs out and the job runs again (at-least-once).
				this.counts.errors += batch.length;
				this.options.log?.(`worker ${this.workerId}: could not record ${batch.length} completion(s): ${String(error)}`);
			}
			for (const attempt of batch) this.finish(attempt);
		}
		this.flushing--;
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
		const overdue = [...this.running.values()].filter((attempt) => !attempt.settling && attempt.deadlineAt <= now);
		for (const attempt of overdue) {
			const seconds = attemptLimitSeconds(attempt.job, this.attemptTimeout);
			attempt.abort(new JobAbortedError('deadline'));
			this.counts.errors++;
			const held = await failJob(this.options.sql, attempt.claim, {
				message: `The attempt took longer than its limit of ${seconds} s and was abandoned`,
				details: { class: 'timeout', timeout_seconds: seconds, worker: this.workerId }
			}).catch(() => false);
			// The slot is free once the failure is recorded, not before: a new claim never overlaps it.
			if (this.running.get(attempt.job.id) === attempt) this.running.delete(attempt.job.id);
			this.onSlotFreed();
			this.options.log?.(`worker ${this.workerId}: job ${attempt.job.id} passed its ${seconds} s limit${held ? '' : ' (it was no longer ours)'}`);
		}
	}

	/** Renews running and buffered jobs alike; a running job no longer ours is aborted, a buffered one dropped. */
	private async renewLeases(): Promise<void> {
		const attempts = [...this.running.values()];
		const waiting = this.buffer.slice();
		if (attempts.length + waiting.length === 0) return;
		const claims = attempts.map((a) => ({ jobId: a.job.id, claimCount: a.job.claim_count }));
		for (const { job } of waiting) claims.push({ jobId: job.id, claimCount: job.claim_count });
		const renewedAt = Date.now();
		try {
			const held = await heartbeatJobs(this.options.sql, this.workerId, claims, this.options.leaseSeconds);
			for (const attempt of attempts) {
				if (!held.has(attempt.job.id) && this.running.get(attempt.job.id) === attempt) {
					attempt.abort(new JobAbortedError('lease-lost'));
				}
			}
			const lost = new Set(waiting.filter(({ job }) => !held.has(job.id)));
			for (const item of waiting) if (!lost.has(item)) item.at = renewedAt;
			if (lost.size > 0) {
				this.buffer = this.buffer.filter((item) => !lost.has(item));
				this.options.log?.(`worker ${this.workerId}: dropped ${lost.size} buffered job(s) no longer ours`);
			}
		} catch (error) {
			this.options.log?.(`worker ${this.workerId}: heartbeat failed: ${String(error)}`);
		}
	}
}
