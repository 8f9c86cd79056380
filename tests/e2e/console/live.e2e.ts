// The overview's realtime chart in Chromium: it takes in jobs as they run, in the chart drawn at
// load (same canvas), stops polling while the tab is hidden and polls again at once when shown;
// the history's range picker and filters go through the URL. Screenshots at desktop and phone.
import { expect, test, type Page } from '@playwright/test';
import { startViaApi, waitForStatus } from '../../support/browser-generate';
import { ADMIN, screenshotAtWidths, signIn } from '../../support/browser';

test.beforeEach(async ({ page }) => {
	await signIn(page, ADMIN.email, ADMIN.password);
});

const liveNumber = async (page: Page, name: string) => Number(await page.getByTestId('live').getAttribute(`data-${name}`));

test('the live chart counts jobs as they run, in place, and pauses while hidden', async ({ page }) => {
	test.setTimeout(120_000);
	// The page's timers run on a clock the test can move: "no poll while hidden" is then a fact
	// about timers that were due, not a wait.
	await page.clock.install();
	const polls: string[] = [];
	page.on('request', (request) => {
		if (new URL(request.url()).pathname === '/admin/overview/live') polls.push(request.url());
	});
	await page.goto('/admin');
	const live = page.getByTestId('live');
	await expect(live).toBeVisible();
	await expect(page.getByTestId('chart-live').locator('canvas')).toBeVisible();
	const canvas = await page.getByTestId('chart-live').locator('canvas').elementHandle();
	const before = await liveNumber(page, 'completed');

	const ids = [await startViaApi(page.request), await startViaApi(page.request)];
	for (const id of ids) await waitForStatus(page.request, id, ['completed']);

	// The polls bring the two completions into the chart without a navigation.
	await expect.poll(() => liveNumber(page, 'completed'), { timeout: 20_000 }).toBeGreaterThanOrEqual(before + 2);
	expect(await liveNumber(page, 'started')).toBeGreaterThanOrEqual(2);
	expect(await liveNumber(page, 'polls')).toBeGreaterThan(0);
	await expect(live).toHaveAttribute('data-state', 'live');
	expect(await page.getByTestId('chart-live').locator('canvas').evaluate((node, old) => node === old, canvas)).toBe(true);
	await expect(page.getByTestId('chart-live')).toHaveAttribute('aria-label', /\d+ started, \d+ completed, \d+ failed/);
	await expect(page.getByTestId('latency-generate-image')).toBeVisible();
	// What the chart shows is what the endpoint answers.
	const answer = await (await page.request.get('/admin/overview/live')).json();
	const completed = answer.buckets.reduce((n: number, b: { completed: number }) => n + b.completed, 0);
	expect(completed).toBeGreaterThanOrEqual(before + 2);

	// Hidden: no poll, however long the timers run; shown again: a poll at once.
	await page.evaluate(() => {
		Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await expect(live).toHaveAttribute('data-state', 'paused');
	const hiddenAt = polls.length;
	const pollsHidden = await liveNumber(page, 'polls');
	await page.clock.runFor(30_000);
	expect(polls.length).toBe(hiddenAt);
	expect(await liveNumber(page, 'polls')).toBe(pollsHidden);
	const resumed = page.waitForResponse((r) => new URL(r.url()).pathname === '/admin/overview/live', { timeout: 5_000 });
	await page.evaluate(() => {
		Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await resumed;
	await expect.poll(() => liveNumber(page, 'polls')).toBeGreaterThan(pollsHidden);
	await expect(live).toHaveAttribute('data-state', 'live');

	await live.scrollIntoViewIfNeeded();
	await screenshotAtWidths(page, 'admin-overview-live');
});

test('the history: range picker and filters in the URL, a bad value answered 400', async ({ page }) => {
	await page.goto('/admin');
	const history = page.getByTestId('history');
	await expect(history).toHaveAttribute('data-range', '24h');
	await history.getByRole('link', { name: '7 days' }).click();
	await expect(page).toHaveURL(/\?range=7d$/);
	await expect(history).toHaveAttribute('data-range', '7d');
	await expect(page.getByTestId('chart-jobs-per-hour')).toHaveAttribute('aria-label', /^Jobs per 6 hours over the last 7 days: \d+ created/);
	await history.getByLabel('Model').selectOption('local/preview');
	await history.getByRole('button', { name: 'Apply' }).click();
	await expect(page).toHaveURL(/range=7d.*model=local%2Fpreview/);
	await expect(history).toContainText('local/preview');
	await history.getByRole('link', { name: '30 days' }).click();
	await expect(page).toHaveURL(/range=30d.*model=local%2Fpreview/);
	await expect(page.getByTestId('chart-jobs-per-hour')).toHaveAttribute('aria-label', /^Jobs per day over the last 30 days/);
	await screenshotAtWidths(page, 'admin-overview-history');

	for (const query of ['range=1y', 'type=%3Cscript%3E', 'model=..%2Fetc']) {
		expect((await page.request.get(`/admin?${query}`)).status(), query).toBe(400);
	}
});
