import { toView, waitsInLine, type GenerationRow } from '$lib/server/generations/types';
import type { QueuePlace, QueuePositions } from '$lib/server/generations/positions';
import { isTerminal } from '$lib/generation-status';
import { NotFoundError } from '$lib/server/errors';
import { endpoint, requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

const HEARTBEAT_MS = 15_000;
const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(': heartbeat\n\n');
const RETRY = encoder.encode('retry: 2000\n\n');

// The hub hands the same row object to every subscriber of a generation, and the event's bytes
// do not depend on who reads them (access was checked before subscribing): encode them once per
// change, not once per stream. The place in line is the one the last shared read of the queue found.
const frames = new WeakMap<GenerationRow, Uint8Array>();
function frameOf(row: GenerationRow, positions: QueuePositions): Uint8Array {
	let frame = frames.get(row);
	if (!frame) {
		const view = toView(row, positions.lastPlaceOf(row.id));
		frame = encoder.encode(`id: ${Number(row.event_seq)}\nevent: generation\ndata: ${JSON.stringify(view)}\n\n`);
		frames.set(row, frame);
	}
	return frame;
}

// A place in line changes without the row changing: its own event, without an id (Last-Event-ID
// resumes generation events only), encoded once per change for every stream of the generation.
const placeFrames = new WeakMap<QueuePlace, Uint8Array>();
function placeFrameOf(id: string, place: QueuePlace | null): Uint8Array {
	if (!place) return encoder.encode(`event: position\ndata: ${JSON.stringify({ id, queue_position: null, estimated_start_at: null, estimated_done_at: null })}\n\n`);
	let frame = placeFrames.get(place);
	if (!frame) {
		frame = encoder.encode(`event: position\ndata: ${JSON.stringify({ id, ...place })}\n\n`);
		placeFrames.set(place, frame);
	}
	return frame;
}

/**
 * Server-Sent Events for one generation: each change of status or progress (event id = its
 * event_seq, so a reconnect with Last-Event-ID resumes), heartbeat comments, and the stream ends
 * once the generation reaches a terminal state.
 */
export const GET = endpoint(async ({ params, locals, request }) => {
	const user = requireUser(locals.user);
	const { generations, events, positions } = locals.services;
	if (!(await generations.get(user, params.id))) throw new NotFoundError('No such generation');

	const resumeFrom = Number(request.headers.get('last-event-id') ?? 0) || 0;
	let cleanup = () => {};
	// Set when the browser goes away too: enqueueing after that throws, and from a timer it would
	// crash the process.
	let closed = false;

	const stream = new ReadableStream<Uint8Array>({
		async start(controller) {
			let lastSent = resumeFrom;
			const close = () => {
				if (closed) return;
				closed = true;
				cleanup();
				controller.close();
			};
			// Places are watched only while the generation waits in line: a running one has none.
			let unwatch: (() => void) | null = null;
			let lastPlace: QueuePlace | null = null;
			const followPlace = (row: GenerationRow) => {
				if (waitsInLine(row)) {
					unwatch ??= positions.watch(params.id, (place) => {
						if (closed || (place === null && lastPlace === null)) return;
						lastPlace = place;
						controller.enqueue(placeFrameOf(params.id, place));
					});
				} else if (unwatch) {
					unwatch();
					unwatch = null;
					lastPlace = null;
				}
			};
			const send = (row: GenerationRow) => {
				const seq = Number(row.event_seq);
				if (closed || seq <= lastSent) return;
				lastSent = seq;
				controller.enqueue(frameOf(row, positions));
				if (isTerminal(row.status)) return close();
				followPlace(row);
			};
			// Subscribe before reading the current state, so no change can fall between the two.
			const unsubscribe = await events.subscribe(params.id, send);
			// The browser may have left while we subscribed (cancel() ran before cleanup was set).
			if (closed) return unsubscribe();
			const heartbeat = setInterval(() => {
				if (!closed) controller.enqueue(HEARTBEAT);
			}, HEARTBEAT_MS);
			cleanup = () => {
				clearInterval(heartbeat);
				unsubscribe();
				unwatch?.();
				unwatch = null;
			};
			controller.enqueue(RETRY);
			const current = await generations.get(user, params.id);
			if (!current) return close();
			send(current);
			// Resuming after the end: nothing new will come.
			if (isTerminal(current.status)) return close();
			// Resumed at the current event (send skipped it): the place in line is still followed.
			followPlace(current);
		},
		cancel() {
			closed = true;
			cleanup();
		}
	});

	return new Response(stream, {
		headers: {
			'content-type': 'text/event-stream; charset=utf-8',
			'cache-control': 'no-cache, no-transform',
			connection: 'keep-alive',
			'x-accel-buffering': 'no'
		}
	});
}) satisfies RequestHandler;
