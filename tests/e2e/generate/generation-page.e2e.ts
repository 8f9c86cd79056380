import { expect, test } from '@playwright/test';
import { movedPartway, recordProgress, startViaApi, waitForStatus, whilePaused } from '../../support/browser-generate';
import { screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

test("another user gets 404 for someone's generation page and image", async ({ page, browser }) => {
	await signUp(page, uniqueEmail('owner'));
	const id = await startViaApi(page.request);
	await waitForStatus(page.request, id, ['completed']);
	expect((await page.request.get(`/api/generations/${id}/image`)).status()).toBe(200);

	const other = await browser.newContext();
	const stranger = await other.newPage();
	await signUp(stranger, uniqueEmail('stranger'));
	expect((await stranger.goto(`/generations/${id}`))!.status()).toBe(404);
	expect((await stranger.request.get(`/api/generations/${id}/image`)).status()).toBe(404);
	expect((await stranger.request.get(`/api/generations/${id}/image?download`)).status()).toBe(404);
	expect((await stranger.request.get(`/api/generations/${id}`)).status()).toBe(404);
	// Nor can they act on it.
	expect((await stranger.request.post(`/generations/${id}?/delete`, { form: {}, headers: { origin: new URL(stranger.url()).origin } })).status()).toBe(404);
	await other.close();
	expect((await page.request.get(`/api/generations/${id}`)).status()).toBe(200);
});

test('live progress on the page, then vary the seed, reuse the settings, and delete', async ({ page, browser }) => {
	test.setTimeout(120_000);
	const progressValues = await recordProgress(page);
	await signUp(page, uniqueEmail('varier'));
	let id = '';
	await whilePaused(browser, async () => {
		id = await startViaApi(page.request, { model_id: 'local/detailed', seed: 1234, negative_prompt: 'fog', width: 512, height: 384 });
		await page.goto(`/generations/${id}`);
		await expect(page.getByRole('heading', { level: 1 })).toHaveText('a small red boat on a calm lake');
		await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'queued');
		await expect(page.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '0');
		await screenshotAtWidths(page, 'generation-queued');
	});
	// Once the queue runs again, progress and then the image arrive without a reload.
	await expect.poll(async () => movedPartway(await progressValues()), { timeout: 20_000 }).toBe(true);
	await screenshotAtWidths(page, 'generation-running');
	await expect(page.getByTestId('image')).toBeVisible({ timeout: 20_000 });
	await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'completed');
	await expect(page.getByTestId('settings')).toContainText('1234');
	await expect(page.getByTestId('settings')).toContainText('512 × 384');
	await expect(page.getByTestId('settings')).toContainText('fog');
	await expect(page.getByTestId('timings')).toContainText(' s');

	await page.getByRole('link', { name: 'Reuse settings' }).click();
	await expect(page).toHaveURL(/\/generate\?/);
	await expect(page.getByLabel('Prompt', { exact: true })).toHaveValue('a small red boat on a calm lake');
	await expect(page.getByRole('radio', { name: /^Local detailed/ })).toBeChecked();
	await expect(page.getByLabel('Seed number')).toHaveValue('1234');
	await expect(page.getByLabel('Negative prompt')).toHaveValue('fog');
	await expect(page.getByRole('spinbutton', { name: 'Width' })).toHaveValue('512');
	await page.goBack();

	await page.getByRole('button', { name: 'Vary seed' }).click();
	await expect(page).not.toHaveURL(new RegExp(`/generations/${id}$`));
	const varied = page.url().split('/').pop()!;
	const view = await (await page.request.get(`/api/generations/${varied}`)).json();
	expect(view).toMatchObject({ prompt: 'a small red boat on a calm lake', model_id: 'local/detailed', width: 512, height: 384, negative_prompt: 'fog' });
	expect(view.seed).not.toBe(1234);
	await waitForStatus(page.request, varied, ['completed']);

	await page.goto(`/generations/${id}`);
	await page.getByText('Delete…').click();
	await page.getByRole('button', { name: 'Yes, delete it' }).click();
	await expect(page).toHaveURL(/\/history$/);
	expect((await page.request.get(`/api/generations/${id}`)).status()).toBe(404);
	await expect(page.locator(`[data-id="${id}"]`)).toHaveCount(0);
	await expect(page.locator(`[data-id="${varied}"]`)).toBeVisible();
});
