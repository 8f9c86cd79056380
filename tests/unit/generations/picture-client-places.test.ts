// The client module's places in line for groups (position events on the group's stream merged into
// the member they name) and against clock skew: a device whose clock is five minutes off either way
// still counts the right seconds, because the offset is taken from each message's server_time.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { clockOffsetMs, secondsUntil, subscribeToGroup, withMemberPlace, type Generation, type Group } from '$lib/picture-client';
import { formatEta, placeWords } from '$lib/components/format';

class FakeEventSource {
	static CLOSED = 2;
	static last: FakeEventSource | null = null;
	readyState = 0;
	onopen: (() => void) | null = null;
	onerror: (() => void) | null = null;
	private listeners: Record<string, Array<(event: { data: string }) => void>> = {};
	constructor(readonly url: string) {
		FakeEventSource.last = this;
	}
	addEventListener(type: string, listener: (event: { data: string }) => void) {
		(this.listeners[type] ??= []).push(listener);
	}
	close() {
		this.readyState = FakeEventSource.CLOSED;
	}
	emit(type: string, data: unknown) {
		for (const listener of this.listeners[type] ?? []) listener({ data: typeof data === 'string' ? data : JSON.stringify(data) });
	}
}

const T0 = Date.parse('2026-12-03T12:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const place = (queue_position: number | null, start = 0) => ({
	queue_position,
	estimated_start_at: queue_position === null ? null : at(start),
	estimated_done_at: queue_position === null ? null : at(start + 4)
});
const member = (id: string, status: Generation['status'], position: number | null, event_seq = 1) =>
	({ id, status, event_seq, progress: 0, starting: false, server_time: at(0), ...place(position, position ?? 0) }) as Generation;
const groupOf = (members: Generation[]): Group => ({
	id: 'grp',
	prompt: 'a harbour',
	status: 'running',
	complete: false,
	counts: { members: members.length, completed: 0, failed: 0, cancelled: 0, active: members.length },
	kept_generation_id: null,
	created_at: at(0),
	members
});

describe('a group follows its members\' places', () => {
	afterEach(() => (FakeEventSource.last = null));

	test('position events move the member they name; stray, unchanged, malformed and late ones change nothing', () => {
		const initial = groupOf([member('a', 'queued', 3), member('b', 'queued', 5), member('c', 'processing', null)]);
		const seen: Group[] = [];
		const subscription = subscribeToGroup({ EventSource: FakeEventSource }, 'grp', (g) => seen.push(g), { initial });
		const stream = FakeEventSource.last!;
		expect(stream.url).toBe('/api/groups/grp/events');
		stream.emit('position', { id: 'a', ...place(3, 3), server_time: at(1) }); // unchanged
		stream.emit('position', { id: 'a', ...place(2, 2), server_time: at(1) });
		stream.emit('position', { id: 'zzz', ...place(1, 1) }); // no such member
		stream.emit('position', { id: 'c', ...place(1, 1) }); // running: it has no place
		stream.emit('position', '{"id":"b","queue_position":'); // cut short
		stream.emit('position', { id: 'b', queue_position: 2, estimated_start_at: 'soon', estimated_done_at: null }); // not a time
		stream.emit('position', { id: 'b', ...place(4, 4), starting: 'yes' }); // not a flag
		stream.emit('position', { id: 'b', ...place(4, 4), server_time: at(2) });
		stream.emit('position', { id: 'a', ...place(null), starting: true, server_time: at(3) });
		const rows = seen.map((g) => g.members.map((m) => [m.id, m.queue_position, m.starting ?? false]));
		expect(rows).toEqual([
			[['a', 2, false], ['b', 5, false], ['c', null, false]],
			[['a', 2, false], ['b', 4, false], ['c', null, false]],
			[['a', null, true], ['b', 4, false], ['c', null, false]]
		]);
		// The clock reading travels with the place; the rest of the group stays as it was.
		expect(seen[1]!.members[1]!.server_time).toBe(at(2));
		expect(seen[2]).toMatchObject({ status: 'running', counts: initial.counts, members: [{ event_seq: 1, estimated_start_at: null }, {}, {}] });
		// A member's generation event still wins by event_seq, and carries its own fields.
		stream.emit('generation', { ...member('a', 'processing', null, 2), progress: 10 });
		expect(seen.at(-1)!.members[0]).toMatchObject({ status: 'processing', progress: 10, queue_position: null, starting: false });
		stream.emit('position', { id: 'a', ...place(1, 1) }); // too late: it runs
		expect(seen).toHaveLength(4);
		subscription.close();
	});

	test('withMemberPlace is null when nothing moves, so a caller can skip a render', () => {
		const group = groupOf([member('a', 'queued', 2)]);
		expect(withMemberPlace(group, { id: 'a', ...place(2, 2) })).toBeNull();
		expect(withMemberPlace(group, { id: 'b', ...place(1, 1) })).toBeNull();
		const moved = withMemberPlace(group, { id: 'a', ...place(1, 1) })!;
		expect(moved.members[0]!.queue_position).toBe(1);
		expect(group.members[0]!.queue_position).toBe(2); // not changed in place
	});
});

describe('a device clock five minutes off', () => {
	beforeEach(() => vi.useFakeTimers());
	afterEach(() => vi.useRealTimers());

	// The server's clock reads T0 when it sends; the place starts 8 s later and is done 4 s after.
	const sent = { ...place(3, 8), server_time: at(0) };

	test.each([
		['ahead', +5 * 60_000],
		['behind', -5 * 60_000],
		['right', 0]
	])('%s: the offset is taken on arrival and the countdown is the server\'s', (_name, skew) => {
		vi.setSystemTime(T0 + skew + 150); // 150 ms in transit
		const offset = clockOffsetMs(sent.server_time, Date.now());
		expect(offset).toBe(-skew - 150);
		expect(placeWords(sent, offset, Date.now())).toEqual({ position: 3, line: '3rd in line', eta: 'about 8 s', doneInSeconds: 12 });
		// Five seconds later on the device: five seconds less to wait, whatever the device's clock says.
		vi.advanceTimersByTime(5000);
		expect(placeWords(sent, offset, Date.now())).toMatchObject({ eta: 'about 3 s', doneInSeconds: 7 });
		expect(secondsUntil(sent.estimated_start_at, offset)).toBeCloseTo(3, 5);
		vi.advanceTimersByTime(4000);
		expect(placeWords(sent, offset, Date.now())!.eta).toBe('starting soon');
	});

	test('without the offset the same place reads as nonsense (what the server_time is for)', () => {
		vi.setSystemTime(T0 + 5 * 60_000);
		expect(formatEta(sent.estimated_start_at, Date.now())).toBe('later than estimated');
		vi.setSystemTime(T0 - 5 * 60_000);
		expect(formatEta(sent.estimated_start_at, Date.now())).toBe('about 5 min 8 s');
	});

	test('an older server sends no server_time: the device\'s clock is used as before', () => {
		expect(clockOffsetMs(undefined, T0)).toBe(0);
		expect(clockOffsetMs('not a time', T0)).toBe(0);
		expect(placeWords({ queue_position: null }, 0, T0)).toBeNull();
		expect(placeWords({ queue_position: 1, estimated_start_at: null }, 0, T0)).toMatchObject({ line: 'Next in line', eta: null });
	});
});
