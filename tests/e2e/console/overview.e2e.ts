// The console's overview in Chromium, as an administrator: cards, alerts and three charts drawn from
// real jobs, refreshing by itself, in light and dark.
import { expect, test, type Page } from '@playwright/test';
import { startViaApi, waitForStatus } from '../../support/browser-generate';
import { ADMIN, screenshotAtWidths, signIn } from '../../support/browser';

test.beforeEach(async ({ page }) => {
	await signIn(page, ADMIN.email, ADMIN.password);
});

const CHARTS = ['chart-jobs-per-hour', 'chart-duration', 'chart-model-times'];

/** How many pixels of a chart's canvas are painted (a blank canvas has none). */
function paintedPixels(page: Page, testid: string): Promise<number> {
	return page.getByTestId(testid).locator('canvas').evaluate((canvas: HTMLCanvasElement) => {
		const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
		let painted = 0;
		for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
		return painted;
	});
}

test('cards, alerts and three charts drawn from real jobs, refreshing by itself', async ({ page }) => {
	test.setTimeout(120_000); // two real generations, then screenshots at two widths in two schemes
	// Real work first: two generations through the API, run by the in-process worker.
	const ids = [await startViaApi(page.request), await startViaApi(page.request, { model_id: 'local/detailed' })];
	for (const id of ids) await waitForStatus(page.request, id, ['completed']);

	await page.goto('/admin');
	await expect(page.getByRole('heading', { level: 1, name: 'Overview' })).toBeVisible();
	const cards = page.getByTestId('stat-cards');
	for (const label of ['Waiting', 'Running', 'Oldest waiting', 'Last worker', 'Completed · 24 h', 'Failed · 24 h', 'Average run time', 'p95 run time']) {
		await expect(cards.getByText(label, { exact: true })).toBeVisible();
	}
	await expect(page.getByTestId('stat-completed')).not.toContainText(/^Completed · 24 h\s*0$/);
	await expect(page.getByTestId('stat-worker')).toContainText('continuous, running');
	await expect(page.getByTestId('alerts-clear')).toBeVisible();
	await expect(page.getByTestId('type-status-table')).toContainText('generate-image');

	for (const chart of CHARTS) {
		await expect(page.getByTestId(chart).locator('canvas')).toBeVisible();
		await expect.poll(() => paintedPixels(page, chart)).toBeGreaterThan(500);
	}
	// Model times are served stale-while-revalidate (a minute): an earlier file's visit may have
	// cached them before these generations, so a reload after the background recomputation shows both.
	await expect(async () => {
		await page.reload();
		await expect(page.getByTestId('chart-model-times')).toHaveAttribute('aria-label', /local\/preview .*local\/detailed|local\/detailed .*local\/preview/, { timeout: 1000 });
	}).toPass({ timeout: 75_000 });

	// It refreshes by itself: a request to the live endpoint within a few seconds, and "Live" shown.
	const canvases = await Promise.all(CHARTS.map((chart) => page.getByTestId(chart).locator('canvas').elementHandle()));
	const refreshed = await page.waitForResponse((r) => r.url().endsWith('/admin/overview') && r.status() === 200, { timeout: 15_000 });
	expect((await refreshed.json()).now.completed_24h).toBeGreaterThanOrEqual(2);
	// New numbers go into the charts drawn at load: the same canvases, still painted, none rebuilt.
	await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
	for (const [i, canvas] of canvases.entries()) {
		expect(await canvas!.evaluate((node) => node.isConnected)).toBe(true);
		expect(await page.getByTestId(CHARTS[i]!).locator('canvas').evaluate((node, old) => node === old, canvas)).toBe(true);
	}
	await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');

	// A hidden tab stops refreshing; showing it again refreshes at once.
	await page.evaluate(() => {
		Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'paused');
	const resumed = page.waitForResponse((r) => r.url().endsWith('/admin/overview'), { timeout: 2_000 });
	await page.evaluate(() => {
		Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await resumed;
	await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');

	await screenshotAtWidths(page, 'admin-overview');
	// The charts repaint when the system switches to dark, without a reload.
	await page.emulateMedia({ colorScheme: 'dark' });
	await screenshotAtWidths(page, 'admin-overview-dark');
});

test('alert banners appear and clear with the live refresh, each linking to where to act', async ({ page }) => {
	test.setTimeout(90_000); // waits on two live refreshes (5 s apart) and takes two screenshots
	await page.goto('/admin');
	await expect(page.getByTestId('alerts-clear')).toBeVisible();
	// The next refreshes answer with two alerts, as the server would while they hold.
	let injecting = true;
	await page.route('**/admin/overview', async (route) => {
		if (!injecting) return route.continue();
		const response = await route.fetch();
		const body = await response.json();
		body.alerts = [
			{ key: 'stuck_jobs', title: 'Stuck jobs', detail: '2 running jobs have an expired lease or ran for over 10 minutes.', href: '/admin/stuck', since: body.generatedAt, active_seconds: 240 },
			{ key: 'pending_backlog', title: 'More than 100 jobs waiting', detail: '342 jobs are pending.', href: '/admin/jobs?status=pending', since: body.generatedAt, active_seconds: 3 }
		];
		await route.fulfill({ response, json: body });
	});
	const stuck = page.getByTestId('alert-stuck_jobs');
	await expect(stuck).toContainText('Stuck jobs', { timeout: 15_000 });
	await expect(stuck).toContainText('Active for 4 minutes.');
	await expect(page.getByTestId('alert-pending_backlog')).toContainText('Active just now.');
	await expect(stuck.getByRole('link', { name: 'Look into it →' })).toHaveAttribute('href', '/admin/stuck');
	await screenshotAtWidths(page, 'admin-overview-alerts');

	injecting = false; // the conditions "clear": the server's own answer has no alerts
	await expect(page.getByTestId('alerts-clear')).toBeVisible({ timeout: 15_000 });
});
