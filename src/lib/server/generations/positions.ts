// Queue places for this process: one read of the queue, shared by every request and every watching
// stream, refreshed about once a second while anyone watches. Reading the queue is linear in the
// pending jobs, so the refresh interval stretches with the read's cost (never more than a fifth
// of the time goes to it): a watcher costs a map lookup, not a query.
import type { Sql } from '../db/client';
import { claimOrder, QueueLineReader } from '../queue/claim-order';
import { DEFAULT_RUN_SECONDS, queuePlaces, type ModelTiming, type QueuePlace, type RunningGeneration } from './queue-place';

export type { QueuePlace } from './queue-place';

export interface QueuePositionsOptions {
	/** Places are at most this old (ms) when read, and watchers hear of changes this often. */
	refreshMs?: number;
	/** The workers' job slots when this process knows them (its own in-process worker). */
	workerSlots?: () => number | null;
	log?: (message: string) => void;
}

type PlaceListener = (place: QueuePlace | null) => void;

interface Snapshot {
	at: number;
	/** The database's clock when it was read (ms). */
	readAt: number;
	places: Map<string, QueuePlace>;
}

async function readModels(sql: Sql): Promise<{ models: Map<string, ModelTiming>; running: RunningGeneration[] }> {
	const [models, running] = await Promise.all([
		// The median of the last 50 completed runs, from image_generations_completed_runs_idx alone (0035).
		sql<{ id: string; max_concurrency: number; run_seconds: number | null }[]>`
			select m.id, m.max_concurrency,
			       (select percentile_cont(0.5) within group (order by r.seconds)
			        from (select extract(epoch from g.completed_at - coalesce(g.run_started_at, g.started_at))::float8 as seconds
			              from public.image_generations g
			              where g.model_id = m.id and g.status = 'completed' and g.completed_at is not null
			              order by g.completed_at desc limit 50) r) as run_seconds
			from public.models m`,
		sql<RunningGeneration[]>`
			select g.model_id, extract(epoch from now() - coalesce(g.run_started_at, g.started_at, now()))::float8 as elapsed_seconds
			from public.image_generations g where g.status = 'processing'`
	]);
	return {
		models: new Map(models.map((m) => [m.id, { concurrency: m.max_concurrency, runSeconds: m.run_seconds ?? DEFAULT_RUN_SECONDS }])),
		running
	};
}

/**
 * Two places differ for a watcher when the number moves, or an estimate moves by more than 2 s or a
 * tenth of the wait left, whichever is more: browsers count down on their own, and a queue with no
 * worker running slides every estimate each second, which is not worth 500 frames a second.
 */
function differs(a: QueuePlace | null, b: QueuePlace | null, now: number): boolean {
	if (!a || !b) return a !== b;
	if (a.queue_position !== b.queue_position) return true;
	const start = Date.parse(b.estimated_start_at);
	const slack = Math.max(2000, (start - now) / 10);
	return Math.abs(Date.parse(a.estimated_start_at) - start) > slack || Math.abs(Date.parse(a.estimated_done_at) - Date.parse(b.estimated_done_at)) > slack;
}

export class QueuePositions {
	private snapshot: Snapshot | null = null;
	private refreshing: Promise<Snapshot> | null = null;
	private readonly watchers = new Map<string, Set<PlaceListener>>();
	private readonly told = new Map<string, QueuePlace | null>();
	private timer: NodeJS.Timeout | null = null;
	private intervalMs: number;
	private closed = false;
	private readonly line: QueueLineReader;

	constructor(
		private readonly sql: Sql,
		private readonly options: QueuePositionsOptions = {}
	) {
		this.intervalMs = options.refreshMs ?? 1000;
		this.line = new QueueLineReader(sql);
	}

	/**
	 * The generation's place, from a snapshot at most refreshMs old, or newer than the row's last
	 * change (a generation started a moment ago is in line at once); null when it is not in line.
	 */
	async placeOf(generationId: string, changedAt?: Date): Promise<QueuePlace | null> {
		let snapshot = await this.fresh();
		if (changedAt && changedAt.getTime() > snapshot.readAt && !snapshot.places.has(generationId)) snapshot = await this.refresh();
		return snapshot.places.get(generationId) ?? null;
	}

	/** The last snapshot's place, without reading (for frames built while a stream is live). */
	lastPlaceOf(generationId: string): QueuePlace | null {
		return this.snapshot?.places.get(generationId) ?? null;
	}

	/** Calls listener whenever the generation's place changes, until the returned function is called. */
	watch(generationId: string, listener: PlaceListener): () => void {
		let set = this.watchers.get(generationId);
		if (!set) this.watchers.set(generationId, (set = new Set()));
		set.add(listener);
		// Another stream already follows it: this one starts from what that one was told.
		if (this.told.has(generationId)) {
			const place = this.told.get(generationId)!;
			queueMicrotask(() => {
				if (set!.has(listener)) listener(place);
			});
		}
		this.schedule();
		return () => {
			set!.delete(listener);
			if (set!.size === 0) {
				this.watchers.delete(generationId);
				this.told.delete(generationId);
			}
		};
	}

	get watcherCount(): number {
		let count = 0;
		for (const set of this.watchers.values()) count += set.size;
		return count;
	}

	close(): void {
		this.closed = true;
		if (this.timer) clearTimeout(this.timer);
		this.watchers.clear();
	}

	private fresh(): Promise<Snapshot> {
		if (this.snapshot && Date.now() - this.snapshot.at < (this.options.refreshMs ?? 1000)) return Promise.resolve(this.snapshot);
		return this.refresh();
	}

	private refresh(): Promise<Snapshot> {
		this.refreshing ??= (async () => {
			const began = Date.now();
			try {
				const [line, { models, running }] = await Promise.all([this.line.read(), readModels(this.sql)]);
				const places = queuePlaces({
					order: claimOrder(line),
					models,
					running,
					now: line.now_us / 1000,
					workerSlots: this.options.workerSlots?.() ?? null
				});
				const took = Date.now() - began;
				this.intervalMs = Math.max(this.options.refreshMs ?? 1000, took * 5);
				this.snapshot = { at: Date.now(), readAt: line.now_us / 1000, places };
				return this.snapshot;
			} finally {
				this.refreshing = null;
			}
		})();
		return this.refreshing;
	}

	private schedule(): void {
		if (this.timer || this.closed || this.watchers.size === 0) return;
		this.timer = setTimeout(() => void this.tick(), this.snapshot ? this.intervalMs : 0);
		this.timer.unref();
	}

	private async tick(): Promise<void> {
		try {
			const { places } = await this.refresh();
			for (const [id, listeners] of this.watchers) {
				const place = places.get(id) ?? null;
				if (this.told.has(id) && !differs(this.told.get(id)!, place, Date.now())) continue;
				this.told.set(id, place);
				for (const listener of listeners) {
					try {
						listener(place);
					} catch (error) {
						this.options.log?.(`generation ${id}: a place watcher failed: ${(error as Error).message}`);
					}
				}
			}
		} catch (error) {
			this.options.log?.(`reading the queue for places in line failed: ${(error as Error).message}`);
		} finally {
			this.timer = null;
			this.schedule();
		}
	}
}
