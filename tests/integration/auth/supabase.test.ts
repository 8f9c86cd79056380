// Supabase mode, through the app's hooks: @supabase/ssr's session cookie and Bearer tokens are
// accepted only when their token verifies against the project's JWKS (served by a local server).
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { stringFromBase64URL } from '@supabase/ssr';
import { signAccessToken } from '$lib/server/auth/tokens';
import { SupabaseAuth } from '$lib/server/auth/supabase';
import type { Services } from '$lib/server/runtime';
import { actions as signInActions } from '$routes/auth/signin/+page.server';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
import { newSigningKey, signJwt, startFakeSupabaseAuth, type FakeSupabaseAuth, type FakeUser } from '../../support/fake-supabase-auth';
import { testServices } from '../../support/services';
import { appHandle, Browser, defaultAction, ssrSessionCookies } from '../../support/supabase-auth-flows';

let db: TestDatabase;
let fake: FakeSupabaseAuth;
let services: Services;
let auth: SupabaseAuth;
let handle: Awaited<ReturnType<typeof appHandle>>;
let alice: FakeUser;

beforeAll(async () => {
	db = await createTestDatabase();
	fake = await startFakeSupabaseAuth();
	services = await testServices(db, {}, { PUBLIC_SUPABASE_URL: fake.url, PUBLIC_SUPABASE_ANON_KEY: fake.anonKey, ADMIN_EMAILS: 'boss@example.test' });
	// No cool-down between refetches, so each unknown kid shows its one refetch.
	auth = new SupabaseAuth({ ...services.config.supabaseAuth!, adminEmails: services.config.adminEmails, sql: db.sql, jwksRefetchCooldownMs: 0 });
	services.supabaseAuth = auth;
	handle = await appHandle(services);
	const { id, email } = await createUser(db.sql);
	alice = fake.addUser({ id, email });
});
afterAll(async () => {
	await fake.close();
	await db.drop();
});
beforeEach(() => {
	fake.requests.length = 0;
});

const whoAmI = () => null;
const signIn = defaultAction(signInActions);
const identify = async (headers: Record<string, string> = {}, cookies: Array<{ name: string; value: string }> = []) => {
	const browser = new Browser(handle);
	browser.setCookies(cookies);
	return (await browser.send('/', whoAmI, { headers })).user;
};
const asBearer = (token: string) => identify({ authorization: `Bearer ${token}` });
const asCookie = (token: string, session: Record<string, unknown> = {}) =>
	identify({}, ssrSessionCookies(auth.storageKey, { ...fake.session(alice), access_token: token, ...session }));

test("the cookie is @supabase/ssr's: written by its own sign-in, read back by the server", async () => {
	const browser = new Browser(handle);
	const answer = await browser.send('/auth/signin', signIn, {
		form: { email: alice.email, password: alice.password, redirectTo: '/history' }
	});
	expect(answer).toMatchObject({ status: 303, location: '/history' });
	expect(fake.requests).toContain('POST /auth/v1/token?grant_type=password');
	// supabase-js's storage key: "sb-" + the first label of the project's host name + "-auth-token".
	expect(auth.storageKey).toBe('sb-127-auth-token');
	expect(browser.cookieNames('sb-')).toEqual(['sb-127-auth-token']);
	const raw = browser.jar.get('sb-127-auth-token')!;
	expect(raw.startsWith('base64-')).toBe(true);
	const session = JSON.parse(stringFromBase64URL(raw.slice('base64-'.length)));
	expect(session).toMatchObject({ token_type: 'bearer', refresh_token: expect.any(String), user: { id: alice.id } });
	const written = answer.setCookies.find((c) => c.name === 'sb-127-auth-token')!;
	expect(written.options).toMatchObject({ httpOnly: true, sameSite: 'lax', path: '/', maxAge: 400 * 24 * 3600 });

	const next = await browser.send('/generate', whoAmI);
	expect(next.user).toEqual({
		id: alice.id,
		email: alice.email,
		isAdmin: false,
		isOperator: false,
		sessionId: null,
		claims: expect.objectContaining({ sub: alice.id, role: 'authenticated', email: alice.email, aud: 'authenticated', app_metadata: alice.app_metadata })
	});
	// The server verified the token with the JWKS; it never asked Supabase who the user is.
	expect(fake.requests.filter((r) => r.includes('/user'))).toEqual([]);
});

test('a large session is chunked into .0, .1 cookies by @supabase/ssr and still accepted', async () => {
	const { id, email } = await createUser(db.sql);
	const big = fake.addUser({ id, email, user_metadata: { bio: 'x'.repeat(6000) } });
	const browser = new Browser(handle);
	await browser.send('/auth/signin', signIn, { form: { email, password: big.password } });
	const names = browser.cookieNames('sb-');
	expect(names.length).toBeGreaterThan(1);
	expect(names).toEqual(names.map((_, i) => `sb-127-auth-token.${i}`).sort());
	expect((await browser.send('/', whoAmI)).user).toMatchObject({ id, email });
});

test('an API client sends the access token as a Bearer token; the same token in the cookie works too', async () => {
	expect(await asBearer(fake.accessToken(alice))).toMatchObject({ id: alice.id, email: alice.email });
	expect(await asCookie(fake.accessToken(alice))).toMatchObject({ id: alice.id, email: alice.email });
	expect(await asBearer('not-a-token')).toBeNull();
});

describe('refused, whether sent as the cookie or as a Bearer token', () => {
	const other = newSigningKey('ES256');
	const tamper = (token: string, at: number) => {
		const [h, p, s] = token.split('.') as [string, string, string];
		const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
		return at === 1 ? `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: randomUUID() })).toString('base64url')}.${s}` : `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
	};
	const hour = 3600;
	const now = () => Math.floor(Date.now() / 1000);
	const cases: Array<[string, () => string]> = [
		['forged: signed by another key under the real kid', () => signJwt(fakeClaims(), { ...other, kid: fake.key.kid })],
		['expired', () => fake.accessToken(alice, { exp: now() - 1, iat: now() - hour })],
		['not yet valid (nbf)', () => fake.accessToken(alice, { nbf: now() + hour })],
		['from another issuer', () => fake.accessToken(alice, { iss: 'https://other-project.supabase.co/auth/v1' })],
		['for another audience', () => fake.accessToken(alice, { aud: 'some-other-api' })],
		['an anon key (role anon)', () => fake.accessToken(alice, { role: 'anon' })],
		['a service role key', () => fake.accessToken(alice, { role: 'service_role' })],
		['a payload edited after signing', () => tamper(fake.accessToken(alice), 1)],
		['a tampered signature', () => tamper(fake.accessToken(alice), 2)],
		['alg none', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(fakeClaims())}.`],
		['alg none with a signature', () => `${b64({ alg: 'none', typ: 'JWT', kid: fake.key.kid })}.${b64(fakeClaims())}.c2ln`],
		['HS256 signed with the public anon key (no JWT secret configured)', () => hs256(fakeClaims(), fake.anonKey)],
		["Picture's own local session token", () => signAccessToken({ sub: alice.id, sid: '00000000-0000-4000-8000-000000000001' }, services.sessionSecret, hour)],
		['a key that is not an ES256 key, under the real kid', () => signJwt(fakeClaims(), { ...newSigningKey('RS256'), kid: fake.key.kid })]
	];
	test.each(cases)('%s', async (_name, make) => {
		const token = make();
		expect(await asBearer(token)).toBeNull();
		expect(await asCookie(token)).toBeNull();
	});

	test('an unknown kid, after exactly one refetch of the JWKS per attempt', async () => {
		const token = signJwt(fakeClaims(), other);
		const jwksFetches = () => fake.requests.filter((r) => r.endsWith('/jwks.json')).length;
		expect(await asBearer(token)).toBeNull();
		expect(jwksFetches()).toBe(1);
	});
});

test("a rotated-in key is fetched on first sight of its kid; the old key's tokens stay valid", async () => {
	const before = fake.accessToken(alice);
	fake.rotate();
	const after = fake.accessToken(alice);
	expect(JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid).not.toBe(fake.key.kid);
	expect(await asBearer(after)).toMatchObject({ id: alice.id });
	expect(fake.requests.filter((r) => r.endsWith('/jwks.json'))).toHaveLength(1);
	expect(await asBearer(before)).toMatchObject({ id: alice.id });
});

test('an expiring session in the cookie is refreshed through Supabase and the new cookie written', async () => {
	const browser = new Browser(handle);
	const stale = fake.session(alice, { access_token: fake.accessToken(alice, { exp: Math.floor(Date.now() / 1000) - 5 }), expires_at: Math.floor(Date.now() / 1000) - 5 });
	browser.setCookies(ssrSessionCookies(auth.storageKey, stale));
	const before = browser.jar.get(auth.storageKey);
	expect((await browser.send('/', whoAmI)).user).toMatchObject({ id: alice.id });
	expect(fake.requests).toContain('POST /auth/v1/token?grant_type=refresh_token');
	expect(browser.jar.get(auth.storageKey)).not.toBe(before);

	// A refresh token Supabase does not know signs the browser out and clears its cookies.
	const dead = { ...stale, refresh_token: 'revoked' };
	browser.setCookies(ssrSessionCookies(auth.storageKey, dead));
	expect((await browser.send('/', whoAmI)).user).toBeNull();
	expect(browser.cookieNames('sb-')).toEqual([]);
});

test("a cookie whose expires_at lies is still judged by the token's own exp", async () => {
	const expired = fake.accessToken(alice, { exp: Math.floor(Date.now() / 1000) - 60 });
	expect(await asCookie(expired, { expires_at: Math.floor(Date.now() / 1000) + 3600 })).toBeNull();
	expect(fake.requests.filter((r) => r.includes('refresh_token'))).toEqual([]);
});

test('administrators come from app_metadata or ADMIN_EMAILS, never from user_metadata', async () => {
	const byRole = fake.addUser({ email: 'ops@example.test', app_metadata: { provider: 'email', roles: ['admin'] } });
	const byEmail = fake.addUser({ email: 'boss@example.test' });
	const claimsSelf = fake.addUser({ email: 'sneaky@example.test', user_metadata: { roles: ['admin'], role: 'admin' } });
	expect((await asBearer(fake.accessToken(byRole)))!.isAdmin).toBe(true);
	expect((await asBearer(fake.accessToken(byEmail)))!.isAdmin).toBe(true);
	expect((await asBearer(fake.accessToken(claimsSelf)))!.isAdmin).toBe(false);
	expect((await asBearer(fake.accessToken(alice)))!.isAdmin).toBe(false);
});

test('legacy HS256 projects: accepted with SUPABASE_JWT_SECRET, and only with it', async () => {
	const secret = 'legacy-project-jwt-secret-of-32-characters-or-more';
	const legacy = new SupabaseAuth({ url: fake.url, anonKey: fake.anonKey, jwtSecret: secret });
	expect(await legacy.userFromToken(hs256(fakeClaims(), secret))).toMatchObject({ id: alice.id });
	expect(await legacy.userFromToken(hs256(fakeClaims(), `${secret}-not`))).toBeNull();
	expect(await auth.userFromToken(hs256(fakeClaims(), secret))).toBeNull();
});

function b64(value: unknown) {
	return Buffer.from(JSON.stringify(value)).toString('base64url');
}
function fakeClaims() {
	const now = Math.floor(Date.now() / 1000);
	return { iss: fake.issuer, sub: alice.id, aud: 'authenticated', role: 'authenticated', email: alice.email, exp: now + 600, iat: now, app_metadata: {} };
}
function hs256(claims: Record<string, unknown>, secret: string) {
	const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
	return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
