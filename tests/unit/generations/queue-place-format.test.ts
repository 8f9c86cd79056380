// How a queued generation's place is put into words: ordinals, waits rounded as an estimate deserves,
// and an estimate whose time has passed told honestly rather than as "0 s" or a negative count.
import { describe, expect, test } from 'vitest';
import { formatApproxWait, formatEta, inLine, ordinal } from '$lib/components/format';

describe('ordinal', () => {
	test.each([
		[1, '1st'], [2, '2nd'], [3, '3rd'], [4, '4th'], [9, '9th'], [10, '10th'],
		[11, '11th'], [12, '12th'], [13, '13th'], [14, '14th'], [20, '20th'],
		[21, '21st'], [22, '22nd'], [23, '23rd'], [24, '24th'], [101, '101st'], [102, '102nd'],
		[111, '111th'], [112, '112th'], [113, '113th'], [121, '121st'], [1000, '1000th'], [1001, '1001st'], [1011, '1011th']
	])('%i -> %s', (n, expected) => expect(ordinal(n)).toBe(expected));
});

test('the next job is "next in line"; any other place is its ordinal', () => {
	expect(inLine(1)).toBe('Next in line');
	expect(inLine(2)).toBe('2nd in line');
	expect(inLine(3)).toBe('3rd in line');
	expect(inLine(13)).toBe('13th in line');
	expect(inLine(42)).toBe('42nd in line');
});

describe('formatApproxWait', () => {
	test.each([
		[0.2, '1 s'], [0.6, '1 s'], [8, '8 s'], [8.4, '8 s'], [59.4, '59 s'], [59.6, '1 min'],
		[60, '1 min'], [80, '1 min 20 s'], [125, '2 min 5 s'], [599, '9 min 59 s'], [600, '10 min'],
		[14 * 60 + 29, '14 min'], [14 * 60 + 31, '15 min'], [3599, '1 h'], [3600, '1 h'], [3900, '1 h 5 min'], [2 * 3600 + 60, '2 h 1 min']
	])('%s s -> %s', (seconds, expected) => expect(formatApproxWait(seconds)).toBe(expected));
});

describe('formatEta', () => {
	const now = Date.parse('2026-12-02T12:00:00.000Z');
	const at = (seconds: number) => new Date(now + seconds * 1000).toISOString();

	test('counts down in whole seconds, then minutes and seconds for longer waits', () => {
		expect(formatEta(at(8), now)).toBe('about 8 s');
		expect(formatEta(at(8), now + 1000)).toBe('about 7 s');
		expect(formatEta(at(8), now + 7400)).toBe('about 1 s');
		expect(formatEta(at(80), now)).toBe('about 1 min 20 s');
		expect(formatEta(at(3 * 3600), now)).toBe('about 3 h');
	});

	test('once the estimate has passed it says "starting soon", and later admits it is late; never 0 s or negative', () => {
		expect(formatEta(at(0.4), now)).toBe('starting soon');
		expect(formatEta(at(0), now)).toBe('starting soon');
		expect(formatEta(at(-5), now)).toBe('starting soon');
		expect(formatEta(at(-59), now)).toBe('starting soon');
		expect(formatEta(at(-61), now)).toBe('later than estimated');
		for (let s = -120; s <= 120; s += 0.25) expect(formatEta(at(s), now)).not.toMatch(/(^|\D)0 s|-/);
	});

	test('no estimate, or one that is not a time, says nothing', () => {
		expect(formatEta(null, now)).toBeNull();
		expect(formatEta(undefined, now)).toBeNull();
		expect(formatEta('', now)).toBeNull();
		expect(formatEta('soon', now)).toBeNull();
	});
});
