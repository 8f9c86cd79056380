import { expect, test } from '@playwright/test';
import { screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

test('visitors get a landing page that leads to sign up and sign in; queue internals stay private', async ({ page }) => {
	await page.goto('/');
	await expect(page.getByRole('heading', { level: 1 })).toContainText('Prompts in, pictures out');
	await expect(page.getByRole('heading', { name: 'How it works' })).toBeVisible();
	// Queue counts are for operators (/admin), not the public.
	await expect(page.getByTestId('queue-summary')).toHaveCount(0);
	await expect(page.getByText(/Worker:/)).toHaveCount(0);
	await screenshotAtWidths(page, 'home');

	await page.getByRole('link', { name: 'Create a free account' }).click();
	await expect(page).toHaveURL(/\/auth\/signup$/);
	await page.goBack();
	await page.getByRole('main').getByRole('link', { name: 'Sign in' }).click();
	await expect(page).toHaveURL(/\/auth\/signin$/);
});

test('signed-in people go straight from the home page to Generate', async ({ page }) => {
	await signUp(page, uniqueEmail('home'));
	await page.goto('/');
	await expect(page).toHaveURL(/\/generate$/);
	await expect(page.getByRole('heading', { level: 1, name: 'Generate' })).toBeVisible();
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

test('the worker endpoint answers only the cron secret, by POST or (for Vercel Cron) GET', async ({ request }) => {
	expect((await request.get('/api/worker')).status()).toBe(401);
	expect((await request.post('/api/worker')).status()).toBe(401);
	expect((await request.put('/api/worker')).status()).toBe(405);
});
