// A waiting generation's place in the queue. The server computes it when it answers, so it moves
// without the generation changing (event_seq stays put): the event stream sends it as separate
// `position` events, and a poll may bring a new place at the same event_seq. These helpers merge
// such a place into the state a subscriber already holds.
import type { Generation, QueuePlace } from './types';

type Place = Pick<Generation, 'queue_position' | 'estimated_start_at' | 'estimated_done_at'> & { starting: boolean };

/** An older server leaves the fields out: that reads as "no place known". */
const fieldsOf = (place: Partial<Place> | null | undefined): Place => ({
	queue_position: place?.queue_position ?? null,
	estimated_start_at: place?.estimated_start_at ?? null,
	estimated_done_at: place?.estimated_done_at ?? null,
	starting: place?.starting ?? false
});

/** Whether two states stand in the same place (server_time aside: a newer clock reading is not a move). */
export function samePlace(a: Partial<Place> | null | undefined, b: Partial<Place> | null | undefined): boolean {
	const x = fieldsOf(a);
	const y = fieldsOf(b);
	return (
		x.queue_position === y.queue_position &&
		x.estimated_start_at === y.estimated_start_at &&
		x.estimated_done_at === y.estimated_done_at &&
		x.starting === y.starting
	);
}

const isTime = (value: unknown) => value === null || (typeof value === 'string' && Number.isFinite(Date.parse(value)));

/** A `position` event's data, or null when it is not one (a malformed frame is ignored, not thrown). */
export function parsePlace(data: string): QueuePlace | null {
	let value: unknown;
	try {
		value = JSON.parse(data);
	} catch {
		return null;
	}
	if (!value || typeof value !== 'object') return null;
	const place = value as Record<string, unknown>;
	const position = place.queue_position;
	if (typeof place.id !== 'string') return null;
	if (position !== null && !(typeof position === 'number' && Number.isInteger(position) && position >= 1)) return null;
	if (!isTime(place.estimated_start_at) || !isTime(place.estimated_done_at)) return null;
	if (place.starting !== undefined && typeof place.starting !== 'boolean') return null;
	if (place.server_time !== undefined && (place.server_time === null || !isTime(place.server_time))) return null;
	return {
		id: place.id,
		queue_position: position,
		estimated_start_at: place.estimated_start_at as string | null,
		estimated_done_at: place.estimated_done_at as string | null,
		starting: (place.starting as boolean | undefined) ?? false,
		...(place.server_time === undefined ? {} : { server_time: place.server_time as string })
	};
}

/**
 * The generation with the new place in it, or null when the place does not apply: another
 * generation's, unchanged, or for one no longer waiting (a place only means something while queued;
 * the status change that ends the wait arrives as a generation event with the fields null).
 */
export function withPlace(generation: Generation, place: QueuePlace): Generation | null {
	if (place.id !== generation.id || generation.status !== 'queued' || samePlace(generation, place)) return null;
	return {
		...generation,
		queue_position: place.queue_position,
		estimated_start_at: place.estimated_start_at,
		estimated_done_at: place.estimated_done_at,
		starting: place.starting ?? false,
		// The estimates are on the frame's clock reading now.
		...(place.server_time === undefined ? {} : { server_time: place.server_time })
	};
}
