// The group page in Chromium: pictures side by side as each finishes with live progress per
// member, keep one, download all as a ZIP, vary one, cancel the rest; the generate form's compare
// options make a group; the history shows it as one card; a stranger gets 404.
import { expect, test, type APIRequestContext } from '@playwright/test';
import { recordProgress, movedPartway, whilePaused } from '../../support/browser-generate';
import { screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

async function startGroup(request: APIRequestContext, body: Record<string, unknown> = {}): Promise<string> {
	const response = await request.post('/api/generations', {
		data: { prompt: 'a harbour at dusk, boats and gulls', models: ['local/preview', 'local/detailed'], variations: 2, width: 256, height: 256, seed: 11, ...body }
	});
	expect(response.status(), await response.text()).toBe(201);
	return (await response.json()).group_id;
}

test('a group fills in live, side by side; keep one, download all, and a stranger gets 404', async ({ page, browser }) => {
	test.setTimeout(180_000);
	const progress = await recordProgress(page);
	await signUp(page, uniqueEmail('grouper'));
	let id = '';
	await whilePaused(browser, async () => {
		id = await startGroup(page.request);
		await page.goto(`/groups/${id}`);
		await expect(page.getByTestId('member')).toHaveCount(4);
		await expect(page.getByTestId('group-status')).toHaveAttribute('data-status', 'queued');
		await expect(page.getByTestId('member-seed')).toHaveText(['11', '12', '11', '12']);
		await screenshotAtWidths(page, 'group-queued');
	});
	await expect.poll(async () => movedPartway(await progress()), { timeout: 60_000 }).toBe(true);
	await screenshotAtWidths(page, 'group-running');
	await expect(page.getByTestId('group-status')).toHaveAttribute('data-status', 'done', { timeout: 90_000 });
	await expect(page.locator('[data-testid="member"][data-status="completed"] img')).toHaveCount(4);
	await expect(page.getByText('4 of 4 finished')).toBeVisible();

	await page.getByRole('button', { name: 'Keep this one' }).nth(1).click();
	await expect(page.getByTestId('kept')).toHaveCount(1);
	await expect(page.getByTestId('member').nth(1).getByTestId('kept')).toBeVisible();
	await screenshotAtWidths(page, 'group-done');

	const zip = await page.request.get(`/api/groups/${id}/zip`);
	expect(zip.status()).toBe(200);
	expect(zip.headers()['content-type']).toBe('application/zip');
	const bytes = await zip.body();
	expect(bytes.subarray(0, 4).toString('hex')).toBe('504b0304');

	const other = await browser.newContext();
	const stranger = await other.newPage();
	await signUp(stranger, uniqueEmail('stranger'));
	expect((await stranger.goto(`/groups/${id}`))!.status()).toBe(404);
	expect((await stranger.request.get(`/api/groups/${id}`)).status()).toBe(404);
	expect((await stranger.request.get(`/api/groups/${id}/zip`)).status()).toBe(404);
	await other.close();

	// The history shows the group as one card.
	await page.goto('/history');
	await expect(page.getByTestId('group-card')).toHaveCount(1);
	await expect(page.getByTestId('group-card')).toContainText('Group · 4');
	await screenshotAtWidths(page, 'history-with-group');
	await page.getByTestId('group-card').getByRole('link').click();
	await expect(page).toHaveURL(`/groups/${id}`);

	// "Vary this one": a new group of four with that member's model.
	await page.getByRole('button', { name: 'Vary this one' }).first().click();
	await expect(page).not.toHaveURL(`/groups/${id}`);
	await expect(page.getByTestId('member')).toHaveCount(4);
	await expect(page.getByTestId('member-model')).toHaveText(Array(4).fill('Local preview'));
});

test('cancel the rest: queued members are cancelled as one', async ({ page, browser }) => {
	await signUp(page, uniqueEmail('canceller'));
	await whilePaused(browser, async () => {
		const id = await startGroup(page.request, { models: ['local/preview'], variations: 3 });
		await page.goto(`/groups/${id}`);
		await page.getByRole('button', { name: 'Cancel the rest' }).click();
		await expect(page.getByTestId('group-status')).toHaveAttribute('data-status', 'cancelled');
		await expect(page.locator('[data-testid="member"][data-status="cancelled"]')).toHaveCount(3);
		await expect(page.getByRole('button', { name: 'Cancel the rest' })).toHaveCount(0);
		await screenshotAtWidths(page, 'group-cancelled');
	});
});

test('the generate form: more pictures per model and another model make a group', async ({ page, browser }) => {
	await signUp(page, uniqueEmail('comparer'));
	await whilePaused(browser, async () => {
		await page.goto('/generate');
		await page.getByLabel('Prompt', { exact: true }).fill('a quiet pine forest');
		await page.getByRole('radio', { name: /^Local preview/ }).check();
		await page.getByLabel('Pictures per model').selectOption('2');
		await page.getByTestId('compare').getByRole('checkbox', { name: 'Local detailed' }).check();
		await screenshotAtWidths(page, 'generate-compare');
		await page.getByRole('button', { name: 'Generate' }).click();
		await expect(page).toHaveURL(/\/groups\/[0-9a-f-]{36}$/);
		await expect(page.getByTestId('member')).toHaveCount(4);
		await expect(page.getByTestId('member-model')).toHaveText(['Local preview', 'Local preview', 'Local detailed', 'Local detailed']);
	});
});
