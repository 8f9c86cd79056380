// Groups: one prompt, several pictures. Start one (the group form of POST /api/generations), read
// it, cancel it as one, and follow it until its last member ends: by EventSource on the group's
// stream where the platform has one (a browser with cookies), by polling GET /api/groups/:id
// otherwise (Node, React Native, a Bearer token).
import { errorFromResponse, networkError, PictureError } from './errors';
import { resolveUrl, send, sendJson } from './http';
import { parsePlace, withPlace } from './place';
import {
	isFinal,
	type ClientOptions,
	type Connection,
	type EventSourceConstructor,
	type Generation,
	type Group,
	type GroupParams,
	type GroupStatus,
	type QueuePlace,
	type StartedGroup
} from './types';

export const groupPath = (id: string, tail = '') => `/api/groups/${encodeURIComponent(id)}${tail}`;

/** The server's rule (generation_group_summary, 0028), for states built from member events. */
export function groupStatusOf(members: Pick<Generation, 'status'>[]): { status: GroupStatus; complete: boolean } {
	const all = (test: (s: Generation['status']) => boolean) => members.every((m) => test(m.status));
	const some = (test: (s: Generation['status']) => boolean) => members.some((m) => test(m.status));
	const complete = all(isFinal);
	if (members.length === 0) return { status: 'cancelled', complete };
	if (all((s) => s === 'queued')) return { status: 'queued', complete };
	if (!complete) return { status: 'running', complete };
	if (all((s) => s === 'completed')) return { status: 'done', complete };
	if (some((s) => s === 'completed')) return { status: 'partly_done', complete };
	if (all((s) => s === 'cancelled')) return { status: 'cancelled', complete };
	return { status: 'failed', complete };
}

/** The group with one member's newer state in it, its status and counts recomputed. */
export function withMember(group: Group, member: Generation): Group {
	const members = group.members.map((m) => (m.id === member.id && member.event_seq > m.event_seq ? member : m));
	const count = (status: Generation['status']) => members.filter((m) => m.status === status).length;
	return {
		...group,
		...groupStatusOf(members),
		members,
		counts: {
			members: members.length,
			completed: count('completed'),
			failed: count('failed'),
			cancelled: count('cancelled'),
			active: count('queued') + count('processing')
		}
	};
}

/**
 * The group with a member's new place in line (a `position` event) in it, or null when it changes
 * nothing: no such member, one no longer queued, or the same place. Status and counts stay: a place
 * moves nothing else.
 */
export function withMemberPlace(group: Group, place: QueuePlace): Group | null {
	const member = group.members.find((m) => m.id === place.id);
	const moved = member ? withPlace(member, place) : null;
	if (!moved) return null;
	return { ...group, members: group.members.map((m) => (m.id === moved.id ? moved : m)) };
}

const NETWORK_ATTEMPTS = 3;

export async function startGroup(options: ClientOptions, params: GroupParams, idempotencyKey: string): Promise<StartedGroup> {
	const body = JSON.stringify({ ...params, variations: params.variations ?? 1, idempotency_key: idempotencyKey });
	for (let attempt = 1; ; attempt++) {
		try {
			const answer = await sendJson<{ group_id: string; group: Group }>(options, '/api/generations', {
				method: 'POST',
				headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
				body
			});
			return { groupId: answer.body.group_id, group: answer.body.group, created: answer.status === 201, idempotencyKey };
		} catch (err) {
			if (!(err instanceof PictureError) || err.kind !== 'network' || attempt >= NETWORK_ATTEMPTS) throw err;
			await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
		}
	}
}

export async function getGroup(options: ClientOptions, id: string): Promise<Group> {
	return (await sendJson<Group>(options, groupPath(id))).body;
}

/** Cancels every member still queued or running. Returns the group as it now stands. */
export async function cancelGroup(options: ClientOptions, id: string): Promise<Group> {
	return (await sendJson<Group>(options, groupPath(id), { method: 'DELETE' })).body;
}

export interface GroupSubscription {
	close(): void;
	/** The group once complete, or null if closed first or ended by an error. Never rejects. */
	finished: Promise<Group | null>;
}

export interface SubscribeGroupOptions {
	transport?: 'auto' | 'eventsource' | 'poll';
	onConnection?: (state: Connection) => void;
	onError?: (error: PictureError) => void;
	/** Between polls; 2500 ms. */
	pollMs?: number;
	/** The state already shown (a page's data): updates start from it. */
	initial?: Group;
}

/** Calls onChange with each new state of the group until it is complete or the subscription is closed. */
export function subscribeToGroup(
	options: ClientOptions,
	id: string,
	onChange: (group: Group) => void,
	more: SubscribeGroupOptions = {}
): GroupSubscription {
	const onConnection = more.onConnection ?? (() => {});
	let current: Group | null = more.initial ?? null;
	let stopped = false;
	let timer: ReturnType<typeof setTimeout> | undefined;
	let source: { close(): void } | null = null;
	let settle: (value: Group | null) => void = () => {};
	const finished = new Promise<Group | null>((resolve) => (settle = resolve));

	const close = () => {
		if (stopped) return;
		stopped = true;
		clearTimeout(timer);
		source?.close();
		source = null;
		settle(null);
	};
	const deliver = (group: Group) => {
		if (stopped) return;
		current = group;
		onChange(group);
		if (group.complete) {
			settle(group);
			close();
			onConnection('done');
		}
	};
	const fail = (error: PictureError) => {
		if (stopped) return;
		close();
		more.onError?.(error);
		onConnection('done');
	};

	async function fetchOnce(): Promise<void> {
		const response = await send(options, groupPath(id));
		if (!response.ok) {
			const error = await errorFromResponse(response);
			if (error.permanent) return fail(error);
			throw error;
		}
		deliver((await response.json()) as Group);
	}

	function poll() {
		if (stopped) return;
		onConnection('polling');
		const pollMs = more.pollMs ?? 2500;
		fetchOnce()
			.catch((err) => {
				const error = err instanceof PictureError ? err : networkError(err);
				return new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, (error.retryAfterSeconds ?? 0) * 1000 - pollMs))));
			})
			.finally(() => {
				if (!stopped) timer = setTimeout(poll, pollMs);
			});
	}

	function viaEventSource(EventSourceImpl: EventSourceConstructor) {
		onConnection('connecting');
		const stream = new EventSourceImpl(resolveUrl(options, groupPath(id, '/events')), { withCredentials: options.credentials === 'include' });
		source = stream;
		stream.onopen = () => onConnection('live');
		stream.addEventListener('generation', (event) => {
			const member = JSON.parse(event.data) as Generation;
			if (current) deliver(withMember(current, member));
			else void fetchOnce().catch(() => {});
		});
		stream.addEventListener('position', (event) => {
			const place = parsePlace(event.data);
			const next = place && current ? withMemberPlace(current, place) : null;
			if (next) deliver(next);
		});
		stream.addEventListener('group', (event) => deliver(JSON.parse(event.data) as Group));
		stream.onerror = () => {
			if (stopped || source !== stream) return;
			onConnection('reconnecting');
			if (stream.readyState !== EventSourceImpl.CLOSED) return;
			// The browser gave up (an error answer): polling tells a 404 from a restart, and carries on.
			stream.close();
			source = null;
			poll();
		};
	}

	const EventSourceImpl =
		options.EventSource === null ? null : (options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource ?? null);
	const wanted = more.transport ?? 'auto';
	if (wanted !== 'poll' && EventSourceImpl && !options.token) {
		// The stream's first events may be members' states only: start from the full group.
		if (!current) void fetchOnce().catch(() => {});
		viaEventSource(EventSourceImpl);
	} else poll();
	return { close, finished };
}
