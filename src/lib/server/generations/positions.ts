// Queue places for this process: one read of the queue, shared by every request and every watching
// stream, refreshed about once a second while anyone watches. Reading the queue is linear in the
// pending jobs, so the refresh interval stretches with the read's cost (never more than a fifth
// of the time goes to it): a watcher costs a map lookup, not a query.
import type { Sql } from '../db/client';
import { claimOrder, QueueLineReader } from '../queue/claim-order';
import { DEFAULT_RUN_SECONDS, queuePlaces, type ModelTiming, type QueuePlace, type RunningGeneration } from './queue-place';

export type { QueuePlace } from './queue-place';

/**
 * Where a queued generation stands: its place in line; 'starting' once a worker has claimed its job
 * but not yet begun rendering (the generation is still queued until admit_generation); or null
 * (not in line: paused, backing off, or not a pending job at the last read).
 */
export type Standing = QueuePlace | 'starting' | null;

export interface QueuePositionsOptions {
	/** Places are at most this old (ms) when read, and watchers hear of changes this often. */
	refreshMs?: number;
	/** The workers' job slots when this process knows them (its own in-process worker). */
	workerSlots?: () => number | null;
	log?: (message: string) => void;
}

type PlaceListener = (standing: Standing) => void;

interface Snapshot {
	at: number;
	/** The database's clock when it was read (ms). */
	readAt: number;
	/** The database's clock minus this process's (ms), as seen at the read: estimates are on the database's clock. */
	clockOffsetMs: number;
	places: Map<string, QueuePlace>;
	/** Generations whose job a worker holds (claimed, not yet rendering). */
	starting: Set<string>;
}

const standingIn = (snapshot: Snapshot, id: string): Standing => snapshot.places.get(id) ?? (snapshot.starting.has(id) ? 'starting' : null);

interface ModelsRead {
	models: Map<string, ModelTiming>;
	running: RunningGeneration[];
	claimed: Set<string>;
}

async function readModels(sql: Sql): Promise<ModelsRead> {
	const [models, running, claimed] = await Promise.all([
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
			from public.image_generations g where g.status = 'processing'`,
		// Claimed jobs, from job_queue_processing_lease_idx: as many as the workers hold, not the queue.
		sql<{ generation_id: string | null }[]>`
			select j.payload->>'generation_id' as generation_id from public.job_queue j
			where j.status = 'processing' and j.job_type = 'generate-image'`
	]);
	return {
		models: new Map(models.map((m) => [m.id, { concurrency: m.max_concurrency, runSeconds: m.run_seconds ?? DEFAULT_RUN_SECONDS }])),
		running,
		claimed: new Set(claimed.flatMap((row) => (row.generation_id ? [row.generation_id] : [])))
	};
}

/**
 * Two places differ for a watcher when the number moves, or an estimate moves by more than 2 s or a
 * tenth of the wait left, whichever is more: browsers count down on their own, and a queue with no
 * worker running slides every estimate each second, which is not worth 500 frames a second.
 */
export function differs(a: Standing, b: Standing, now: number): boolean {
	if (typeof a !== 'object' || typeof b !== 'object' || !a || !b) return a !== b;
	if (a.queue_position !== b.queue_position) return true;
	const start = Date.parse(b.estimated_start_at);
	const slack = Math.max(2000, (start - now) / 10);
	return Math.abs(Date.parse(a.estimated_start_at) - start) > slack || Math.abs(Date.parse(a.estimated_done_at) - Date.parse(b.estimated_done_at)) > slack;
}

export class QueuePositions {
	private snapshot: Snapshot | null = null;
	private refreshing: Promise<Snapshot> | null = null;
	private readonly watchers = new Map<string, Set<PlaceListener>>();
	private readonly told = new Map<string, Standing>();
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
	 * Where the generation stands, from a snapshot at most refreshMs old, or newer than the row's last
	 * change (a generation started a moment ago is in line at once).
	 */
	async standingOf(generationId: string, changedAt?: Date): Promise<Standing> {
		let snapshot = await this.fresh();
		if (changedAt && changedAt.getTime() > snapshot.readAt && standingIn(snapshot, generationId) === null) snapshot = await this.refresh();
		return standingIn(snapshot, generationId);
	}

	/** The last snapshot's standing, without reading (for frames built while a stream is live). */
	lastStandingOf(generationId: string): Standing {
		return this.snapshot ? standingIn(this.snapshot, generationId) : null;
	}

	/**
	 * The clock the estimates are on (the database's, ms), as this process sees it now: what views
	 * and frames send as server_time, so a browser with a wrong clock counts down from the right one.
	 */
	now(): number {
		return Date.now() + (this.snapshot?.clockOffsetMs ?? 0);
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
				const [line, { models, running, claimed }] = await Promise.all([this.line.read(), readModels(this.sql)]);
				const places = queuePlaces({
					order: claimOrder(line),
					models,
					running,
					now: line.now_us / 1000,
					workerSlots: this.options.workerSlots?.() ?? null
				});
				const took = Date.now() - began;
				this.intervalMs = Math.max(this.options.refreshMs ?? 1000, took * 5);
				const readAt = line.now_us / 1000;
				// The read's own latency (a few ms on one network) is the error of this offset.
				this.snapshot = { at: Date.now(), readAt, clockOffsetMs: readAt - began, places, starting: claimed };
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
			const snapshot = await this.refresh();
			for (const [id, listeners] of this.watchers) {
				const place = standingIn(snapshot, id);
				if (this.told.has(id) && !differs(this.told.get(id)!, place, snapshot.readAt)) continue;
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
