import { expect, test } from '@playwright/test';
import { ADMIN, screenshotAtWidths, signIn, signUp, uniqueEmail } from '../../support/browser';

test('sign up, sign out, and back in; later accounts are not administrators', async ({ page }) => {
	await page.goto('/auth/signup');
	await screenshotAtWidths(page, 'signup');
	const email = uniqueEmail();
	await signUp(page, email, 'a-long-enough-password');
	await expect(page.getByTestId('signed-in-as')).toHaveText(email);
	await expect(page.getByRole('link', { name: 'Admin', exact: true })).toHaveCount(0);
	const cookie = (await page.context().cookies()).find((c) => c.name === 'picture_session')!;
	expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

	await page.getByRole('button', { name: 'Sign out' }).click();
	await expect(page).toHaveURL(/\/auth\/signin$/);
	expect((await page.context().cookies()).find((c) => c.name === 'picture_session')).toBeUndefined();

	await signIn(page, email, 'a-long-enough-password');
	await expect(page.getByTestId('signed-in-as')).toHaveText(email);
});

test('clear messages for a short password, a taken email and a wrong password', async ({ page }) => {
	await page.goto('/auth/signup');
	await page.getByLabel('Email').fill(uniqueEmail());
	await page.getByLabel('Password').fill('short');
	await page.getByRole('button', { name: 'Create account' }).click();
	await expect(page.getByRole('alert')).toHaveText('Use at least 10 characters for your password');

	await page.getByLabel('Email').fill(ADMIN.email);
	await page.getByLabel('Password').fill('another-long-password');
	await page.getByRole('button', { name: 'Create account' }).click();
	await expect(page.getByRole('alert')).toContainText('already exists');

	await page.goto('/auth/signin');
	await page.getByLabel('Email').fill(ADMIN.email);
	await page.getByLabel('Password').fill('not-the-password');
	await page.getByRole('button', { name: 'Sign in' }).click();
	await expect(page.getByRole('alert')).toHaveText('That email and password do not match an account');
	await screenshotAtWidths(page, 'signin-error');
});

test('repeated failed sign-ins for one address are slowed down', async ({ page }) => {
	const email = uniqueEmail('locked');
	await signUp(page, email, 'the-real-password');
	await page.getByRole('button', { name: 'Sign out' }).click();
	for (let i = 0; i < 5; i++) {
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(`wrong-${i}-password`);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await expect(page.getByRole('alert')).toHaveText('That email and password do not match an account');
	}
	await page.getByLabel('Email').fill(email);
	await page.getByLabel('Password').fill('the-real-password');
	await page.getByRole('button', { name: 'Sign in' }).click();
	await expect(page.getByRole('alert')).toContainText('Too many failed sign-ins');
});

test('signed-out visitors are sent to sign in; non-admins get 403 from the console', async ({ page, request }) => {
	await page.goto('/generate');
	await expect(page).toHaveURL(/\/auth\/signin\?redirectTo=%2Fgenerate$/);
	expect((await request.get('/admin', { maxRedirects: 0 })).status()).toBe(303);
	await signUp(page, uniqueEmail());
	const response = await page.goto('/admin');
	expect(response!.status()).toBe(403);
	expect((await page.request.post('/admin')).status()).toBe(403);
});
