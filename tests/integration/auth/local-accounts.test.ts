// Local accounts against a real database: the lockout under concurrency, sessions that end on the
// server, and one account per address however it is typed.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { changePassword, MAX_FAILURES, normaliseEmail, SignInError, signIn, signUp, ThrottledError } from '$lib/server/auth/local';
import { CACHE_MS, SessionStore } from '$lib/server/auth/session';
import { consoleActor } from '$lib/server/console/access';
import { setUserRole } from '$lib/server/console/users';
import { ValidationError } from '$lib/server/errors';
import { GET as listGenerations } from '$routes/api/generations/+server';
import type { Services } from '$lib/server/runtime';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { TEST_SESSION_SECRET, testServices } from '../../support/services';
import { sessionCookie, throughHooks, type Route } from '../../support/through-hooks';

let db: TestDatabase;
let services: Services;
let counter = 0;
const address = (name = 'someone') => `${name}-${Date.now().toString(36)}-${counter++}@example.test`;

beforeAll(async () => {
	db = await createTestDatabase({ max: 45 });
	services = await testServices(db);
	await signUp(db.sql, address('first'), 'first-account-password', []); // so no test's account is "the first"
});
afterAll(() => db.drop());

describe('the lockout holds under concurrency', () => {
	test('forty sign-ins at once, the right password last, check at most five passwords', async () => {
		const email = address('target');
		await signUp(db.sql, email, 'the-right-password-1', []);
		const attempts = Array.from({ length: 40 }, (_, i) => (i === 39 ? 'the-right-password-1' : `wrong-guess-${i}`));
		const outcomes = await Promise.all(
			attempts.map((password) =>
				signIn(db.sql, email, password).then(
					() => 'signed in',
					(error: unknown) => (error instanceof ThrottledError ? 'throttled' : error instanceof SignInError ? 'wrong' : String(error))
				)
			)
		);
		const checked = outcomes.filter((outcome) => outcome !== 'throttled');
		expect(checked.length).toBeLessThanOrEqual(MAX_FAILURES);
		expect(outcomes.filter((o) => o === 'throttled').length).toBeGreaterThanOrEqual(40 - MAX_FAILURES);
		expect(outcomes.every((o) => ['signed in', 'throttled', 'wrong'].includes(o))).toBe(true);
		// Locked now, for the right password too, and the lock names how long it lasts.
		const locked = await signIn(db.sql, email, 'the-right-password-1').catch((error: unknown) => error);
		if (!outcomes.includes('signed in')) {
			expect(locked).toBeInstanceOf(ThrottledError);
			expect((locked as ThrottledError).retryAfterSeconds).toBeGreaterThan(800);
		}
	});

	test('the address is one address for the lockout, however it is spelled', async () => {
		const email = address('spelled');
		await signUp(db.sql, email, 'the-right-password-2', []);
		const spellings = [email, email.toUpperCase(), ` ${email} `, email.replace('s', 'ｓ')];
		for (let i = 0; i < MAX_FAILURES; i++) await expect(signIn(db.sql, spellings[i % spellings.length], 'nope-nope-nope')).rejects.toBeInstanceOf(SignInError);
		await expect(signIn(db.sql, email.toUpperCase(), 'the-right-password-2')).rejects.toBeInstanceOf(ThrottledError);
	});

	test('a success clears the count; unknown addresses are locked out as well (no account oracle)', async () => {
		const email = address('clears');
		await signUp(db.sql, email, 'the-right-password-3', []);
		for (let i = 0; i < MAX_FAILURES - 1; i++) await expect(signIn(db.sql, email, 'wrong-one')).rejects.toBeInstanceOf(SignInError);
		await signIn(db.sql, email, 'the-right-password-3');
		for (let i = 0; i < MAX_FAILURES - 1; i++) await expect(signIn(db.sql, email, 'wrong-two')).rejects.toBeInstanceOf(SignInError);
		const nobody = address('nobody');
		for (let i = 0; i < MAX_FAILURES; i++) await expect(signIn(db.sql, nobody, 'whatever-123')).rejects.toBeInstanceOf(SignInError);
		await expect(signIn(db.sql, nobody, 'whatever-123')).rejects.toBeInstanceOf(ThrottledError);
	});
});

describe('sessions end on the server', () => {
	test('sign-out ends the session at once: the same token is no session afterwards', async () => {
		const who = await signedInUser(services);
		expect((await services.sessions.userFromToken(who.token))?.id).toBe(who.id);
		await services.sessions.end(who.user.sessionId);
		expect(await services.sessions.userFromToken(who.token)).toBeNull();
	});

	test('another process stops accepting an ended session within its cache time', async () => {
		const other = new SessionStore(db.sql, TEST_SESSION_SECRET);
		const who = await signedInUser(services);
		expect((await other.userFromToken(who.token))?.id).toBe(who.id); // cached there now
		const endedAt = Date.now();
		await services.sessions.end(who.user.sessionId);
		while ((await other.userFromToken(who.token)) !== null) {
			expect(Date.now() - endedAt).toBeLessThan(CACHE_MS + 1000);
			await new Promise((resolve) => setTimeout(resolve, 50));
		}
	});

	test('"sign out everywhere" and a new password end every other session', async () => {
		const email = address('everywhere');
		const account = await signUp(db.sql, email, 'first-password-12', []);
		const [a, b, c] = await Promise.all([1, 2, 3].map(() => services.sessions.start(account)));
		const current = (await services.sessions.userFromToken(a))!;
		await changePassword(db.sql, account.id, 'first-password-12', 'second-password-34');
		expect(await services.sessions.endAll(account.id, current.sessionId)).toBe(2);
		expect(await services.sessions.userFromToken(b)).toBeNull();
		expect(await services.sessions.userFromToken(c)).toBeNull();
		expect((await services.sessions.userFromToken(a))?.id).toBe(account.id);
		await expect(signIn(db.sql, email, 'first-password-12')).rejects.toBeInstanceOf(SignInError);
		await signIn(db.sql, email, 'second-password-34');
		await expect(changePassword(db.sql, account.id, 'not-the-current-one', 'third-password-56')).rejects.toBeInstanceOf(ValidationError);
		expect(await services.sessions.endAll(account.id)).toBe(1);
		expect(await services.sessions.userFromToken(a)).toBeNull();
	});

	test("a deleted account's still-signed token is refused with 401, not a 500", async () => {
		const send = await throughHooks(services);
		const who = await signedInUser(services);
		expect((await send('/api/generations', listGenerations as Route, { headers: sessionCookie(who.token) })).status).toBe(200);
		await db.sql`delete from auth.users where id = ${who.id}`;
		await new Promise((resolve) => setTimeout(resolve, CACHE_MS + 50)); // this process cached the live session a moment ago
		const answer = await send('/api/generations', listGenerations as Route, { headers: { authorization: `Bearer ${who.token}` } });
		expect(answer.status).toBe(401);
	});

	test('a role given or taken away counts on the next lookup, not at the next sign-in', async () => {
		const admin = await signedInUser(services, { admin: true });
		const colleague = await signedInUser(services);
		expect((await services.sessions.userFromToken(colleague.token))!.isOperator).toBe(false);
		await setUserRole(consoleActor(admin.user), db.sql, colleague.id, 'operator', { localAccounts: true });
		await new Promise((resolve) => setTimeout(resolve, CACHE_MS + 50));
		expect((await services.sessions.userFromToken(colleague.token))!.isOperator).toBe(true);
		await setUserRole(consoleActor(admin.user), db.sql, colleague.id, 'user', { localAccounts: true });
		await new Promise((resolve) => setTimeout(resolve, CACHE_MS + 50));
		expect((await services.sessions.userFromToken(colleague.token))!.isOperator).toBe(false);
		await expect(setUserRole(consoleActor(admin.user), db.sql, admin.id, 'user', { localAccounts: true })).rejects.toThrow(/your own role/);
	});
});

describe('one account per address', () => {
	const base = () => address('ada');
	test.each([
		['full-width letters', (email: string) => email.replace('ada', 'ａｄａ')],
		['upper case', (email: string) => email.toUpperCase()],
		['mathematical letters', (email: string) => email.replace('ada', '𝐚𝐝𝐚')],
		['surrounding spaces', (email: string) => `  ${email}\t`]
	])('%s find the existing account', async (_label, respell) => {
		const email = base();
		await signUp(db.sql, email, 'a-long-password-1', []);
		await expect(signUp(db.sql, respell(email), 'a-long-password-1', [])).rejects.toThrow(/already exists/);
		expect((await signIn(db.sql, respell(email), 'a-long-password-1')).email).toBe(email);
	});

	test('a decomposed é is the same letter as a composed one', async () => {
		const composed = address('jos\u00e9');
		await signUp(db.sql, composed, 'a-long-password-1', []);
		await expect(signUp(db.sql, composed.normalize('NFD'), 'a-long-password-1', [])).rejects.toThrow(/already exists/);
		expect(normaliseEmail(composed.normalize('NFD'))).toBe(composed);
	});

	test.each([
		['a zero-width space', 'ada\u200b@example.test'],
		['a zero-width joiner', 'a\u200dda@example.test'],
		['a right-to-left override', '\u202eada@example.test'],
		['a soft hyphen', 'a\u00adda@example.test'],
		['a byte-order mark', '\ufeffada@example.test'],
		['a non-breaking space inside', 'ada\u00a0x@example.test'],
		['a variation selector', 'ada\ufe0f@example.test'],
		['a control character', 'ada\u0007@example.test'],
		['a private-use character', 'ada\ue000@example.test'],
		['the Hangul filler', 'ada\u3164@example.test']
	])('an address with %s is refused, not stored', async (_label, email) => {
		const before = await db.sql`select count(*)::int as n from auth.users`;
		await expect(signUp(db.sql, email, 'a-long-password-1', [])).rejects.toThrow(/invisible or control characters/);
		expect(await db.sql`select count(*)::int as n from auth.users`).toEqual(before);
	});

	test('forty sign-ups at once for one address in different spellings make one account', async () => {
		const email = address('race');
		const spellings = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? email.toUpperCase() : i % 3 === 1 ? email.replace('r', 'ｒ') : email));
		const results = await Promise.allSettled(spellings.map((spelling) => signUp(db.sql, spelling, 'a-long-password-1', [])));
		expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
		expect(await db.sql`select count(*)::int as n from auth.users where lower(email) = ${email}`).toEqual([{ n: 1 }]);
	});
});
