// A long-running worker: wakes on the insert notification and starts new jobs within milliseconds;
// a slow poll catches scheduled and retried jobs; reaps expired leases; stops cleanly.
import type { Sql } from '../db/client';
import { JOB_INSERTED_CHANNEL, reapExpiredJobs } from '../queue';
import { retentionTicker, type RetentionOptions } from './maintenance';
import { WorkerPool } from './pool';
import { RUN_REPORT_SECONDS, startWorkerRun, updateWorkerRun, type WorkerTrigger } from './runs';
import type { JobHandlers, WorkerCounts } from './types';

/** How soon changed counts reach the run's row (RUN_REPORT_SECONDS when nothing changes). */
const COUNTS_REPORT_MS = 1000;

/** The counts only grow, so their sum moves whenever one of them does. */
const countsTotal = (counts: WorkerCounts & { reaped: number }) => counts.processed + counts.errors + counts.reaped;

export interface ContinuousWorkerOptions {
	sql: Sql;
	handlers: JobHandlers;
	concurrency: number;
	batchSize?: number;
	/** Jobs claimed ahead of free slots (see PoolOptions.prefetch); default: one batch when batchSize > 1, else none. */
	prefetch?: number;
	leaseSeconds: number;
	pollMs: number;
	/** LISTEN for new jobs; off behind transaction poolers, where only polling works. */
	listen?: boolean;
	trigger?: WorkerTrigger;
	/** Purges old finished jobs and worker runs now and then (JOB_RETENTION_DAYS); null: never. */
	retention?: RetentionOptions | null;
	log?: (message: string) => void;
}

export class ContinuousWorker {
	readonly pool: WorkerPool;
	private stopping = false;
	private wakeRequested = false;
	private wakeUp: (() => void) | null = null;
	private loopDone: Promise<void> | null = null;
	private unlisten: (() => Promise<void>) | null = null;
	private runId = 0;
	private reaped = 0;
	private lastReap = 0;
	private lastRecorded = 0;
	/** processed + errors + reaped as last written to the run's row. */
	private lastRecordedTotal = 0;
	private readonly retention: () => Promise<void>;

	constructor(private readonly options: ContinuousWorkerOptions) {
		this.retention = retentionTicker(options.sql, options.retention, options.log);
		this.pool = new WorkerPool({
			sql: options.sql,
			handlers: options.handlers,
			concurrency: options.concurrency,
			batchSize: options.batchSize,
			prefetch: options.prefetch ?? ((options.batchSize ?? 1) > 1 ? options.batchSize : 0),
			leaseSeconds: options.leaseSeconds,
			log: options.log
		});
	}

	get workerId(): string {
		return this.pool.workerId;
	}

	async start(): Promise<void> {
		const { sql } = this.options;
		this.runId = await startWorkerRun(sql, this.workerId, this.options.trigger ?? 'continuous');
		if (this.options.listen !== false) {
			// The third argument runs again after every reconnect: claim what arrived while LISTEN was down.
			const subscription = await sql.listen(JOB_INSERTED_CHANNEL, () => this.wake(), () => this.wake());
			this.unlisten = () => subscription.unlisten();
		}
		this.loopDone = this.loop();
	}

	/** Asks the loop to claim now (a notification arrived, or a test wants it). */
	wake(): void {
		this.wakeRequested = true;
		this.wakeUp?.();
	}

	async stop(graceMs = 25_000): Promise<void> {
		if (this.stopping) return;
		this.stopping = true;
		this.wake();
		await this.unlisten?.().catch(() => {});
		await this.loopDone;
		const returned = await this.pool.stop(graceMs);
		await updateWorkerRun(this.options.sql, this.runId, this.counts(), {
			message: returned > 0 ? `stopped; returned ${returned} unfinished job(s)` : 'stopped'
		}).catch(() => {});
	}

	private async loop(): Promise<void> {
		const { log, pollMs, leaseSeconds } = this.options;
		while (!this.stopping) {
			try {
				await this.housekeeping(leaseSeconds * 500);
				this.wakeRequested = false;
				const taken = await this.pool.fill();
				// Took jobs and there is room again (slots, or buffer below half): go straight back for more.
				if (taken > 0 && this.pool.freeSlots > 0) continue;
				if (this.wakeRequested) continue;
				await this.sleep(Math.min(pollMs, this.untilCountsReport()));
			} catch (error) {
				log?.(`worker ${this.workerId}: ${(error as Error).message}; retrying in ${pollMs} ms`);
				await this.sleep(pollMs);
			}
		}
	}

	/** Reap expired leases and record liveness, each at most every intervalMs. */
	private async housekeeping(intervalMs: number): Promise<void> {
		const now = Date.now();
		if (now - this.lastReap >= intervalMs) {
			this.lastReap = now;
			this.reaped += await reapExpiredJobs(this.options.sql);
			void this.retention();
		}
		// Every RUN_REPORT_SECONDS as a sign of life, and within a second of a change in the counts, so
		// the console's "processed" follows the jobs it has just seen finish (one write a second at most).
		const since = now - this.lastRecorded;
		if (since >= RUN_REPORT_SECONDS * 1000 || (this.countsChanged() && since >= COUNTS_REPORT_MS)) {
			const counts = this.counts();
			this.lastRecorded = now;
			this.lastRecordedTotal = countsTotal(counts);
			await updateWorkerRun(this.options.sql, this.runId, counts);
		}
	}

	private counts(): WorkerCounts & { reaped: number } {
		return { ...this.pool.counts, reaped: this.reaped + this.pool.reaped };
	}

	private countsChanged(): boolean {
		return countsTotal(this.counts()) !== this.lastRecordedTotal;
	}

	/** How long until changed counts may be written (Infinity when they are written already). */
	private untilCountsReport(): number {
		if (!this.countsChanged()) return Infinity;
		return Math.max(0, this.lastRecorded + COUNTS_REPORT_MS - Date.now());
	}

	/** Sleeps until woken by a notification, a freed slot, or the poll interval. */
	private sleep(ms: number): Promise<void> {
		return new Promise((resolve) => {
			const done = () => {
				clearTimeout(timer);
				this.wakeUp = null;
				resolve();
			};
			const timer = setTimeout(done, ms);
			this.wakeUp = done;
			// Also with free slots: one of its own jobs ending can free its model's slot (0032), and the
			// jobs passed over for want of it are claimable at once, not at the next poll.
			if (this.pool.freeSlots <= 0 || this.pool.size > 0) void this.pool.waitForSlot(ms).then(() => this.wake());
		});
	}
}
