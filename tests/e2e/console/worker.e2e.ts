// The worker, models, users and export pages of the console, driven in Chromium as an administrator.
import { readFile } from 'node:fs/promises';
import { expect, test, type Page } from '@playwright/test';
import { ADMIN, connectToAppDatabase, screenshotAtWidths, signIn, viewports } from '../../support/browser';

test.beforeEach(async ({ page }) => {
	await signIn(page, ADMIN.email, ADMIN.password);
});

/** Screenshots in light and dark; at phone width nothing may push the page sideways. */
async function screenshots(page: Page, name: string) {
	await screenshotAtWidths(page, name);
	expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewports.phone.width);
	await page.emulateMedia({ colorScheme: 'dark' });
	await screenshotAtWidths(page, `${name}-dark`);
	await page.emulateMedia({ colorScheme: null });
}

const jobTypeRow = (page: Page, type: string) => page.getByTestId('job-types').locator(`tr[data-job-type="${type}"]`);

test('pause and resume a job type: a paused type waits, a resumed one is worked', async ({ page }) => {
	test.slow(); // waits on the app's own worker to take the job once resumed
	// The app is shared by every e2e file: whatever happens here, generate-image must not stay paused.
	try {
		await pauseAndResume(page);
	} finally {
		const db = await connectToAppDatabase();
		await db`select public.resume_job_type('generate-image')`;
		await db.end();
	}
});

async function pauseAndResume(page: Page) {
	await page.goto('/admin/worker');
	await expect(page.getByRole('heading', { level: 1, name: 'Worker' })).toBeVisible();

	const row = jobTypeRow(page, 'generate-image');
	await expect(row).toContainText('Active');
	await page.getByRole('button', { name: 'Pause generate-image' }).click();
	await expect(row).toContainText('Paused');
	await expect(row).toContainText(`by ${ADMIN.email}`);
	await expect(page.getByText('Paused generate-image: workers no longer claim it.')).toBeVisible();

	// While paused, a new generation's job waits: the app's own worker does not claim it.
	const created = await page.request.post('/api/generations', {
		data: { prompt: 'a lighthouse at dusk', model_id: 'local/preview', width: 256, height: 256 }
	});
	expect(created.status()).toBe(201);
	await page.reload();
	await expect(row.locator('td').first()).toHaveText('1');
	await expect(row).toContainText('Paused');
	await page.getByRole('button', { name: 'Resume generate-image' }).click();
	await expect(row).toContainText('Active');
	await expect(page.getByText('Resumed generate-image.')).toBeVisible();
	// Resumed: the waiting job is claimed and done.
	await expect(async () => {
		await page.reload();
		await expect(row.locator('td').first()).toHaveText('0', { timeout: 1000 });
	}).toPass({ timeout: 20_000 });
}

test('run the worker now, count before cancelling or purging, the cron set-up', async ({ page }) => {
	test.slow(); // a long page, shot four times (two widths, light and dark)
	await page.goto('/admin/worker');
	await page.getByLabel('Budget (seconds)').fill('3');
	await page.getByRole('button', { name: 'Run now' }).click();
	await expect(page.getByTestId('run-result')).toContainText(/Processed \d+ jobs? with 0 errors/);
	await expect(page.getByTestId('worker-runs').locator('tbody tr').first()).toContainText('manual');
	// The runs chart is drawn (its axes at least) and described for screen readers.
	const runsChart = page.getByTestId('chart-worker-runs');
	await expect(runsChart).toHaveAttribute('aria-label', /Bar chart of jobs processed and errors for each of the \d+ runs/);
	await expect
		.poll(() => runsChart.locator('canvas').evaluate((canvas: HTMLCanvasElement) => {
			const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
			return data.filter((_, i) => i % 4 === 3 && data[i]! > 0).length;
		}))
		.toBeGreaterThan(200);

	// Keyboard: the confirmation takes focus, so Enter-driven users land on the question.
	await page.getByRole('button', { name: 'Count jobs to cancel…' }).click();
	const cancel = page.getByTestId('cancel-confirmation');
	await expect(cancel).toContainText(/No pending jobs: nothing to cancel|Cancel \d+ pending jobs?\?/);
	await expect(cancel.locator('#cancel-confirm-text')).toBeFocused();
	await cancel.getByRole('button', { name: /Close|Keep them/ }).click();
	await expect(cancel).toBeHidden();

	await page.getByLabel('Older than (days)').fill('30');
	await page.getByRole('button', { name: 'Count jobs to purge…' }).click();
	const purge = page.getByTestId('purge-confirmation');
	await expect(purge).toContainText(/nothing to purge|Delete \d+ finished jobs?/);
	await purge.getByRole('button', { name: /Close|Keep them/ }).click();

	await expect(page.getByTestId('cron-setup')).toContainText('/api/worker');
	await expect(page.getByTestId('cron-setup')).toContainText('Authorization: Bearer $CRON_SECRET');
	const pgCron = page.getByTestId('cron-setup').locator('details', { hasText: 'Supabase pg_cron + pg_net' });
	await pgCron.locator('summary').click();
	await expect(pgCron.locator('pre')).toBeVisible();
	await expect(pgCron.locator('pre')).toContainText("select cron.schedule(\n  'picture-worker',");
	await pgCron.locator('summary').click();
	const vercel = page.getByTestId('cron-setup').locator('details', { hasText: 'Vercel Cron' });
	await vercel.locator('summary').click();
	await expect(vercel.locator('pre')).toContainText('"path": "/api/worker"');
	await vercel.locator('summary').click();

	await page.getByRole('link', { name: 'Manual', exact: true }).click();
	await expect(page).toHaveURL(/trigger=manual/);
	await expect(page.getByTestId('worker-runs').locator('tbody tr').first()).toContainText('manual');
	await page.goto('/admin/worker');
	await screenshots(page, 'admin-worker');
});

test('models: statistics per model and a concurrency change', async ({ page }) => {
	await page.goto('/admin/models');
	const models = page.getByTestId('models');
	await expect(models.locator('tr[data-model="local/preview"]')).toContainText('Local preview');
	const sdxl = models.locator('tr[data-model="stability-ai/sdxl"]');
	const input = sdxl.getByLabel('Max concurrency for Stable Diffusion XL');
	const before = await input.inputValue();
	await input.fill('7');
	await sdxl.getByRole('button', { name: 'Save', exact: true }).click();
	await expect(page.getByText('stability-ai/sdxl now runs at most 7 at once.')).toBeVisible();
	await expect(input).toHaveValue('7');
	await input.fill(before);
	await sdxl.getByRole('button', { name: 'Save', exact: true }).click();
	await expect(page.getByText(`stability-ai/sdxl now runs at most ${before} at once.`)).toBeVisible();
	await screenshots(page, 'admin-models');
});

test('users: usage against limits, search', async ({ page }) => {
	await page.goto('/admin/users');
	await expect(page.getByTestId('users')).toContainText(ADMIN.email);
	await page.getByLabel('Search by email').fill('admin@');
	await page.getByRole('button', { name: 'Search' }).click();
	await expect(page).toHaveURL(/q=admin%40/);
	await expect(page.getByTestId('users').locator('tbody tr')).toHaveCount(1);
	await page.getByLabel('Search by email').fill('nobody-matches-this');
	await page.getByRole('button', { name: 'Search' }).click();
	await expect(page.getByText('No users found.')).toBeVisible();
	await page.goto('/admin/users');
	await screenshots(page, 'admin-users');
});

test('export: download the failed jobs CSV', async ({ page }) => {
	await page.goto('/admin/export');
	const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /Failed jobs/ }).click()]);
	expect(download.suggestedFilename()).toMatch(/^failed_jobs-\d{8}T\d{4}Z\.csv$/);
	const text = await readFile((await download.path())!, 'utf8');
	expect(text.split('\r\n')[0]).toBe(
		'id,job_type,payload,status,error_message,error_details,attempts,max_attempts,created_by,created_at,started_at,completed_at'
	);
	await screenshots(page, 'admin-export');
});
