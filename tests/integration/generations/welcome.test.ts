// The notice after sign-up, through the app's real hooks and SvelteKit's own cookies: the first
// account learns it is the administrator, everyone learns their limits (read from the database, not
// written into the page), and the notice is shown once.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELCOME_COOKIE } from '$lib/server/auth/welcome';
import type { Services } from '$lib/server/runtime';
import { load as layoutLoad } from '$routes/+layout.server';
import { actions as signUpActions } from '$routes/auth/signup/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { testServices } from '../../support/services';
import { appHandle, Browser, defaultAction } from '../../support/supabase-auth-flows';

const NAMED_ADMIN = 'named-admin@example.test';
let db: TestDatabase;
let services: Services;
let handle: Awaited<ReturnType<typeof appHandle>>;
let counter = 0;

beforeAll(async () => {
	db = await createTestDatabase(); // a fresh clone of the template: no accounts yet
	services = await testServices(db, {}, { ADMIN_EMAILS: NAMED_ADMIN });
	handle = await appHandle(services);
});
afterAll(() => db.drop());

const layout = (event: unknown) => layoutLoad(event as never);
type LayoutData = { user: { email: string } | null; welcome: unknown };

async function signUpAs(email = `someone-${counter++}@example.test`, redirectTo?: string) {
	const browser = new Browser(handle);
	const form: Record<string, string> = { email, password: 'a-long-enough-password', ...(redirectTo ? { redirectTo } : {}) };
	const answer = await browser.send('/auth/signup', defaultAction(signUpActions), { form });
	return { browser, answer, email };
}

test('the first account is told it is the administrator, with its limits, once', async () => {
	const { browser, answer } = await signUpAs('first@example.test');
	expect(answer).toMatchObject({ status: 303, location: '/generate' });
	const flash = answer.setCookies.find((cookie) => cookie.name === WELCOME_COOKIE)!;
	expect(flash).toMatchObject({ value: 'first', options: { httpOnly: true, path: '/', maxAge: 60 } });

	const landing = await browser.send('/generate', layout);
	expect((landing.body as LayoutData).welcome).toEqual({ administrator: 'first', hourlyLimit: 20, dailyLimit: 100 });
	expect(landing.setCookies.find((cookie) => cookie.name === WELCOME_COOKIE)).toMatchObject({ value: '', options: { maxAge: 0 } });

	const reload = await browser.send('/generate', layout);
	expect((reload.body as LayoutData).welcome).toBeNull();
});

test('later accounts learn only their limits, wherever sign-up sends them, as the database has them', async () => {
	const { browser, answer, email } = await signUpAs(undefined, '/history');
	expect(answer).toMatchObject({ status: 303, location: '/history' });
	// The limits are read, not written into the page: an account whose limits differ sees its own.
	await db.sql`
		insert into user_limits (user_id, hourly_limit, daily_limit)
		select id, 7, 30 from auth.users where email = ${email}`;
	const landing = await browser.send('/history', layout);
	expect((landing.body as LayoutData).user!.email).toBe(email);
	expect((landing.body as LayoutData).welcome).toEqual({ administrator: null, hourlyLimit: 7, dailyLimit: 30 });
});

test('an administrator by ADMIN_EMAILS is told so too', async () => {
	const { browser } = await signUpAs(NAMED_ADMIN);
	const landing = await browser.send('/generate', layout);
	expect((landing.body as LayoutData).welcome).toMatchObject({ administrator: 'named' });
});

test('the cookie cannot make anyone an administrator: that comes from the session', async () => {
	const { browser } = await signUpAs();
	browser.setCookies([{ name: WELCOME_COOKIE, value: 'first' }]); // forged, or left from someone else
	const landing = await browser.send('/generate', layout);
	expect((landing.body as LayoutData).welcome).toMatchObject({ administrator: null });

	const visitor = new Browser(handle);
	visitor.setCookies([{ name: WELCOME_COOKIE, value: 'first' }]);
	const page = await visitor.send('/', layout);
	expect((page.body as LayoutData).welcome).toBeNull();
	expect(visitor.cookieNames(WELCOME_COOKIE)).toEqual([]); // and cleared all the same
});

test('a refused sign-up sets no notice', async () => {
	const { answer } = await signUpAs('first@example.test'); // taken
	expect(answer.status).toBe(400);
	expect(answer.setCookies.find((cookie) => cookie.name === WELCOME_COOKIE)).toBeUndefined();
});
