import { expect, test } from '@playwright/test';
import { startViaApi, waitForStatus } from '../../support/browser-generate';
import { screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

test('history: newest first, filtered by status with plain links, each card opens its page', async ({ page }) => {
	await signUp(page, uniqueEmail('historian'));
	await page.goto('/history');
	await expect(page.getByText('Nothing here yet.')).toBeVisible();
	await screenshotAtWidths(page, 'history-empty');

	const done = await startViaApi(page.request, { prompt: 'an orange grove at noon' });
	await waitForStatus(page.request, done, ['completed']);
	const cancelled = await startViaApi(page.request, { prompt: 'a snowy mountain hut' });
	await page.request.delete(`/api/generations/${cancelled}`);

	await page.goto('/history');
	const cards = page.locator('[data-testid=history] [data-testid=generation-card]');
	await expect(cards).toHaveCount(2);
	expect(await cards.evaluateAll((els) => els.map((el) => el.getAttribute('data-id')))).toEqual([cancelled, done]);

	const filters = page.getByRole('navigation', { name: 'Filter by status' });
	await filters.getByRole('link', { name: 'Cancelled' }).click();
	await expect(page).toHaveURL(/\?status=cancelled$/);
	await expect(filters.getByRole('link', { name: 'Cancelled' })).toHaveAttribute('aria-current', 'page');
	await expect(cards).toHaveCount(1);
	await expect(cards.first()).toHaveAttribute('data-id', cancelled);

	await filters.getByRole('link', { name: 'Failed' }).click();
	await expect(page.getByText('No failed generations.')).toBeVisible();

	await filters.getByRole('link', { name: 'Completed' }).click();
	await expect(cards).toHaveCount(1);
	await cards.first().getByRole('link').first().click();
	await expect(page).toHaveURL(new RegExp(`/generations/${done}$`));

	// A cursor this server did not make is a clear 400, not a crash.
	expect((await page.goto('/history?cursor=garbage'))!.status()).toBe(400);
});
