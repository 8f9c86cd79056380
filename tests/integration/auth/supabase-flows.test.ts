// Supabase mode end to end through the app's hooks, actions and endpoints: sign-up (with and
// without email confirmation), sign-out, and the generations API scoped to the verified user.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SupabaseAuth } from '$lib/server/auth/supabase';
import type { Services } from '$lib/server/runtime';
import { GET as listGenerations, POST as startGeneration } from '$routes/api/generations/+server';
import { actions as signInActions, load as signInLoad } from '$routes/auth/signin/+page.server';
import { actions as signOutActions } from '$routes/auth/signout/+page.server';
import { actions as signUpActions } from '$routes/auth/signup/+page.server';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
import { startFakeSupabaseAuth, type FakeSupabaseAuth } from '../../support/fake-supabase-auth';
import { testServices } from '../../support/services';
import { appHandle, Browser, defaultAction } from '../../support/supabase-auth-flows';

let db: TestDatabase;
let handle: Awaited<ReturnType<typeof appHandle>>;
const fakes: FakeSupabaseAuth[] = [];

/** Services in Supabase mode against a fresh fake project (autoConfirm: Supabase's "Confirm email" off). */
async function supabaseMode(autoConfirm: boolean) {
	const fake = await startFakeSupabaseAuth({ autoConfirm });
	fakes.push(fake);
	const services: Services = await testServices(db, {}, { PUBLIC_SUPABASE_URL: fake.url, PUBLIC_SUPABASE_ANON_KEY: fake.anonKey });
	services.supabaseAuth = new SupabaseAuth({ ...services.config.supabaseAuth!, sql: db.sql });
	handle = await appHandle(services);
	return { fake, services, auth: services.supabaseAuth };
}

beforeAll(async () => {
	db = await createTestDatabase();
});
afterAll(async () => {
	await Promise.all(fakes.map((fake) => fake.close()));
	await db.drop();
});

const action = defaultAction;
const none = () => null;
const prompt = { prompt: 'a red kite over the dunes', model_id: 'local/preview', width: 512, height: 512 };

describe('sign-up', () => {
	test('without email confirmation: signed in at once, and the user recorded in auth.users', async () => {
		const { fake, auth } = await supabaseMode(true);
		const browser = new Browser(handle);
		const email = `new-${Date.now()}@example.test`;
		const answer = await browser.send('/auth/signup', action(signUpActions), { form: { email, password: 'a-long-enough-password' } });
		expect(answer).toMatchObject({ status: 303, location: '/generate' });
		expect(fake.requests.filter((r) => r.startsWith('POST /auth/v1/signup'))).toHaveLength(1);
		expect(browser.cookieNames(auth.storageKey)).toEqual([auth.storageKey]);
		const me = (await browser.send('/', none)).user!;
		expect(me.email).toBe(email);
		// A plain Postgres has no Supabase-managed users: the row the generations' foreign keys need is mirrored.
		const [row] = await db.sql`select email from auth.users where id = ${me.id}`;
		expect(row).toEqual({ email });
		const started = await browser.send('/api/generations', (e) => startGeneration(e as never), { json: prompt });
		expect(started.status).toBe(201);
	});

	test('with email confirmation: told to check the inbox; the link signs in (PKCE) and returns', async () => {
		const { fake, auth } = await supabaseMode(false);
		const browser = new Browser(handle);
		const email = `confirm-${Date.now()}@example.test`;
		const answer = await browser.send('/auth/signup', action(signUpActions), {
			form: { email, password: 'a-long-enough-password', redirectTo: '/history' }
		});
		expect(answer.status).toBe(200);
		expect(answer.body).toMatchObject({ notice: expect.stringContaining(`link we sent to ${email}`) });
		// No session yet; only PKCE's code verifier, which @supabase/ssr keeps in a cookie of its own.
		expect(browser.cookieNames('sb-')).toEqual([`${auth.storageKey}-code-verifier`]);
		expect((await browser.send('/', none)).user).toBeNull();

		// The emailed link comes back to sign-in, keeping where the user was going.
		const signup = fake.requests.find((r) => r.startsWith('POST /auth/v1/signup'))!;
		expect(new URL(signup.split(' ')[1]!, 'http://x').searchParams.get('redirect_to')).toBe(`${browser.origin}/auth/signin?redirectTo=%2Fhistory`);
		const code = fake.confirmationCode(email)!;
		const back = await browser.send(`/auth/signin?code=${code}&redirectTo=%2Fhistory`, (e) => signInLoad(e as never));
		expect(back).toMatchObject({ status: 303, location: '/history' });
		expect(fake.requests).toContain('POST /auth/v1/token?grant_type=pkce');
		expect(browser.cookieNames('sb-')).toEqual([auth.storageKey]);
		expect((await browser.send('/', none)).user).toMatchObject({ email });

		// A used or made-up code shows a message instead of signing anyone in.
		const stranger = new Browser(handle);
		const reused = (await stranger.send(`/auth/signin?code=${code}`, (e) => signInLoad(e as never))) as { body: { linkError?: string } };
		expect(reused.body.linkError).toMatch(/expired or was already used/);
	});

	test('a short password or a taken address is refused with the same messages as local accounts', async () => {
		const { fake } = await supabaseMode(true);
		const browser = new Browser(handle);
		const short = await browser.send('/auth/signup', action(signUpActions), { form: { email: 'x@example.test', password: 'short' } });
		expect(short).toMatchObject({ status: 400, body: { field: 'password', error: 'Use at least 10 characters for your password' } });
		fake.addUser({ email: 'taken@example.test' });
		const taken = await browser.send('/auth/signup', action(signUpActions), { form: { email: 'taken@example.test', password: 'a-long-enough-password' } });
		expect(taken).toMatchObject({ status: 400, body: { field: 'email', error: expect.stringContaining('already exists') } });
	});
});

test('sign-in errors: a wrong password, and Supabase Auth out of reach', async () => {
	const { fake } = await supabaseMode(true);
	const user = fake.addUser({ email: 'someone@example.test' });
	const browser = new Browser(handle);
	const wrong = await browser.send('/auth/signin', action(signInActions), { form: { email: user.email, password: 'not-the-password' } });
	expect(wrong).toMatchObject({ status: 400, body: { error: 'That email and password do not match an account' } });
	expect(browser.cookieNames('sb-')).toEqual([]);

	await fake.close();
	const down = await browser.send('/auth/signin', action(signInActions), { form: { email: user.email, password: user.password } });
	expect(down).toMatchObject({ status: 503, body: { error: expect.stringContaining('could not be reached') } });
});

test('sign-out ends the session at Supabase and removes every session cookie', async () => {
	const { fake, auth } = await supabaseMode(true);
	const user = fake.addUser({ email: 'leaving@example.test', user_metadata: { bio: 'y'.repeat(5000) } });
	const browser = new Browser(handle);
	await browser.send('/auth/signin', action(signInActions), { form: { email: user.email, password: user.password } });
	expect(browser.cookieNames(auth.storageKey).length).toBeGreaterThan(1); // chunked
	const out = await browser.send('/auth/signout', action(signOutActions), { form: {} });
	expect(out).toMatchObject({ status: 303, location: '/auth/signin' });
	expect(fake.requests).toContain('POST /auth/v1/logout?scope=local');
	expect(browser.cookieNames('sb-')).toEqual([]);
	expect((await browser.send('/', none)).user).toBeNull();
});

test("GET /api/generations with a Supabase session returns that user's generations only", async () => {
	const { fake } = await supabaseMode(true);
	// On Supabase the rows exist in auth.users already; on this test Postgres they are made here.
	const [a, b] = await Promise.all([createUser(db.sql), createUser(db.sql)]);
	const alice = fake.addUser({ id: a.id, email: a.email });
	const bob = fake.addUser({ id: b.id, email: b.email });
	const aliceBrowser = new Browser(handle);
	await aliceBrowser.send('/auth/signin', action(signInActions), { form: { email: alice.email, password: alice.password } });
	const bobApi = { authorization: `Bearer ${fake.accessToken(bob)}` };
	const anonymous = new Browser(handle);

	const mine = await aliceBrowser.send('/api/generations', (e) => startGeneration(e as never), { json: prompt });
	const theirs = await anonymous.send('/api/generations', (e) => startGeneration(e as never), { json: { ...prompt, prompt: 'bob' }, headers: bobApi });
	expect([mine.status, theirs.status]).toEqual([201, 201]);

	const list = await aliceBrowser.send('/api/generations', (e) => listGenerations(e as never));
	expect(list.status).toBe(200);
	const items = (list.body as { items: Array<{ id: string; user_id?: string; prompt: string }> }).items;
	expect(items.map((item) => item.id)).toEqual([(mine.body as { generation_id: string }).generation_id]);
	const bobs = await anonymous.send('/api/generations', (e) => listGenerations(e as never), { headers: bobApi });
	expect((bobs.body as { items: Array<{ prompt: string }> }).items.map((item) => item.prompt)).toEqual(['bob']);
	expect((await anonymous.send('/api/generations', (e) => listGenerations(e as never))).status).toBe(401);
});
