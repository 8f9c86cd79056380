// Live generation updates for SSE: one LISTEN connection per process fans each change out to every
// subscriber of that generation. Without notifications (transaction poolers) it polls instead.
import type { Sql } from '../db/client';
import type { GenerationRow } from './types';

export const GENERATION_CHANNEL = 'generation_events';

type Listener = (row: GenerationRow) => void;

export interface GenerationEventsOptions {
	/** Use LISTEN/NOTIFY; when false (or LISTEN fails) poll every pollMs. */
	listen: boolean;
	pollMs?: number;
	log?: (message: string) => void;
}

export class GenerationEvents {
	private readonly listeners = new Map<string, Set<Listener>>();
	private readonly lastSeq = new Map<string, number>();
	/** Generations changed since the last read began: the next read takes them all at once. */
	private readonly pending = new Set<string>();
	private reading: Promise<void> | null = null;
	private listening: Promise<void> | null = null;
	private unlisten: (() => Promise<void>) | null = null;
	private pollTimer: NodeJS.Timeout | null = null;

	constructor(
		private readonly sql: Sql,
		private readonly options: GenerationEventsOptions
	) {}

	/** Calls listener with each new state of the generation until the returned function is called. */
	async subscribe(id: string, listener: Listener): Promise<() => void> {
		let set = this.listeners.get(id);
		if (!set) this.listeners.set(id, (set = new Set()));
		set.add(listener);
		await this.start();
		return () => {
			set!.delete(listener);
			if (set!.size === 0) {
				this.listeners.delete(id);
				this.lastSeq.delete(id);
			}
		};
	}

	get subscriberCount(): number {
		let count = 0;
		for (const set of this.listeners.values()) count += set.size;
		return count;
	}

	async close(): Promise<void> {
		if (this.pollTimer) clearInterval(this.pollTimer);
		await this.unlisten?.().catch(() => {});
		this.listeners.clear();
		this.pending.clear();
		await this.reading;
	}

	private start(): Promise<void> {
		this.listening ??= (async () => {
			if (this.options.listen) {
				try {
					// The third argument runs after every (re)subscription: notifications sent while the
					// connection was down are lost, so re-read what is being watched.
					const subscription = await this.sql.listen(
						GENERATION_CHANNEL,
						(id) => this.changed(id),
						() => this.poll()
					);
					this.unlisten = () => subscription.unlisten();
					return;
				} catch (error) {
					this.options.log?.(`LISTEN unavailable (${(error as Error).message}); polling for progress instead`);
				}
			}
			this.pollTimer = setInterval(() => this.poll(), this.options.pollMs ?? 1000);
			this.pollTimer.unref();
		})();
		return this.listening;
	}

	/** A notification: the row is read once, however many are watching it. */
	private changed(id: string): void {
		if (!this.listeners.has(id)) return;
		this.pending.add(id);
		this.read();
	}

	/** Without notifications (or after a reconnect): re-read everything that is being watched. */
	private poll(): void {
		for (const id of this.listeners.keys()) this.pending.add(id);
		this.read();
	}

	/**
	 * One read at a time, of every generation changed since the previous one began: a burst of
	 * notifications costs a few queries, not one each, and a slow database cannot pile reads up
	 * (behind a small transaction pool each one waits its turn). A change notified while a read is
	 * under way is read again after it, so none is missed.
	 */
	private read(): void {
		if (this.reading || this.pending.size === 0) return;
		this.reading = (async () => {
			// Notifications arrive several to a socket read and are handled in one go: wait for the
			// rest of them, so the first read takes them all instead of the first alone.
			await Promise.resolve();
			while (this.pending.size > 0) {
				const ids = [...this.pending].filter((id) => this.listeners.has(id));
				this.pending.clear();
				if (ids.length === 0) break;
				try {
					const rows = await this.sql<GenerationRow[]>`
						select * from public.image_generations where id = any(${ids}::uuid[])`;
					for (const row of rows) this.dispatch(row);
				} catch (error) {
					this.options.log?.(`reading ${ids.length} generation(s) for their subscribers failed: ${(error as Error).message}`);
				}
			}
		})().finally(() => {
			this.reading = null;
			this.read();
		});
	}

	private dispatch(row: GenerationRow): void {
		const seq = Number(row.event_seq);
		if (seq <= (this.lastSeq.get(row.id) ?? 0)) return;
		this.lastSeq.set(row.id, seq);
		for (const listener of this.listeners.get(row.id) ?? []) {
			// One subscriber's failure must not cost the others (or the rest of the batch) this event.
			try {
				listener(row);
			} catch (error) {
				this.options.log?.(`generation ${row.id}: a subscriber failed: ${(error as Error).message}`);
			}
		}
	}
}
