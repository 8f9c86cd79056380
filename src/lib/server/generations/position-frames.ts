// `position` events for the event streams (a generation's and a group's): a queued generation's place
// in line moves without its row changing, so it travels as its own event, without an SSE id
// (Last-Event-ID resumes generation events only). Both streams follow places through the one shared
// tracker (positions.ts): a frame costs an encoding per change, never a read of the queue.
import { differs, type QueuePositions, type Standing } from './positions';
import { waitsInLine, type GenerationRow } from './types';

const encoder = new TextEncoder();

/** Frames are shared by every stream told in the same tick; older ones are encoded again, so server_time is the send's. */
const REUSE_MS = 250;
const encoded = new WeakMap<object, { at: number; frame: Uint8Array }>();

/** The `position` event's data: the place (all null when none), whether it is starting, and the server's clock. */
export function positionData(id: string, standing: Standing, now: number) {
	const place = typeof standing === 'object' ? standing : null;
	return {
		id,
		queue_position: place?.queue_position ?? null,
		estimated_start_at: place?.estimated_start_at ?? null,
		estimated_done_at: place?.estimated_done_at ?? null,
		starting: standing === 'starting',
		server_time: new Date(now).toISOString()
	};
}

export function positionFrame(id: string, standing: Standing, now: number): Uint8Array {
	const encode = () => encoder.encode(`event: position\ndata: ${JSON.stringify(positionData(id, standing, now))}\n\n`);
	if (typeof standing !== 'object' || !standing) return encode();
	const cached = encoded.get(standing);
	if (cached && now - cached.at < REUSE_MS) return cached.frame;
	const frame = encode();
	encoded.set(standing, { at: now, frame });
	return frame;
}

/**
 * Follows the standing of the generations a stream shows, while each waits in line, and hands the
 * stream a frame whenever one changes from what the stream last told (the generation event's own
 * fields count as told). One instance per stream; stop() when the stream ends.
 */
export class PlaceFollower {
	private readonly watching = new Map<string, () => void>();
	private readonly told = new Map<string, Standing>();

	constructor(
		private readonly positions: QueuePositions,
		private readonly enqueue: (frame: Uint8Array) => void
	) {}

	/** After a generation event for row, which carried `standing`: watch it while it waits, stop once it does not. */
	follow(row: GenerationRow, standing: Standing): void {
		if (!waitsInLine(row)) return this.forget(row.id);
		this.told.set(row.id, standing);
		if (this.watching.has(row.id)) return;
		const id = row.id;
		this.watching.set(
			id,
			this.positions.watch(id, (next) => {
				if (!this.watching.has(id) || !differs(this.told.get(id) ?? null, next, this.positions.now())) return;
				this.told.set(id, next);
				this.enqueue(positionFrame(id, next, this.positions.now()));
			})
		);
	}

	stop(): void {
		for (const id of [...this.watching.keys()]) this.forget(id);
	}

	private forget(id: string): void {
		this.watching.get(id)?.();
		this.watching.delete(id);
		this.told.delete(id);
	}
}
