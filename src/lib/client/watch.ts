// Live updates of one generation in the browser: a thin layer over $lib/picture-client (the same
// module API clients import), adding one thing only a page needs.
//
// Chrome allows only six HTTP/1.1 connections per host, and every open EventSource holds one; a page
// watching many generations would otherwise starve its own form posts and image loads. So at most
// MAX_STREAMS streams are open at once; further watchers poll the JSON endpoint until a stream frees up.
import { subscribeToGeneration, type Connection, type Generation as ClientGeneration, type Subscription } from '../picture-client';
import type { Generation } from '../types';

// The client module writes the API's shape out for itself; svelte-check fails here if the server's
// view stops fitting it.
const mirrorsTheApi: Generation extends ClientGeneration ? true : false = true;
void mirrorsTheApi;

export type { Connection };

const MAX_STREAMS = 3;
// Same origin, the session cookie: what EventSource sends by itself.
const SAME_ORIGIN = {};

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
 * or the returned function is called; a new place in the queue (a `position` event) is a new state
 * at the same event_seq. The browser's EventSource reconnects by itself and the server
 * resumes from Last-Event-ID; onConnection reports it so the page can say "reconnecting…".
 */
export function watchGeneration(
	id: string,
	onUpdate: (generation: Generation) => void,
	onConnection: (state: Connection) => void = () => {}
): () => void {
	let stopped = false;
	let holdsSlot = false;
	let lastSeq = -1;
	// Handed to the stream that takes over from polling, so its first position events have a state to move.
	let last: ClientGeneration | undefined;
	let current: Subscription | null = null;

	const stop = () => {
		if (stopped) return;
		stopped = true;
		current?.close();
		current = null;
		const index = waiting.indexOf(upgrade);
		if (index >= 0) waiting.splice(index, 1);
		if (holdsSlot) {
			holdsSlot = false;
			releaseSlot();
		}
	};

	const follow = (transport: 'eventsource' | 'poll') => {
		current = subscribeToGeneration(
			SAME_ORIGIN,
			id,
			(generation) => {
				lastSeq = generation.event_seq;
				last = generation;
				// The generation's own view type; the client's mirrors it.
				onUpdate(generation as unknown as Generation);
			},
			{
				transport,
				afterSeq: lastSeq,
				initial: last,
				onConnection: (state) => {
					if (state === 'done') stop(); // ended, or deleted meanwhile (a 404)
					if (!stopped || state === 'done') onConnection(state);
				}
			}
		);
	};

	function upgrade() {
		if (stopped) return waiting.shift()?.(); // pass the slot on
		openStreams++;
		holdsSlot = true;
		current?.close();
		follow('eventsource');
	}

	if (takeSlot()) {
		holdsSlot = true;
		follow('eventsource');
	} else {
		waiting.push(upgrade);
		follow('poll');
	}
	return stop;
}
