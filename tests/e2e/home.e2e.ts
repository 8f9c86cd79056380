import { expect, test } from '@playwright/test';
import { screenshotAtWidths } from './support';

test('the home page shows the live queue and the worker mode', async ({ page }) => {
	await page.goto('/');
	await expect(page.getByRole('heading', { level: 1 })).toContainText('Prompts in, pictures out');
	const summary = page.getByTestId('queue-summary');
	await expect(summary).toContainText('Waiting');
	await expect(page.getByText('Worker: running inside this app')).toBeVisible();
	await screenshotAtWidths(page, 'home');
});

test('health reports the database and current migrations', async ({ request }) => {
	const response = await request.get('/api/health');
	expect(response.status()).toBe(200);
	const body = await response.json();
	expect(body.status).toBe('ok');
	expect(body.database.ok).toBe(true);
	expect(body.migrations.current).toBe(true);
	expect(body.migrations.applied).toBe(body.migrations.expected);
});

test('the worker endpoint takes only POST with the cron secret', async ({ request }) => {
	expect((await request.get('/api/worker')).status()).toBe(405);
	const response = await request.post('/api/worker');
	expect(response.status()).toBe(401);
});
