// The Supabase signing-key cache: fetched once, refetched on an unknown kid (not more often than
// the cool-down), shared by concurrent callers, bounded by a timeout, and strict about key types.
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { JwksCache } from '$lib/server/auth/jwks';
import { loadConfig } from '$lib/server/config';

const ecJwk = (kid: string, extra: Record<string, unknown> = {}) => ({
	...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }),
	kid,
	alg: 'ES256',
	use: 'sig',
	...extra
});

/** A fetch answering with the given key sets in turn (the last one repeats), counting calls. */
function jwksServer(...sets: unknown[][]) {
	const calls: string[] = [];
	const fetch = vi.fn(async (url: string | URL | Request) => {
		calls.push(String(url));
		return Response.json({ keys: sets[Math.min(calls.length - 1, sets.length - 1)] });
	});
	return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}

afterEach(() => vi.restoreAllMocks());

describe('JwksCache', () => {
	const url = 'https://project.supabase.co/auth/v1/.well-known/jwks.json';

	test('fetches once and serves later lookups from memory', async () => {
		const server = jwksServer([ecJwk('a'), ecJwk('b')]);
		const cache = new JwksCache({ url, fetch: server.fetch, apiKey: 'anon' });
		expect((await cache.key('a'))!.alg).toBe('ES256');
		expect(await cache.key('b')).not.toBeNull();
		expect(server.calls).toEqual([url]);
		expect(vi.mocked(server.fetch).mock.calls[0]![1]).toMatchObject({ headers: { apikey: 'anon' } });
	});

	test('concurrent lookups share one request', async () => {
		const server = jwksServer([ecJwk('a')]);
		const cache = new JwksCache({ url, fetch: server.fetch });
		await Promise.all([cache.key('a'), cache.key('a'), cache.key('zzz')]);
		expect(server.calls).toHaveLength(1);
	});

	test('an unknown kid refetches (a rotated-in key), at most once per cool-down', async () => {
		const server = jwksServer([ecJwk('a')], [ecJwk('a'), ecJwk('new')]);
		let now = 1_000_000;
		vi.spyOn(Date, 'now').mockImplementation(() => now);
		const cache = new JwksCache({ url, fetch: server.fetch, refetchCooldownMs: 10_000 });
		expect(await cache.key('a')).not.toBeNull();
		now += 10_000;
		expect(await cache.key('new')).not.toBeNull();
		expect(server.calls).toHaveLength(2);
		// Made-up kids within the cool-down cost nothing.
		for (let i = 0; i < 5; i++) expect(await cache.key(`made-up-${i}`)).toBeNull();
		expect(server.calls).toHaveLength(2);
		now += 10_000;
		expect(await cache.key('made-up')).toBeNull();
		expect(server.calls).toHaveLength(3);
	});

	test('keys are refetched after their time to live; a failed refetch keeps the old ones', async () => {
		let now = 1_000_000;
		vi.spyOn(Date, 'now').mockImplementation(() => now);
		let fail = false;
		const log = vi.fn();
		const fetch = vi.fn(async () => (fail ? new Response('down', { status: 503 }) : Response.json({ keys: [ecJwk('a')] })));
		const cache = new JwksCache({ url, fetch: fetch as unknown as typeof globalThis.fetch, ttlMs: 60_000, log });
		const first = await cache.key('a');
		now += 61_000;
		fail = true;
		expect(await cache.key('a')).toBe(first);
		expect(fetch).toHaveBeenCalledTimes(2);
		expect(log).toHaveBeenCalledWith(expect.stringContaining('HTTP 503'));
	});

	test('a hung endpoint is given up on after the timeout', async () => {
		const fetch = vi.fn(
			(_url: unknown, init?: RequestInit) =>
				new Promise<Response>((_resolve, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)))
		);
		const log = vi.fn();
		const cache = new JwksCache({ url, fetch: fetch as unknown as typeof globalThis.fetch, timeoutMs: 50, log });
		expect(await cache.key('a')).toBeNull();
		expect(log).toHaveBeenCalledWith(expect.stringMatching(/could not fetch Supabase signing keys/));
	});

	test('only signature keys of the algorithms Supabase uses are kept', async () => {
		const rsa = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }), kid: 'rsa', alg: 'RS256' };
		const p384 = { ...generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }), kid: 'p384' };
		const server = jwksServer([
			rsa,
			ecJwk('ok-no-alg', { alg: undefined, use: undefined }),
			ecJwk('claims-rs256', { alg: 'RS256' }),
			ecJwk('for-encryption', { use: 'enc' }),
			ecJwk('broken', { x: 'AAAA' }),
			{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' },
			p384,
			{ kid: 'nothing' }
		]);
		const cache = new JwksCache({ url, fetch: server.fetch, refetchCooldownMs: 60_000 });
		expect((await cache.key('rsa'))!.alg).toBe('RS256');
		expect((await cache.key('ok-no-alg'))!.alg).toBe('ES256');
		for (const kid of ['claims-rs256', 'for-encryption', 'broken', 'hmac', 'p384', 'nothing']) expect(await cache.key(kid)).toBeNull();
	});
});

describe('Supabase Auth configuration', () => {
	test('on with PUBLIC_SUPABASE_URL and PUBLIC_SUPABASE_ANON_KEY, off otherwise', () => {
		expect(loadConfig({}).supabaseAuth).toBeNull();
		expect(loadConfig({ PUBLIC_SUPABASE_URL: 'https://abc.supabase.co' }).supabaseAuth).toBeNull();
		expect(loadConfig({ PUBLIC_SUPABASE_URL: 'https://abc.supabase.co/', PUBLIC_SUPABASE_ANON_KEY: 'anon' }).supabaseAuth).toEqual({
			url: 'https://abc.supabase.co',
			anonKey: 'anon',
			jwtSecret: null
		});
		expect(loadConfig({ PUBLIC_SUPABASE_URL: 'https://abc.supabase.co', PUBLIC_SUPABASE_PUBLISHABLE_KEY: 'sb_publishable_x' }).supabaseAuth)
			.toMatchObject({ anonKey: 'sb_publishable_x' });
	});

	test('incomplete or malformed settings are reported', () => {
		expect(() => loadConfig({ PUBLIC_SUPABASE_ANON_KEY: 'anon' })).toThrow(/PUBLIC_SUPABASE_ANON_KEY needs PUBLIC_SUPABASE_URL/);
		expect(() => loadConfig({ PUBLIC_SUPABASE_URL: 'abc.supabase.co', PUBLIC_SUPABASE_ANON_KEY: 'anon' })).toThrow(/must start with http/);
		expect(() => loadConfig({ SUPABASE_JWT_SECRET: 'x'.repeat(40) })).toThrow(/SUPABASE_JWT_SECRET needs/);
	});
});
