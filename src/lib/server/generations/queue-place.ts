// Where each queued generation stands: its place in the claim order (queue/claim-order.ts) and when
// it should start and finish, from its model's concurrency limit and recent run times. Pure: the
// tracker (positions.ts) feeds it one read of the queue and the models.
import type { PendingJob } from '../queue/claim-order';

export interface QueuePlace {
	/** 1 = the next job the workers will claim; counts every job claimed before this one. */
	queue_position: number;
	estimated_start_at: string;
	estimated_done_at: string;
}

export interface ModelTiming {
	/** The model's concurrency limit (models.max_concurrency). */
	concurrency: number;
	/** Median render time of its last 50 completed runs (seconds). */
	runSeconds: number;
}

export interface RunningGeneration {
	model_id: string;
	/** Seconds since this attempt began rendering. */
	elapsed_seconds: number;
}

/** A render time for a model with no history yet (the cost estimate's default, too). */
export const DEFAULT_RUN_SECONDS = 10;

/** Slots as the times (ms) they next fall free: a binary min-heap, small (one entry per slot). */
class Slots {
	private readonly heap: number[] = [];
	constructor(count: number, now: number, busyUntil: number[]) {
		// Runs beyond the limit (it was lowered while they ran) free nothing until the count is back under it.
		const ends = [...busyUntil].sort((a, b) => a - b);
		const excess = Math.max(0, ends.length - count);
		for (const end of ends.slice(excess)) this.push(end);
		for (let i = ends.length; i < count; i++) this.push(now);
	}
	get next(): number {
		return this.heap[0]!;
	}
	/** The earliest slot is taken until `until`. */
	take(until: number): void {
		this.heap[0] = until;
		this.down(0);
	}
	private push(value: number): void {
		const h = this.heap;
		h.push(value);
		for (let i = h.length - 1; i > 0; ) {
			const parent = (i - 1) >> 1;
			if (h[parent]! <= h[i]!) break;
			[h[parent], h[i]] = [h[i]!, h[parent]!];
			i = parent;
		}
	}
	private down(i: number): void {
		const h = this.heap;
		for (;;) {
			const l = 2 * i + 1;
			const r = l + 1;
			let least = i;
			if (l < h.length && h[l]! < h[least]!) least = l;
			if (r < h.length && h[r]! < h[least]!) least = r;
			if (least === i) return;
			[h[least], h[i]] = [h[i]!, h[least]!];
			i = least;
		}
	}
}

export interface PlaceInput {
	/** Pending jobs in claim order. */
	order: PendingJob[];
	models: Map<string, ModelTiming>;
	running: RunningGeneration[];
	/** The database's clock (ms). */
	now: number;
	/** Job slots of the workers, when known (the in-process worker's concurrency); else only the models limit. */
	workerSlots: number | null;
}

/**
 * Places of the generate-image jobs, keyed by generation id. Each job in claim order takes the
 * earliest free slot of its model (and of the workers, when their count is known), not before it is
 * due, for its model's median run time: the same list scheduling the workers do, one pass, so the
 * cost is one heap step per job however many are watched.
 */
export function queuePlaces(input: PlaceInput): Map<string, QueuePlace> {
	const { now } = input;
	const runSeconds = (model: string | null) => (model ? (input.models.get(model)?.runSeconds ?? DEFAULT_RUN_SECONDS) : 0);
	const endOf = (run: RunningGeneration) => now + Math.max(0, runSeconds(run.model_id) - run.elapsed_seconds) * 1000;

	const modelSlots = new Map<string, Slots>();
	const slotsOf = (model: string): Slots => {
		let slots = modelSlots.get(model);
		if (!slots) {
			const limit = input.models.get(model)?.concurrency ?? 1;
			const busy = input.running.filter((run) => run.model_id === model).map(endOf);
			modelSlots.set(model, (slots = new Slots(limit, now, busy)));
		}
		return slots;
	};
	const workers = input.workerSlots ? new Slots(input.workerSlots, now, input.running.map(endOf)) : null;

	const places = new Map<string, QueuePlace>();
	input.order.forEach((job, index) => {
		// Jobs that are not generations (system work) keep their place in line but hold no model's slot.
		if (!job.model_id || !job.generation_id) return;
		const slots = slotsOf(job.model_id);
		const due = job.scheduled_us / 1000;
		const start = Math.max(now, due, slots.next, workers?.next ?? now);
		const done = start + runSeconds(job.model_id) * 1000;
		slots.take(done);
		workers?.take(done);
		places.set(job.generation_id, {
			queue_position: index + 1,
			estimated_start_at: new Date(start).toISOString(),
			estimated_done_at: new Date(done).toISOString()
		});
	});
	return places;
}
