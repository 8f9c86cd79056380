import { expect, test } from '@playwright/test';
import { signUp, uniqueEmail } from '../../support/browser';

test.use({ javaScriptEnabled: false });

test('without JavaScript the form posts, lands on the generation page, and a reload shows it completed', async ({ page }) => {
	await signUp(page, uniqueEmail('nojs'));
	await expect(page).toHaveURL(/\/generate$/);
	await page.getByLabel('Prompt', { exact: true }).fill('A quiet harbour town at dusk');
	await page.getByRole('button', { name: 'Generate' }).click();
	await expect(page).toHaveURL(/\/generations\/[0-9a-f-]{36}$/);
	await expect(page.getByRole('heading', { level: 1 })).toHaveText('A quiet harbour town at dusk');
	await expect(page.getByTestId('status')).toHaveAttribute('data-status', /queued|processing|completed/);

	// The page reloads itself while the generation runs (a <noscript> refresh); a reload shows where it stands.
	await expect(async () => {
		await page.reload();
		await expect(page.getByTestId('status')).toHaveAttribute('data-status', 'completed', { timeout: 1000 });
	}).toPass({ timeout: 20_000 });
	await expect(page.getByTestId('image')).toBeVisible();

	// A mistake comes back as a message, with what was typed kept.
	await page.goto('/generate');
	await page.getByLabel('Prompt', { exact: true }).fill('   ');
	await page.locator('summary', { hasText: 'Negative prompt' }).click();
	await page.getByLabel('Negative prompt').fill('no fog');
	await page.getByRole('button', { name: 'Generate' }).click();
	await expect(page).toHaveURL(/\/generate\?\/generate$/);
	await expect(page.getByRole('alert')).toHaveText('Write a prompt describing the image.');
	await expect(page.getByLabel('Negative prompt')).toHaveValue('no fog');
});
