// Script-shaped prompts and errors, made through the real form and API, then shown on every page
// that displays them: nothing runs (no window.__xss, no dialog, no CSP violation) and the text is
// there, literally, for the reader to see.
import { expect, test, type Page } from '@playwright/test';
import { fillGenerateForm, startViaApi, waitForStatus } from '../../support/browser-generate';
import { ADMIN, connectToAppDatabase, screenshotAtWidths, signIn, signUp, uniqueEmail } from '../../support/browser';

const PAYLOADS = [
	'<script>window.__xss=1</script> a red boat',
	'<img src=x onerror="window.__xss=1;alert(1)"> a green hill',
	'"><svg onload="window.__xss=1;alert(2)"> a blue door',
	"javascript:window.__xss=1;alert(3)//' a white cat"
];
const FAILURE = `<img src=x onerror="window.__xss=1;alert(4)"> provider said <script>alert(5)</script> (${Date.now().toString(36)})`;

declare global {
	interface Window {
		__xss?: unknown;
	}
}

/** Watches a page for anything an injected script could do, and for the CSP blocking anything. */
function watch(page: Page) {
	const seen = { dialogs: [] as string[], cspViolations: [] as string[], pageErrors: [] as string[] };
	page.on('dialog', (dialog) => {
		seen.dialogs.push(dialog.message());
		void dialog.dismiss();
	});
	page.on('console', (message) => {
		if (/Content Security Policy/i.test(message.text())) seen.cspViolations.push(message.text());
	});
	page.on('pageerror', (err) => seen.pageErrors.push(err.message));
	return seen;
}

async function expectNothingRan(page: Page, seen: ReturnType<typeof watch>) {
	expect(await page.evaluate(() => window.__xss)).toBeUndefined();
	expect(seen.dialogs).toEqual([]);
	expect(seen.cspViolations).toEqual([]);
	expect(seen.pageErrors).toEqual([]);
	// No link on the page was built into a script URL from what a user typed.
	const hrefs = await page.locator('a[href]').evaluateAll((links) => links.map((a) => a.getAttribute('href') ?? ''));
	expect(hrefs.filter((href) => /^\s*javascript:/i.test(href))).toEqual([]);
	// Nor did any element appear from the markup in the text.
	expect(await page.locator('img[src="x"], svg[onload], script:not([src]):not([nonce])').count()).toBe(0);
}

test('script-shaped prompts and errors are shown as text on every page, and nothing runs', async ({ page, browser }) => {
	test.setTimeout(180_000);
	const seen = watch(page);
	await signUp(page, uniqueEmail('xss'));

	// One through the form, in Chromium, the rest through the API with the same session.
	await page.goto('/generate');
	await fillGenerateForm(page, PAYLOADS[0]!);
	await page.getByRole('button', { name: 'Generate' }).click();
	// The page stays, with the new generation's live card (its prompt shown as text there too).
	const card = page.getByTestId('generation-card').first();
	await expect(card).toBeVisible();
	await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'completed', { timeout: 30_000 });
	await expect(page.getByText(PAYLOADS[0]!, { exact: true }).first()).toBeVisible();
	await expectNothingRan(page, seen);
	const ids = [(await card.getAttribute('data-id'))!];
	for (const prompt of PAYLOADS.slice(1)) ids.push(await startViaApi(page.request, { prompt, negative_prompt: prompt }));
	for (const id of ids) await waitForStatus(page.request, id, ['completed']);

	await page.goto('/history');
	for (const prompt of PAYLOADS) await expect(page.getByText(prompt, { exact: true }).first()).toBeVisible();
	await expectNothingRan(page, seen);
	await screenshotAtWidths(page, 'hostile-history');

	for (const [i, id] of ids.entries()) {
		await page.goto(`/generations/${id}`);
		await expect(page.getByText(PAYLOADS[i]!, { exact: true }).first()).toBeVisible();
		await expect(page.getByRole('img').first()).toBeVisible();
		await expectNothingRan(page, seen);
		if (i === 1) await screenshotAtWidths(page, 'hostile-generation');
	}

	// A hostile status in the history's query string: an error page, and nothing of it runs.
	const refused = await page.goto('/history?status=%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E');
	expect(refused!.status()).toBe(400);
	await expect(page.getByText(/status must be one of/)).toBeVisible();
	await expectNothingRan(page, seen);

	// The console, as the administrator: a failure whose message is markup, seeded as a provider would leave it.
	const sql = await connectToAppDatabase();
	let failedId = '';
	try {
		const [job] = await sql`insert into job_queue (job_type, payload, status, attempts, completed_at, error_message, error_details)
			values ('generate-image', ${sql.json({ generation_id: ids[1]!, model_id: 'local/preview' })}, 'failed', 3, now(), ${FAILURE}, '{"status": 500}'::jsonb)
			returning id`;
		failedId = job!.id;
	} finally {
		await sql.end();
	}
	const context = await browser.newContext();
	const admin = await context.newPage();
	const adminSeen = watch(admin);
	await signIn(admin, ADMIN.email, ADMIN.password);

	await admin.goto(`/admin/jobs?q=${encodeURIComponent('<svg onload=alert(6)>')}`);
	await expect(admin.getByLabel('Search prompt, error, e-mail or id')).toHaveValue('<svg onload=alert(6)>');
	await expectNothingRan(admin, adminSeen);
	// Reflected: the console names the unknown status it was given, as text.
	await admin.goto(`/admin/jobs?status=${encodeURIComponent('<script>window.__xss=1</script>')}`);
	await expect(admin.getByText('<script>window.__xss=1</script>', { exact: false })).toBeVisible();
	await expectNothingRan(admin, adminSeen);
	await admin.goto('/admin/jobs?status=failed');
	await expect(admin.getByText(FAILURE, { exact: false }).first()).toBeVisible();
	await expectNothingRan(admin, adminSeen);
	await screenshotAtWidths(admin, 'hostile-admin-jobs');

	await admin.goto(`/admin/jobs/${failedId}`);
	await expect(admin.getByText(FAILURE, { exact: false }).first()).toBeVisible();
	await expect(admin.getByText(PAYLOADS[1]!, { exact: true })).toBeVisible(); // the generation's prompt
	await expectNothingRan(admin, adminSeen);
	await screenshotAtWidths(admin, 'hostile-admin-job');

	await admin.goto('/admin/failures');
	await expect(admin.getByText(FAILURE, { exact: false }).first()).toBeVisible();
	await expectNothingRan(admin, adminSeen);
	await screenshotAtWidths(admin, 'hostile-admin-failures');

	await admin.goto(`/admin/users?q=${encodeURIComponent('"><img src=x onerror=alert(7)>')}`);
	await expect(admin.getByRole('searchbox').or(admin.getByLabel(/search/i)).first()).toHaveValue('"><img src=x onerror=alert(7)>');
	await expectNothingRan(admin, adminSeen);
	await admin.goto('/admin/users');
	await expectNothingRan(admin, adminSeen);
	await screenshotAtWidths(admin, 'hostile-admin-users');
	await context.close();
});
