// ReadCache's promises: one computation at a time, stale answers while recomputing, no failure
// kept, nothing shared between two caches (two Services never see each other's answers).
import { expect, test, vi } from 'vitest';
import { ReadCache } from '$lib/server/read-cache';

function counter() {
	let calls = 0;
	return { compute: async () => ++calls, get calls() { return calls; } };
}

test('a fresh answer is remembered; a stale one is served while one recomputation runs', async () => {
	const cache = new ReadCache();
	const source = counter();
	expect(await cache.get('k', 60_000, source.compute)).toBe(1);
	expect(await cache.get('k', 60_000, source.compute)).toBe(1);
	expect(source.calls).toBe(1);
	// Two minutes on: stale, so the old answer now, and exactly one recomputation for both callers.
	const later = Date.now() + 120_000;
	vi.spyOn(Date, 'now').mockReturnValue(later);
	const stale = await Promise.all([cache.get('k', 60_000, source.compute), cache.get('k', 60_000, source.compute)]);
	expect(stale).toEqual([1, 1]);
	expect(source.calls).toBe(2);
	await expect.poll(() => cache.get('k', 60_000, source.compute)).toBe(2);
	expect(source.calls).toBe(2);
	vi.restoreAllMocks();
});

test('maxAgeMs <= 0 always computes; a failure is not kept as the answer', async () => {
	const cache = new ReadCache();
	const source = counter();
	await cache.get('k', 0, source.compute);
	await cache.get('k', -5, source.compute);
	expect(source.calls).toBe(2);
	await expect(cache.get('bad', 60_000, () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
	expect(await cache.get('bad', 60_000, async () => 'recovered')).toBe('recovered');
});

test('two caches share nothing', async () => {
	const a = new ReadCache();
	const b = new ReadCache();
	await a.get('k', 60_000, async () => 'a');
	expect(await b.get('k', 60_000, async () => 'b')).toBe('b');
});
