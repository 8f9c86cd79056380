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
	private readonly inFlight = new Map<string, Promise<void>>();
	private readonly dirty = new Set<string>();
	private listening: Promise<void> | null = null;
	private unlisten: (() => Promise<void>) | null = null;
	private pollTimer: NodeJS.Timeout | null = null;
	private polling = false;

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
						() => void this.poll()
					);
					this.unlisten = () => subscription.unlisten();
					return;
				} catch (error) {
					this.options.log?.(`LISTEN unavailable (${(error as Error).message}); polling for progress instead`);
				}
			}
			this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs ?? 1000);
			this.pollTimer.unref();
		})();
		return this.listening;
	}

	/** A notification: read the row once, however many are watching, and coalesce bursts. */
	private changed(id: string): void {
		if (!this.listeners.has(id)) return;
		if (this.inFlight.has(id)) {
			this.dirty.add(id);
			return;
		}
		const run = (async () => {
			do {
				this.dirty.delete(id);
				const [row] = await this.sql<GenerationRow[]>`select * from public.image_generations where id = ${id}`;
				if (row) this.dispatch(row);
			} while (this.dirty.has(id));
		})()
			.catch((error: unknown) => this.options.log?.(`generation ${id}: ${(error as Error).message}`))
			.finally(() => this.inFlight.delete(id));
		this.inFlight.set(id, run);
	}

	private async poll(): Promise<void> {
		const ids = [...this.listeners.keys()];
		// A slow database must not pile up polls (behind a small transaction pool each one waits its turn).
		if (ids.length === 0 || this.polling) return;
		this.polling = true;
		try {
			const rows = await this.sql<GenerationRow[]>`
				select * from public.image_generations where id = any(${ids}::uuid[])`;
			for (const row of rows) this.dispatch(row);
		} catch (error) {
			this.options.log?.(`progress poll failed: ${(error as Error).message}`);
		} finally {
			this.polling = false;
		}
	}

	private dispatch(row: GenerationRow): void {
		const seq = Number(row.event_seq);
		if (seq <= (this.lastSeq.get(row.id) ?? 0)) return;
		this.lastSeq.set(row.id, seq);
		for (const listener of this.listeners.get(row.id) ?? []) listener(row);
	}
}
