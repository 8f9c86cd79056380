import { groupView } from '$lib/server/generations/groups';
import { PlaceFollower } from '$lib/server/generations/position-frames';
import { toView, waitsInLine, type GenerationRow } from '$lib/server/generations/types';
import { isTerminal } from '$lib/generation-status';
import { NotFoundError } from '$lib/server/errors';
import { endpoint, requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

const HEARTBEAT_MS = 15_000;
const encoder = new TextEncoder();

/**
 * Server-Sent Events for a group: a `generation` event for each change of any member (the member's
 * own view), and one `group` event with the whole group once its last member has ended; then the
 * stream closes. The event id is the sum of the members' event_seq: every change of a member raises
 * it by at least one, so it only grows, and a reconnect with Last-Event-ID below it gets every
 * member's current state again (a client keeps the newest of each by its event_seq). A queued
 * member's place in line travels as `position` events (no id), as on a generation's own stream.
 */
export const GET = endpoint(async ({ params, locals, request }) => {
	const user = requireUser(locals.user);
	const { generations, events, positions } = locals.services;
	const first = await generations.groups.get(user, params.id);
	if (!first) throw new NotFoundError('No such group');

	const resumeFrom = Number(request.headers.get('last-event-id') ?? 0) || 0;
	let cleanup = () => {};
	let closed = false;

	const stream = new ReadableStream<Uint8Array>({
		async start(controller) {
			const known = new Map<string, number>();
			const terminal = new Set<string>();
			const total = () => [...known.values()].reduce((a, b) => a + b, 0);
			let finishing = false;
			const close = () => {
				if (closed) return;
				closed = true;
				cleanup();
				controller.close();
			};
			const finish = async () => {
				if (finishing || closed) return;
				finishing = true;
				const loaded = await generations.groups.get(user, params.id).catch(() => null);
				if (!closed && loaded) controller.enqueue(encoder.encode(`id: ${total()}\nevent: group\ndata: ${JSON.stringify(groupView(loaded))}\n\n`));
				close();
			};
			// Each member's place, followed while it waits in line (one shared read of the queue for all).
			const places = new PlaceFollower(positions, (frame) => {
				if (!closed) controller.enqueue(frame);
			});
			const send = (row: GenerationRow, force = false) => {
				if (closed) return;
				const seq = Number(row.event_seq);
				const before = known.get(row.id) ?? 0;
				const standing = positions.lastStandingOf(row.id);
				if (seq > before || force) {
					known.set(row.id, Math.max(seq, before));
					const view = toView(row, standing, positions.now());
					controller.enqueue(encoder.encode(`id: ${total()}\nevent: generation\ndata: ${JSON.stringify(view)}\n\n`));
				}
				// The member's newest state decides (an operator's retry can bring one back); a stale one does not.
				if (seq >= before) {
					if (isTerminal(row.status)) terminal.add(row.id);
					else terminal.delete(row.id);
					// Not sent (resumed past it): the client's place may be old, so the next one is told.
					places.follow(row, seq > before || force ? standing : null);
				}
				if (terminal.size === first.members.length) void finish();
			};
			// Ids count from the state read above, so a change the hub brings before the read below
			// already carries the right sum (ids never go down).
			for (const member of first.members) known.set(member.id, Number(member.event_seq));
			const seenAll = resumeFrom >= total();
			// Subscribe to every member before reading their state again, so no change falls between.
			const unsubscribes = await Promise.all(first.members.map((member) => events.subscribe(member.id, (row) => send(row))));
			const heartbeat = setInterval(() => {
				if (!closed) controller.enqueue(encoder.encode(': heartbeat\n\n'));
			}, HEARTBEAT_MS);
			cleanup = () => {
				clearInterval(heartbeat);
				for (const unsubscribe of unsubscribes) unsubscribe();
				places.stop();
			};
			if (closed) return cleanup();
			controller.enqueue(encoder.encode('retry: 2000\n\n'));
			const current = await generations.groups.get(user, params.id);
			if (!current) return close();
			// The first states carry their places: a fresh shared read if the last is old (a lookup otherwise).
			await Promise.all(current.members.filter(waitsInLine).map((m) => positions.standingOf(m.id, m.updated_at)));
			// A new client (or one resuming from before the first read) gets every member's state; one
			// that has seen it all gets only what changed since.
			for (const member of current.members) send(member, !seenAll);
			if (current.members.length === 0) void finish();
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
