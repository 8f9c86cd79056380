// The built app's security, from outside: headers on every kind of response, pages that still
// work under the CSP, CSRF refusal of foreign form posts, the 1 MB body limit, and secrets that
// never reach a log line, an error page or a JSON answer.
import { readFile, rm } from 'node:fs/promises';
import { mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test, type APIResponse, type Page } from '@playwright/test';
import { startFakeReplicate } from '../../support/fake-replicate';
import { startApp } from '../../support/app-process';
import { fillGenerateForm, startViaApi, waitForStatus } from '../../support/browser-generate';
import { ADMIN, screenshotAtWidths, signIn, signUp, uniqueEmail } from '../../support/browser';

function expectSecurityHeaders(response: APIResponse, kind: string) {
	const headers = response.headers();
	const csp = headers['content-security-policy'] ?? '';
	expect(csp, kind).toMatch(/frame-ancestors 'none'/);
	expect(csp, kind).not.toMatch(/unsafe-eval/);
	const scriptSrc = /(?:^|;)\s*script-src ([^;]*)/.exec(csp)?.[1] ?? /(?:^|;)\s*default-src ([^;]*)/.exec(csp)?.[1] ?? '';
	expect(scriptSrc, kind).not.toMatch(/unsafe-inline/);
	expect(headers['x-content-type-options'], kind).toBe('nosniff');
	expect(headers['referrer-policy'], kind).toBe('strict-origin-when-cross-origin');
	expect(headers['x-frame-options'], kind).toBe('DENY');
}

test('every kind of response carries the security headers', async ({ page }) => {
	await signUp(page, uniqueEmail('headers'));
	const id = await startViaApi(page.request, { prompt: 'headers on a completed picture' });
	await waitForStatus(page.request, id, ['completed']);
	const anonymous = await page.context().browser()!.newContext();
	try {
		const kinds: Array<[string, () => Promise<APIResponse>, number, RegExp]> = [
			['page', () => page.request.get('/generate'), 200, /text\/html/],
			['API JSON', () => page.request.get('/api/generations'), 200, /application\/json/],
			['SSE', () => page.request.get(`/api/generations/${id}/events`), 200, /text\/event-stream/],
			['image', () => page.request.get(`/api/generations/${id}/image`), 200, /image\//],
			['error page', () => page.request.get('/no-such-page'), 404, /text\/html/],
			['API error', () => anonymous.request.get('/api/generations'), 401, /application\/json/],
			['redirect', () => anonymous.request.get('/generate', { maxRedirects: 0 }), 303, /.*/],
			['refused console page', () => page.request.get('/admin'), 403, /text\/html/]
		];
		for (const [kind, fetch, status, type] of kinds) {
			const response = await fetch();
			expect(response.status(), kind).toBe(status);
			expect(response.headers()['content-type'] ?? '', kind).toMatch(type);
			expectSecurityHeaders(response, kind);
		}
		// Pages carry a nonce for SvelteKit's own start-up script, and that script is the only inline one.
		const html = await (await page.request.get('/generate')).text();
		const csp = (await page.request.get('/generate')).headers()['content-security-policy']!;
		expect(csp).toMatch(/script-src 'self' 'nonce-[^']+'/);
		expect(html).toMatch(/<script nonce="[^"]+">/);
	} finally {
		await anonymous.close();
	}
});

/** Collects CSP violations and script errors while fn drives the page. */
async function underCsp(page: Page, fn: () => Promise<void>) {
	const problems: string[] = [];
	page.on('console', (message) => {
		if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
	});
	page.on('pageerror', (err) => problems.push(err.message));
	await fn();
	expect(problems).toEqual([]);
}

test('the app works under its CSP: generating, live progress, and the console with its charts', async ({ page, browser }) => {
	test.setTimeout(120_000);
	await underCsp(page, async () => {
		await signUp(page, uniqueEmail('csp'));
		await page.goto('/generate');
		await fillGenerateForm(page, 'a kite over a windy beach');
		await page.getByRole('button', { name: 'Generate' }).click();
		// Progress arrives over SSE, which the CSP's connect-src must allow; the image must load.
		const card = page.getByTestId('generation-card').first();
		await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'completed', { timeout: 30_000 });
		await expect(card.getByRole('img')).toHaveJSProperty('complete', true);
		expect(await card.getByRole('img').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
		await page.goto(`/generations/${await card.getAttribute('data-id')}`);
		await expect(page.getByRole('img').first()).toHaveJSProperty('complete', true);
	});
	const context = await browser.newContext();
	const admin = await context.newPage();
	await underCsp(admin, async () => {
		await signIn(admin, ADMIN.email, ADMIN.password);
		await admin.goto('/admin/worker');
		await expect(admin.locator('canvas').first()).toBeVisible();
		await admin.goto('/admin');
		await expect(admin.locator('canvas').first()).toBeVisible();
		await screenshotAtWidths(admin, 'security-console-under-csp');
	});
	await context.close();
});

test('a form post from another origin is refused and changes nothing; the same origin works', async ({ page, baseURL }) => {
	await signUp(page, uniqueEmail('csrf'));
	const count = async () => ((await (await page.request.get('/api/generations')).json()).items as unknown[]).length;
	const fields = { prompt: 'posted from elsewhere', model_id: 'local/preview', size: '512x512', seed_mode: 'random' };
	for (const origin of ['https://evil.example', 'null']) {
		const foreign = await page.request.post('/generate?/generate', { form: fields, headers: { origin }, maxRedirects: 0 });
		expect(foreign.status()).toBe(403);
		expect(await foreign.text()).toMatch(/Cross-site POST form submissions are forbidden/);
	}
	// Sign-out too: a foreign page cannot end the session.
	expect((await page.request.post('/auth/signout', { form: {}, headers: { origin: 'https://evil.example' }, maxRedirects: 0 })).status()).toBe(403);
	expect(await count()).toBe(0);
	const same = await page.request.post('/generate?/generate', { form: fields, headers: { origin: new URL(baseURL!).origin, accept: 'text/html' }, maxRedirects: 0 });
	expect(same.status()).toBe(303);
	expect(await count()).toBe(1);
});

test('bodies over 1 MB are refused with 413 before anything is read', async ({ page }) => {
	await signUp(page, uniqueEmail('big'));
	const big = 'x'.repeat(1024 * 1024 + 1);
	const api = await page.request.post('/api/generations', { data: { prompt: big, model_id: 'local/preview', width: 512, height: 512 } });
	expect(api.status()).toBe(413);
	const form = await page.request.post('/generate?/generate', { form: { prompt: big }, headers: { origin: new URL(page.url()).origin }, maxRedirects: 0 });
	expect(form.status()).toBe(413);
	// Just under the limit passes the size check and reaches validation.
	const under = await page.request.post('/api/generations', { data: { prompt: 'y'.repeat(500_000), model_id: 'local/preview', width: 512, height: 512 } });
	expect(under.status()).toBe(400);
	expect((await under.json()).error).toMatch(/the limit is 2000/);
	expect(((await (await page.request.get('/api/generations')).json()).items as unknown[]).length).toBe(0);
});

test('secrets never appear in logs, error pages or JSON answers', async ({ browser }) => {
	test.setTimeout(120_000);
	const replicate = await startFakeReplicate({ token: 'r8_SECRET_replicate_token_7f3a9c' });
	const dataDir = mkdtempSync(path.join(tmpdir(), 'picture-secrets-'));
	chmodSync(dataDir, 0o755);
	const secrets = {
		CRON_SECRET: 'SECRET-cron-4d1c8e2b7a9f03',
		SESSION_SECRET: 'SECRET-session-0b7e4c91d2a85f3e6c7d8e9f0a1b2c3d',
		REPLICATE_API_TOKEN: replicate.token,
		SUPABASE_SERVICE_ROLE_KEY: 'SECRET-service-role-5e2f9a7c1b',
		METRICS_TOKEN: 'SECRET-metrics-8c3b1d6e4f2a'
	};
	// Every request to the model provider fails: its answer must be reported without the token.
	replicate.forceNext({ status: 401, count: 100, body: { title: 'Unauthenticated', detail: 'Invalid token' } });
	const app = await startApp(
		{ ...secrets, REPLICATE_API_BASE_URL: replicate.baseUrl, DATA_DIR: dataDir, IN_PROCESS_WORKER: 'on', BODY_SIZE_LIMIT: '2M', LOCAL_MODEL_MS_PER_IMAGE: '0' },
		{ embedded: true }
	);
	const bodies: string[] = [];
	try {
		const context = await browser.newContext({ baseURL: app.origin });
		const page = await context.newPage();
		const keep = async <R extends { status(): number; headers(): Record<string, string>; text(): Promise<string> }>(response: R | null) => {
			if (response) bodies.push(`${response.status()} ${JSON.stringify(response.headers())}\n${await response.text()}`);
			return response;
		};
		await keep(await page.request.post('/api/worker', { headers: { authorization: 'Bearer not-the-cron-secret' } }));
		await keep(await page.request.post('/api/worker'));
		await keep(await page.request.get('/api/metrics', { headers: { authorization: 'Bearer not-the-metrics-token' } }));
		await keep(await page.request.get('/api/health'));
		await keep(await page.goto('/no-such-page'));
		await keep(await page.request.post('/api/webhooks/replicate', { data: { id: 'x' } }));
		await signUp(page, uniqueEmail('secrets'));
		// With adapter-node's limit raised (BODY_SIZE_LIMIT=2M), the app's own 1 MB rule answers, in JSON.
		const tooBig = await keep(await page.request.post('/api/generations', { data: { prompt: 'z'.repeat(1_500_000) } }));
		expect(tooBig!.status()).toBe(413);
		expect(await tooBig!.json()).toEqual({ error: 'The request body is larger than the limit of 1048576 bytes (1 MB)' });
		const pageTooBig = await keep(await page.request.post('/generate?/generate', { form: { prompt: 'z'.repeat(1_500_000) }, headers: { origin: app.origin, accept: 'text/html' } }));
		expect(pageTooBig!.status()).toBe(413);
		expect(await pageTooBig!.text()).toBe('The request body is larger than the limit of 1048576 bytes (1 MB)');
		const fits = await keep(await page.request.post('/api/generations', { data: { prompt: 'z'.repeat(900_000) } }));
		expect(fits!.status()).toBe(400);
		// A Replicate generation: the provider refuses the token, the job fails, the error is shown.
		const id = await startViaApi(page.request, { model_id: 'black-forest-labs/flux-schnell', width: 1024, height: 1024, prompt: 'anything' });
		const failed = await waitForStatus(page.request, id, ['failed'], 60_000);
		bodies.push(JSON.stringify(failed));
		await keep(await page.goto(`/generations/${id}`));
		await keep(await page.request.post('/auth/signin', { headers: { 'content-type': 'multipart/form-data; boundary=x', origin: app.origin }, data: '--x\r\nbroken' }));
		await keep(await page.request.post('/api/generations', { data: '{"prompt":', headers: { 'content-type': 'application/json' } }));
		// A 500: the database goes away under the running app (its own embedded server, stopped by its pid).
		const postgresPid = Number((await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
		process.kill(postgresPid, 'SIGINT');
		// The signal is only a request: wait until the server is gone, or a quick page still finds it up.
		await expect.poll(() => isRunning(postgresPid), { timeout: 30_000 }).toBe(false);
		const down = await keep(await page.goto('/history'));
		expect(down!.status()).toBeGreaterThanOrEqual(500);
		await keep(await page.request.get('/api/generations'));
		await keep(await page.request.get('/api/health'));
		// A forged session cookie on top.
		await context.addCookies([{ name: 'picture_session', value: 'eyJhbGciOiJIUzI1NiJ9.e30.forged', url: app.origin }]);
		await keep(await page.goto('/generate'));
		await context.close();
	} finally {
		await app.stop();
		await replicate.close();
	}
	const credentials = JSON.parse(await readFile(path.join(dataDir, 'postgres-credentials.json'), 'utf8'));
	await rm(dataDir, { recursive: true, force: true });
	const everything = `${app.output()}\n${bodies.join('\n')}`;
	// The provider's refusal reached the generation's error (so the failing path ran)...
	expect(bodies.join('\n')).toMatch(/"status":"failed"/);
	for (const [name, value] of Object.entries({ ...secrets, DATABASE_PASSWORD: credentials.password as string })) {
		expect(everything.includes(value), `${name} leaked`).toBe(false); // ...and no secret went anywhere
	}
	expect(bodies.length).toBeGreaterThan(10);
});

function isRunning(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}
