import { expect, test as setup } from '@playwright/test';
import { ADMIN, signUp } from '../support/browser';

setup('the first account is the administrator', async ({ page }) => {
	await signUp(page, ADMIN.email, ADMIN.password);
	await expect(page.getByRole('link', { name: 'Admin', exact: true })).toBeVisible();
});
