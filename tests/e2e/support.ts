import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from '@playwright/test';

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
