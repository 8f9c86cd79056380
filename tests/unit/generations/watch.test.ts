// The browser's live-progress helper against a fake EventSource: updates, the end of a generation,
// reconnecting, the cap on open streams (further watchers poll until a stream frees up), and queue
// places (position events) merged into the state a watcher holds, across the hand-over too.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Generation, Status } from '$lib/types';
import { watchGeneration, type Connection } from '$lib/client/watch';

class FakeEventSource {
	static CONNECTING = 0;
	static OPEN = 1;
	static CLOSED = 2;
	static all: FakeEventSource[] = [];
	readyState = FakeEventSource.CONNECTING;
	onopen: (() => void) | null = null;
	onerror: (() => void) | null = null;
	private listeners: Record<string, Array<(event: { data: string }) => void>> = {};
	constructor(readonly url: string) {
		FakeEventSource.all.push(this);
	}
	addEventListener(type: string, listener: (event: { data: string }) => void) {
		(this.listeners[type] ??= []).push(listener);
	}
	close() {
		this.readyState = FakeEventSource.CLOSED;
	}
	open() {
		this.readyState = FakeEventSource.OPEN;
		this.onopen?.();
	}
	send(generation: Generation, type = 'generation') {
		for (const listener of this.listeners[type] ?? []) listener({ data: JSON.stringify(generation) });
	}
	fail(state: number) {
		this.readyState = state;
		this.onerror?.();
	}
	static live() {
		return FakeEventSource.all.filter((s) => s.readyState !== FakeEventSource.CLOSED);
	}
}

const view = (id: string, status: Status, event_seq: number, progress = 0) => ({ id, status, event_seq, progress }) as Generation;
let fetchMock: ReturnType<typeof vi.fn>;
const stops: Array<() => void> = [];
const watch = (id: string, updates: Generation[] = [], states: Connection[] = []) => {
	const stop = watchGeneration(id, (g) => updates.push(g), (s) => states.push(s));
	stops.push(stop);
	return stop;
};

beforeEach(() => {
	vi.useFakeTimers();
	FakeEventSource.all = [];
	vi.stubGlobal('EventSource', FakeEventSource);
	fetchMock = vi.fn(async (url: string) => Response.json(view(url.split('/').pop()!, 'queued', 1)));
	vi.stubGlobal('fetch', fetchMock);
});
afterEach(() => {
	stops.splice(0).forEach((stop) => stop()); // frees the module's stream slots for the next test
	vi.unstubAllGlobals();
	vi.useRealTimers();
});

describe('watchGeneration', () => {
	test('passes on each newer state and closes the stream when the generation ends', () => {
		const updates: Generation[] = [];
		const states: Connection[] = [];
		watch('a', updates, states);
		const source = FakeEventSource.all[0]!;
		expect(source.url).toBe('/api/generations/a/events');
		source.open();
		source.send(view('a', 'processing', 2, 40));
		source.send(view('a', 'queued', 1)); // older: ignored
		source.send(view('a', 'completed', 3, 100));
		expect(updates.map((g) => g.status)).toEqual(['processing', 'completed']);
		expect(source.readyState).toBe(FakeEventSource.CLOSED);
		expect(states).toEqual(['connecting', 'live', 'done']);
	});

	test('says "reconnecting" while the browser reconnects, and retries itself once the browser gives up', () => {
		const states: Connection[] = [];
		watch('b', [], states);
		const first = FakeEventSource.all[0]!;
		first.open();
		first.fail(FakeEventSource.CONNECTING); // the browser will retry with Last-Event-ID
		expect(states.at(-1)).toBe('reconnecting');
		first.open();
		expect(states.at(-1)).toBe('live');
		first.fail(FakeEventSource.CLOSED); // e.g. a 502 while the server restarts
		expect(FakeEventSource.all).toHaveLength(1);
		vi.advanceTimersByTime(1000);
		expect(FakeEventSource.all).toHaveLength(2);
		FakeEventSource.all[1]!.open();
		expect(states.at(-1)).toBe('live');
	});

	test('opens at most three streams; the rest poll, then take a stream as one frees up', async () => {
		const fourth: Generation[] = [];
		for (const id of ['s1', 's2', 's3']) watch(id);
		const states: Connection[] = [];
		watch('s4', fourth, states);
		expect(FakeEventSource.live()).toHaveLength(3);
		expect(states).toEqual(['polling']);
		await vi.advanceTimersByTimeAsync(0);
		expect(fetchMock).toHaveBeenCalledWith('/api/generations/s4', expect.anything());
		expect(fourth.map((g) => g.id)).toEqual(['s4']);

		FakeEventSource.all[0]!.send(view('s1', 'completed', 5)); // s1 ends: its slot goes to s4
		expect(FakeEventSource.live().map((s) => s.url)).toEqual([
			'/api/generations/s2/events',
			'/api/generations/s3/events',
			'/api/generations/s4/events'
		]);
		fetchMock.mockClear();
		await vi.advanceTimersByTimeAsync(10_000);
		expect(fetchMock).not.toHaveBeenCalled(); // streaming now, no more polling
	});

	test('stopping a watcher closes its stream and frees its slot', () => {
		const stop = watch('x1');
		watch('x2');
		watch('x3');
		watch('x4');
		stop();
		expect(FakeEventSource.all[0]!.readyState).toBe(FakeEventSource.CLOSED);
		expect(FakeEventSource.live().map((s) => s.url)).toContain('/api/generations/x4/events');
	});
});

describe('watchGeneration and queue places', () => {
	const placed = (g: Generation, queue_position: number | null) =>
		({ ...g, queue_position, estimated_start_at: queue_position && `2026-12-02T12:00:0${queue_position}.000Z`, estimated_done_at: null }) as Generation;
	const position = (id: string, queue_position: number | null) => placed({ id } as Generation, queue_position);

	test('position events move the place of the generation it follows, at the same event_seq', () => {
		const updates: Generation[] = [];
		watch('p', updates);
		const source = FakeEventSource.all[0]!;
		source.open();
		source.send(placed(view('p', 'queued', 1), 3));
		source.send(position('p', 2), 'position');
		source.send(position('p', 2), 'position'); // the same place again
		source.send(position('q', 1), 'position'); // someone else's
		source.send(position('p', 1), 'position');
		source.send(placed(view('p', 'processing', 2, 5), null));
		expect(updates.map((g) => [g.status, g.event_seq, g.queue_position])).toEqual([
			['queued', 1, 3],
			['queued', 1, 2],
			['queued', 1, 1],
			['processing', 2, null]
		]);
	});

	test('a watcher that polled first hands its state to the stream, so the first position event on the stream moves it', async () => {
		for (const id of ['h1', 'h2', 'h3']) watch(id);
		fetchMock.mockImplementation(async () => Response.json(placed(view('h4', 'queued', 1), 4)));
		const updates: Generation[] = [];
		watch('h4', updates);
		await vi.advanceTimersByTimeAsync(0);
		FakeEventSource.all[0]!.send(view('h1', 'completed', 5)); // frees a stream for h4
		const stream = FakeEventSource.live().find((s) => s.url.includes('h4'))!;
		stream.open();
		stream.send(position('h4', 2), 'position');
		expect(updates.map((g) => [g.event_seq, g.queue_position, g.prompt])).toEqual([
			[1, 4, undefined],
			[1, 2, undefined]
		]);
	});
});
