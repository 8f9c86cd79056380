// Live updates of one generation in the browser, from its Server-Sent Events stream.
//
// Chrome allows only six HTTP/1.1 connections per host, and every open EventSource holds one; a page
// watching many generations would otherwise starve its own form posts and image loads. So at most
// MAX_STREAMS streams are open at once; further watchers poll the JSON endpoint until a stream frees up.
import { isTerminal } from '../generation-status';
import type { Generation } from '../types';

/** live: streaming; polling: waiting for a stream slot; reconnecting: the connection dropped. */
export type Connection = 'connecting' | 'live' | 'polling' | 'reconnecting' | 'done';

const MAX_STREAMS = 3;
const POLL_MS = 2500;
const MAX_RETRY_MS = 30_000;

let openStreams = 0;
const waiting: Array<() => void> = [];

function takeSlot(): boolean {
	if (openStreams >= MAX_STREAMS) return false;
	openStreams++;
	return true;
}

function releaseSlot() {
	openStreams--;
	// Hand the slot straight to the longest-waiting watcher.
	waiting.shift()?.();
}

/**
 * Calls onUpdate with each new state of the generation until it ends (completed, failed, cancelled)
 * or the returned function is called. The browser's EventSource reconnects by itself and the server
 * resumes from Last-Event-ID; onConnection reports it so the page can say "reconnecting…".
 */
export function watchGeneration(
	id: string,
	onUpdate: (generation: Generation) => void,
	onConnection: (state: Connection) => void = () => {}
): () => void {
	let stopped = false;
	let holdsSlot = false;
	let source: EventSource | null = null;
	let timer: ReturnType<typeof setTimeout> | undefined;
	let lastSeq = -1;
	let retryMs = 1000;

	const stop = () => {
		if (stopped) return;
		stopped = true;
		clearTimeout(timer);
		source?.close();
		source = null;
		const index = waiting.indexOf(upgrade);
		if (index >= 0) waiting.splice(index, 1);
		if (holdsSlot) {
			holdsSlot = false;
			releaseSlot();
		}
	};

	const deliver = (generation: Generation) => {
		if (stopped || generation.event_seq <= lastSeq) return; // a poll and the stream may overlap
		lastSeq = generation.event_seq;
		onUpdate(generation);
		if (isTerminal(generation.status)) {
			stop();
			onConnection('done');
		}
	};

	function openStream() {
		if (stopped) return;
		const current = new EventSource(`/api/generations/${encodeURIComponent(id)}/events`);
		source = current;
		current.onopen = () => {
			retryMs = 1000;
			onConnection('live');
		};
		current.addEventListener('generation', (event) => deliver(JSON.parse((event as MessageEvent).data)));
		current.onerror = () => {
			if (stopped || source !== current) return;
			// CONNECTING: the browser retries by itself, sending Last-Event-ID.
			onConnection('reconnecting');
			if (current.readyState !== EventSource.CLOSED) return;
			// CLOSED: it gave up (an error answer, e.g. while the server restarts): retry ourselves, slower each time.
			current.close();
			source = null;
			timer = setTimeout(openStream, retryMs);
			retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
		};
	}

	async function poll() {
		try {
			const response = await fetch(`/api/generations/${encodeURIComponent(id)}`, { headers: { accept: 'application/json' } });
			if (response.status === 404) return stop(); // deleted meanwhile
			if (response.ok) deliver(await response.json());
		} catch {
			// Offline for a moment: the next poll tries again.
		}
		if (!stopped && !holdsSlot) timer = setTimeout(poll, POLL_MS);
	}

	function upgrade() {
		if (stopped) return waiting.shift()?.(); // pass the slot on
		openStreams++;
		holdsSlot = true;
		clearTimeout(timer);
		openStream();
	}

	if (takeSlot()) {
		holdsSlot = true;
		onConnection('connecting');
		openStream();
	} else {
		onConnection('polling');
		waiting.push(upgrade);
		void poll();
	}
	return stop;
}
