// Supabase Auth mode against a local stand-in for the project's Auth server (its JWKS and token
// endpoint): a real sign-in sets @supabase/ssr's cookie; forged and expired sessions are refused.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { newSigningKey, startFakeSupabaseAuth, type FakeSupabaseAuth } from '../../support/fake-supabase-auth';
import { startApp, type AppProcess } from '../../support/app-process';

let auth: FakeSupabaseAuth;
let app: AppProcess;
let dataDir: string;

test.beforeAll(async () => {
	auth = await startFakeSupabaseAuth();
	dataDir = await mkdtemp(path.join(tmpdir(), 'picture-supabase-'));
	await chmod(dataDir, 0o755);
	app = await startApp(
		{ DATA_DIR: dataDir, PUBLIC_SUPABASE_URL: auth.url, PUBLIC_SUPABASE_ANON_KEY: auth.anonKey },
		{ embedded: !process.env.E2E_DATABASE_URL }
	);
});
test.afterAll(async () => {
	await app?.stop();
	await auth?.close();
	await rm(dataDir, { recursive: true, force: true });
});

/** @supabase/ssr's cookie: "base64-" + base64url(JSON of the session), named sb-<ref>-auth-token. */
function ssrCookie(session: unknown) {
	const ref = new URL(auth.url).hostname.split('.')[0];
	return { name: `sb-${ref}-auth-token`, value: `base64-${Buffer.from(JSON.stringify(session)).toString('base64url')}`, url: app.origin };
}

test('signing in through Supabase Auth sets its session cookie and the app knows the user', async ({ page }) => {
	const user = auth.addUser({ email: 'supa@picture.test', password: 'supabase-password-1' });
	await page.goto(`${app.origin}/auth/signin`);
	await page.getByLabel('Email').fill(user.email);
	await page.getByLabel('Password').fill(user.password);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await expect(page.getByTestId('signed-in-as')).toHaveText(user.email);
	const cookies = await page.context().cookies(app.origin);
	expect(cookies.some((c) => /^sb-.+-auth-token(\.\d+)?$/.test(c.name))).toBe(true);
	expect(cookies.some((c) => c.name === 'picture_session')).toBe(false);
	const list = await page.request.get(`${app.origin}/api/generations`);
	expect(list.status()).toBe(200);
});

test('a session cookie in @supabase/ssr format is accepted only when signed by the project keys and current', async ({ browser }) => {
	const user = auth.addUser({ email: 'cookie@picture.test', password: 'supabase-password-2' });
	const visit = async (session: unknown) => {
		const context = await browser.newContext();
		await context.addCookies([ssrCookie(session)]);
		const page = await context.newPage();
		await page.goto(`${app.origin}/history`);
		const url = page.url();
		await context.close();
		return new URL(url).pathname;
	};
	expect(await visit(auth.session(user))).toBe('/history');
	const forged = auth.session(user, { access_token: auth.accessToken(user, {}, newSigningKey('ES256', auth.key.kid)) });
	expect(await visit(forged)).toBe('/auth/signin');
	// Expired an hour ago, and its refresh token unknown: nothing to renew it with.
	const expired = auth.session(user, {
		access_token: auth.accessToken(user, { exp: Math.floor(Date.now() / 1000) - 3600 }),
		expires_at: Math.floor(Date.now() / 1000) - 3600,
		refresh_token: 'not-a-refresh-token'
	});
	expect(await visit(expired)).toBe('/auth/signin');
});

test('API clients may send the Supabase access token as a Bearer token', async ({ request }) => {
	const user = auth.addUser({ email: 'bearer@picture.test', password: 'supabase-password-3' });
	const ok = await request.get(`${app.origin}/api/generations`, { headers: { authorization: `Bearer ${auth.accessToken(user)}` } });
	expect(ok.status()).toBe(200);
	const forged = await request.get(`${app.origin}/api/generations`, {
		headers: { authorization: `Bearer ${auth.accessToken(user, {}, newSigningKey('ES256'))}` }
	});
	expect(forged.status()).toBe(401);
});
