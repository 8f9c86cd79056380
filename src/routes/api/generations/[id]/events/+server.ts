import { toView, waitsInLine, type GenerationRow } from '$lib/server/generations/types';
import type { QueuePositions, Standing } from '$lib/server/generations/positions';
import { PlaceFollower } from '$lib/server/generations/position-frames';
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
const frames = new WeakMap<GenerationRow, { frame: Uint8Array; standing: Standing }>();
function frameOf(row: GenerationRow, positions: QueuePositions): { frame: Uint8Array; standing: Standing } {
	let encoded = frames.get(row);
	if (!encoded) {
		const standing = positions.lastStandingOf(row.id);
		const view = toView(row, standing, positions.now());
		encoded = { frame: encoder.encode(`id: ${Number(row.event_seq)}\nevent: generation\ndata: ${JSON.stringify(view)}\n\n`), standing };
		frames.set(row, encoded);
	}
	return encoded;
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
			const places = new PlaceFollower(positions, (frame) => {
				if (!closed) controller.enqueue(frame);
			});
			let lastStanding: Standing = null;
			const send = (row: GenerationRow) => {
				const seq = Number(row.event_seq);
				if (closed || seq <= lastSent) return;
				lastSent = seq;
				const { frame, standing } = frameOf(row, positions);
				lastStanding = standing;
				controller.enqueue(frame);
				if (isTerminal(row.status)) return close();
				places.follow(row, standing);
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
				places.stop();
			};
			controller.enqueue(RETRY);
			const current = await generations.get(user, params.id);
			if (!current) return close();
			// The first state carries its place: a fresh shared read if the last is old (a lookup otherwise).
			if (waitsInLine(current)) await positions.standingOf(current.id, current.updated_at);
			send(current);
			// Resuming after the end: nothing new will come.
			if (isTerminal(current.status)) return close();
			// Resumed at the current event (send skipped it): the place in line is still followed.
			if (Number(current.event_seq) <= resumeFrom) places.follow(current, lastStanding);
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
