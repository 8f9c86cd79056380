// Accounts as an attacker meets them over HTTP against the built app: a copied cookie dies with
// sign-out, forty simultaneous guesses check at most five passwords, redirects stay on the site,
// non-form bodies are refused, and one address is one account however it is typed.
import { expect, test } from '@playwright/test';
import { screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

const origin = () => `http://127.0.0.1:${process.env.PICTURE_E2E_PORT}`;
const PASSWORD = 'a-good-long-password';

function post(path: string, fields: Record<string, string>, cookie?: string) {
	return fetch(`${origin()}${path}`, {
		method: 'POST',
		redirect: 'manual',
		headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', origin: origin(), ...(cookie ? { cookie } : {}) },
		body: new URLSearchParams(fields)
	});
}
const cookieOf = (response: Response) => response.headers.getSetCookie().find((c) => c.startsWith('picture_session='))?.split(';')[0] ?? null;

test('a copied session cookie stops working the moment its session signs out', async () => {
	const email = uniqueEmail('copied');
	const cookie = cookieOf(await post('/auth/signup', { email, password: PASSWORD }))!;
	const copy = cookie; // what an attacker lifted from the browser
	expect((await fetch(`${origin()}/api/generations`, { headers: { cookie: copy } })).status).toBe(200);
	expect((await post('/auth/signout', {}, cookie)).status).toBe(303);
	expect((await fetch(`${origin()}/api/generations`, { headers: { cookie: copy } })).status).toBe(401);
	// As a Bearer token too.
	const token = copy.split('=')[1]!;
	expect((await fetch(`${origin()}/api/generations`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
});

test('"sign out everywhere" on the account page ends every session of the account', async ({ page }) => {
	const email = uniqueEmail('everywhere');
	await signUp(page, email, PASSWORD);
	const other = cookieOf(await post('/auth/signin', { email, password: PASSWORD }))!;
	expect((await fetch(`${origin()}/api/generations`, { headers: { cookie: other } })).status).toBe(200);
	await page.goto('/account');
	await expect(page.getByTestId('sessions').getByRole('listitem')).toHaveCount(2);
	await screenshotAtWidths(page, 'account');
	await page.getByRole('button', { name: 'Sign out everywhere' }).click();
	await page.waitForURL(/\/auth\/signin/);
	expect((await fetch(`${origin()}/api/generations`, { headers: { cookie: other } })).status).toBe(401);
});

test('forty sign-ins at once for one address check at most five passwords', async () => {
	const email = uniqueEmail('lockout');
	expect((await post('/auth/signup', { email, password: PASSWORD })).status).toBe(303);
	const guesses = Array.from({ length: 40 }, (_, i) => (i === 39 ? PASSWORD : `wrong-password-${i}`));
	const statuses = await Promise.all(guesses.map((password) => post('/auth/signin', { email, password }).then((r) => r.status)));
	const checked = statuses.filter((status) => status !== 429);
	expect(checked.length).toBeLessThanOrEqual(5);
	expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(35);
	expect(statuses.every((status) => [303, 400, 429].includes(status))).toBe(true);
});

test('sign-in redirects never leave the site, and hostile ones are no 500', async () => {
	const email = uniqueEmail('redirect');
	expect((await post('/auth/signup', { email, password: PASSWORD })).status).toBe(303);
	for (const redirectTo of ['/\t/evil.example/x', '/\r\nSet-Cookie: evil=1', '//evil.example', '/\\evil.example', '/\uff0e\uff0e/evil', 'https://evil.example']) {
		const response = await post('/auth/signin', { email, password: PASSWORD, redirectTo });
		expect(response.status, JSON.stringify(redirectTo)).toBe(303);
		expect(response.headers.get('location'), JSON.stringify(redirectTo)).toBe('/generate');
		expect(response.headers.getSetCookie().some((c) => c.startsWith('evil='))).toBe(false);
	}
	// The sign-in page's own redirect (a signed-in visitor) follows the same rule.
	const cookie = cookieOf(await post('/auth/signin', { email, password: PASSWORD }))!;
	const visit = await fetch(`${origin()}/auth/signin?redirectTo=%2F%09%2Fevil.example`, { redirect: 'manual', headers: { cookie } });
	expect(visit.headers.get('location')).toBe('/generate');
});

test('a form action given anything but a form answers 415, with the site\'s own Origin', async () => {
	const cookie = cookieOf(await post('/auth/signup', { email: uniqueEmail('plain-text'), password: PASSWORD }))!;
	for (const path of ['/auth/signin', '/auth/signup', '/generate?/generate']) {
		for (const type of ['text/plain', 'application/json']) {
			const headers = { 'content-type': type, origin: origin(), ...(path.startsWith('/generate') ? { cookie } : {}) };
			const response = await fetch(`${origin()}${path}`, { method: 'POST', redirect: 'manual', headers, body: 'email=a@b.test&password=x' });
			expect(response.status, `${path} ${type}`).toBe(415);
			expect(await response.text()).toMatch(/Form actions take/);
		}
	}
});

test('one address is one account, however it is typed', async () => {
	const local = `ada${Date.now().toString(36)}`;
	expect((await post('/auth/signup', { email: `${local}@example.test`, password: PASSWORD })).status).toBe(303);
	for (const spelling of [`${local.replace('a', 'ａ')}@example.test`, `${local.toUpperCase()}@EXAMPLE.TEST`, `${local}\u200b@example.test`]) {
		const response = await post('/auth/signup', { email: spelling, password: PASSWORD });
		expect(response.status, spelling).toBe(400);
	}
	expect((await post('/auth/signin', { email: `${local.replace('a', 'ａ')}@example.test`, password: PASSWORD })).status).toBe(303);
});
