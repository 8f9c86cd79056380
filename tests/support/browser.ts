import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from '@playwright/test';
import postgres from 'postgres';

export const screenshotDir = path.resolve('tests/artifacts/screenshots');

export const viewports = {
	desktop: { width: 1280, height: 800 },
	phone: { width: 390, height: 844 }
} as const;

/** Saves the page at desktop and phone widths as tests/artifacts/screenshots/<name>-<width>.png. */
export async function screenshotAtWidths(page: Page, name: string): Promise<void> {
	await mkdir(screenshotDir, { recursive: true });
	for (const [label, size] of Object.entries(viewports)) {
		await page.setViewportSize(size);
		await page.screenshot({ path: path.join(screenshotDir, `${name}-${label}.png`), fullPage: true });
	}
}

export const ADMIN = { email: 'admin@picture.test', password: 'admin-password-123' };

let counter = 0;
/** A fresh address per call, so tests never share accounts. */
export function uniqueEmail(prefix = 'user'): string {
	return `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}@picture.test`;
}

export async function signUp(page: Page, email: string, password = 'correct-horse-battery'): Promise<void> {
	await page.goto('/auth/signup');
	await page.getByLabel('Email').fill(email);
	await page.getByLabel('Password').fill(password);
	await page.getByRole('button', { name: 'Create account' }).click();
	await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
}

export async function signIn(page: Page, email: string, password: string): Promise<void> {
	await page.goto('/auth/signin');
	await page.getByLabel('Email').fill(email);
	await page.getByLabel('Password').fill(password);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
}

/** The app's database: E2E_DATABASE_URL, or the embedded server it started in its DATA_DIR. */
export async function connectToAppDatabase() {
	if (process.env.E2E_DATABASE_URL) return postgres(process.env.E2E_DATABASE_URL, { max: 1, onnotice: () => {} });
	const dataDir = process.env.PICTURE_E2E_DATA_DIR!;
	const credentials = JSON.parse(await readFile(path.join(dataDir, 'postgres-credentials.json'), 'utf8'));
	const port = Number((await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[3]);
	return postgres({ host: '127.0.0.1', port, database: 'picture', username: credentials.user, password: credentials.password, max: 1, onnotice: () => {} });
}
