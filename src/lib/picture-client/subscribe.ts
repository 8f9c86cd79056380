// Live updates of one generation, by whichever transport the platform has:
// - EventSource (browsers, cookies): the browser reconnects by itself and sends Last-Event-ID.
// - a streaming fetch of the same text/event-stream (Node 20, or any caller with a Bearer token,
//   which EventSource cannot send): we reconnect ourselves with Last-Event-ID and backoff.
// - polling GET /api/generations/:id (React Native, whose fetch has no streaming body).
// Each delivers only states newer than the last one (by event_seq) and stops at a final status.
// A waiting generation's queue place moves without event_seq moving: `position` events (and a poll's
// answer at the same event_seq) are merged into the last state and delivered when the place changed.
import { errorFromResponse, networkError, PictureError } from './errors';
import { generationPath, resolveUrl, send, tokenOf } from './http';
import { parsePlace, samePlace, withPlace } from './place';
import { SseParser } from './sse';
import { isFinal, type ClientOptions, type Connection, type EventSourceConstructor, type Generation, type Transport } from './types';

export interface SubscribeOptions {
	transport?: Transport;
	onConnection?: (state: Connection) => void;
	/** A failure asking again will not cure (401, 403, 404); the subscription ends after it. */
	onError?: (error: PictureError) => void;
	/** Only states after this event_seq are delivered (a watcher handing over from another). */
	afterSeq?: number;
	/** The state already shown (with afterSeq, say): `position` events arriving first merge into it. */
	initial?: Generation;
	/** Between polls; 2500 ms. */
	pollMs?: number;
	/** The longest wait between reconnects; 30 s. */
	maxRetryMs?: number;
}

export interface Subscription {
	close(): void;
	/** The final state, or null if closed first or ended by an error. Never rejects. */
	finished: Promise<Generation | null>;
}

const FIRST_RETRY_MS = 1000;

function pickTransport(options: ClientOptions, wanted: Transport): Exclude<Transport, 'auto'> {
	if (wanted !== 'auto') return wanted;
	const source = eventSourceOf(options);
	// EventSource cannot send Authorization: a token means the fetch stream.
	if (source && !options.token) return 'eventsource';
	return canStream(options) ? 'stream' : 'poll';
}

/**
 * Whether fetch hands over a body as it arrives. React Native's built-in fetch (the whatwg-fetch
 * polyfill over XMLHttpRequest) resolves only once the whole answer is in, which for an event
 * stream is when the generation ends: it has no Response.body, so we poll there. A fetch passed
 * in (expo/fetch, say) is trusted to stream; if its answer has no body we fall back to polling.
 */
function canStream(options: ClientOptions): boolean {
	if (options.fetch) return true;
	return typeof ReadableStream !== 'undefined' && typeof Response !== 'undefined' && 'body' in Response.prototype;
}

function eventSourceOf(options: ClientOptions): EventSourceConstructor | null {
	if (options.EventSource === null) return null;
	return options.EventSource ?? ((globalThis as { EventSource?: EventSourceConstructor }).EventSource ?? null);
}

export function subscribeToGeneration(
	options: ClientOptions,
	id: string,
	onChange: (generation: Generation) => void,
	more: SubscribeOptions = {}
): Subscription {
	const onConnection = more.onConnection ?? (() => {});
	const pollMs = more.pollMs ?? 2500;
	const maxRetryMs = more.maxRetryMs ?? 30_000;
	let lastSeq = more.afterSeq ?? -1;
	/** The last state delivered (or the caller's), which position events update. */
	let latest: Generation | null = more.initial ?? null;
	let stopped = false;
	let retryMs = FIRST_RETRY_MS;
	let timer: ReturnType<typeof setTimeout> | undefined;
	let wake: (() => void) | null = null;
	let abort: AbortController | null = null;
	let source: { close(): void } | null = null;
	let settle: (value: Generation | null) => void = () => {};
	const finished = new Promise<Generation | null>((resolve) => (settle = resolve));

	const close = () => {
		if (stopped) return;
		stopped = true;
		clearTimeout(timer);
		wake?.();
		abort?.abort();
		source?.close();
		source = null;
		settle(null);
	};

	const deliver = (generation: Generation) => {
		if (stopped || generation.event_seq < lastSeq) return; // a poll and a stream may overlap
		// The same state again, unless it brings a new place in the queue.
		if (generation.event_seq === lastSeq && samePlace(latest, generation)) return;
		lastSeq = generation.event_seq;
		latest = generation;
		onChange(generation);
		if (isFinal(generation.status)) {
			settle(generation);
			close();
			onConnection('done');
		}
	};

	const placed = (data: string) => {
		const place = parsePlace(data);
		const next = place && latest && !stopped ? withPlace(latest, place) : null;
		if (!next) return;
		latest = next;
		onChange(next);
	};

	const fail = (error: PictureError) => {
		if (stopped) return;
		close();
		more.onError?.(error);
		onConnection('done');
	};

	/** Waits ms (or less, if closed meanwhile). */
	const pause = (ms: number) =>
		new Promise<void>((resolve) => {
			wake = resolve;
			timer = setTimeout(resolve, ms);
		});

	/** The next backoff step: doubling from 1 s to maxRetryMs, never sooner than the server asked. */
	const backoff = (atLeastMs = 0) => {
		const wait = Math.max(retryMs, atLeastMs);
		retryMs = Math.min(retryMs * 2, maxRetryMs);
		return Math.min(wait, Math.max(maxRetryMs, atLeastMs));
	};

	/** One GET: delivers the state, or ends the subscription on a permanent error. Throws otherwise. */
	async function fetchOnce(): Promise<void> {
		const response = await send(options, generationPath(id));
		if (!response.ok) {
			const error = await errorFromResponse(response);
			if (error.permanent) return fail(error);
			throw error;
		}
		deliver((await response.json()) as Generation);
	}

	async function poll() {
		onConnection('polling');
		while (!stopped) {
			let wait = pollMs;
			try {
				await fetchOnce();
			} catch (err) {
				// Offline for a moment, or a 429/5xx: the next poll tries again, later if asked to.
				if (err instanceof PictureError && err.retryAfterSeconds) wait = Math.max(wait, err.retryAfterSeconds * 1000);
			}
			if (!stopped) await pause(wait);
		}
	}

	function viaEventSource(EventSourceImpl: EventSourceConstructor) {
		if (stopped) return;
		onConnection('connecting');
		const url = resolveUrl(options, generationPath(id, '/events'));
		const current = new EventSourceImpl(url, { withCredentials: options.credentials === 'include' });
		source = current;
		current.onopen = () => {
			retryMs = FIRST_RETRY_MS;
			onConnection('live');
		};
		current.addEventListener('generation', (event) => deliver(JSON.parse(event.data) as Generation));
		current.addEventListener('position', (event) => placed(event.data));
		current.onerror = () => {
			if (stopped || source !== current) return;
			// CONNECTING: the browser retries by itself, sending Last-Event-ID.
			onConnection('reconnecting');
			if (current.readyState !== EventSourceImpl.CLOSED) return;
			// CLOSED: it gave up on an error answer it does not show us (a 401 or 404 looks the same as
			// a 502 while the server restarts). Ask once by GET to tell them apart, and retry ourselves.
			current.close();
			source = null;
			fetchOnce().catch(() => {});
			timer = setTimeout(() => viaEventSource(EventSourceImpl), backoff());
		};
	}

	/** The stream by fetch; false when this fetch cannot stream (React Native): poll instead. */
	async function viaStream(): Promise<boolean> {
		let lastEventId = lastSeq >= 0 ? String(lastSeq) : '';
		let serverRetryMs = 0;
		onConnection('connecting');
		while (!stopped) {
			let wait: number;
			// A fresh parser per connection: a cut may leave half an event behind. The id carries over.
			const parser = new SseParser();
			parser.lastEventId = lastEventId;
			try {
				const headers: Record<string, string> = { accept: 'text/event-stream' };
				if (lastEventId) headers['last-event-id'] = lastEventId;
				abort = new AbortController();
				const response = await send(options, generationPath(id, '/events'), { headers, signal: abort.signal });
				if (!response.ok) {
					const error = await errorFromResponse(response);
					if (error.permanent) return fail(error), true;
					throw error;
				}
				const body = response.body as ReadableStream<Uint8Array> | null;
				if (!body || typeof body.getReader !== 'function' || typeof TextDecoder === 'undefined') {
					abort.abort(); // this fetch cannot hand us the stream as it arrives
					return false;
				}
				onConnection('live');
				const reader = body.getReader();
				const decoder = new TextDecoder();
				for (;;) {
					const { value, done } = await reader.read();
					if (done || stopped) break;
					for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
						lastEventId = parser.lastEventId;
						if (event.event === 'position') placed(event.data);
						if (event.event !== 'generation') continue;
						retryMs = FIRST_RETRY_MS; // a working stream resets the backoff
						deliver(JSON.parse(event.data) as Generation);
					}
					serverRetryMs = parser.retryMs ?? serverRetryMs;
				}
				if (stopped) return true;
				// The server ends the stream only after a final state, so an end before one is a cut.
				wait = backoff(serverRetryMs);
			} catch (err) {
				if (stopped) return true;
				const error = err instanceof PictureError ? err : networkError(err);
				wait = backoff(Math.max(serverRetryMs, (error.retryAfterSeconds ?? 0) * 1000));
			}
			onConnection('reconnecting');
			await pause(wait);
		}
		return true;
	}

	const transport = pickTransport(options, more.transport ?? 'auto');
	if (transport === 'poll') void poll();
	else if (transport === 'eventsource') {
		const EventSourceImpl = eventSourceOf(options);
		if (EventSourceImpl) viaEventSource(EventSourceImpl);
		else void poll();
	} else {
		// Fetch the token once up front, so a missing one fails here rather than on every reconnect.
		void Promise.resolve(tokenOf(options))
			.then(() => viaStream())
			.then((streamed) => (streamed || stopped ? undefined : poll()))
			.catch((err) => fail(err instanceof PictureError ? err : networkError(err)));
	}
	return { close, finished };
}
