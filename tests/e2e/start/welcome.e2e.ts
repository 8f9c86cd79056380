// The page after sign-up says, once, what a new account would otherwise find out only by hitting
// it: the first account is the administrator (with the console's address), and everyone's limits.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { startApp } from '../../support/app-process';
import { screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

const LIMITS = 'You can make 20 pictures an hour and 100 a day (the administrator too); your account page shows your usage.';

test('a new account sees its limits once, on the page it lands on; later accounts are not told they administer', async ({ page }) => {
	await signUp(page, uniqueEmail('welcome'));
	await expect(page).toHaveURL(/\/generate$/);
	const notice = page.getByTestId('welcome');
	await expect(notice).toContainText(LIMITS);
	await expect(notice).not.toContainText('administrator:');
	// The same numbers as the usage meter beside it, which reads the account's limits.
	await expect(page.getByTestId('usage')).toContainText('0 of 20');
	await expect(page.getByTestId('usage')).toContainText('0 of 100');
	await screenshotAtWidths(page, 'welcome-user');

	await notice.getByRole('link', { name: 'account page' }).click();
	await expect(page).toHaveURL(/\/account$/);
	await expect(page.getByTestId('welcome')).toHaveCount(0);
	await page.getByRole('link', { name: 'Generate', exact: true }).click();
	await expect(page).toHaveURL(/\/generate$/);
	await expect(page.getByTestId('usage')).toBeVisible();
	await expect(page.getByTestId('welcome')).toHaveCount(0);
	await page.reload();
	await expect(page.getByTestId('usage')).toBeVisible();
	await expect(page.getByTestId('welcome')).toHaveCount(0);
});

test('without JavaScript the notice is shown after sign-up too, and not on the next page', async ({ browser }) => {
	const context = await browser.newContext({ javaScriptEnabled: false });
	const page = await context.newPage();
	await signUp(page, uniqueEmail('welcome-nojs'));
	await expect(page.getByTestId('welcome')).toContainText(LIMITS);
	await page.goto('/history');
	await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
	await expect(page.getByTestId('welcome')).toHaveCount(0);
	await context.close();
});

test('the very first account is told it is the administrator and where the console is', async ({ page }) => {
	test.setTimeout(120_000);
	// An app of its own, with no accounts yet (the suite's app already has its administrator).
	const dataDir = await mkdtemp(path.join(tmpdir(), 'picture-welcome-'));
	await chmod(dataDir, 0o755);
	const app = await startApp({ DATA_DIR: dataDir }, { embedded: true });
	try {
		await page.goto(`${app.origin}/auth/signup`);
		await page.getByLabel('Email').fill('owner@picture.test');
		await page.getByLabel('Password').fill('the-owners-password');
		await page.getByRole('button', { name: 'Create account' }).click();
		await expect(page).toHaveURL(`${app.origin}/generate`);
		const notice = page.getByTestId('welcome');
		await expect(notice).toContainText('Your account is the administrator: the operations console is at /admin.');
		await expect(notice).toContainText(LIMITS);
		await screenshotAtWidths(page, 'welcome-first-admin');

		await notice.getByRole('link', { name: '/admin' }).click();
		await expect(page).toHaveURL(`${app.origin}/admin`);
		await expect(page.getByTestId('welcome')).toHaveCount(0);
	} finally {
		await app.stop();
		await rm(dataDir, { recursive: true, force: true });
	}
});
