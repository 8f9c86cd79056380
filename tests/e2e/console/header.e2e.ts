// The console's header and the state it reports, in Chromium: the environment badge (staging here; a
// production app of its own for the red one), a read-only operator's console, a worker that stopped
// responding, and "Run now" keeping the budget it was given.
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { startApp } from '../../support/app-process';
import { ADMIN, connectToAppDatabase, screenshotAtWidths, signIn, signUp, uniqueEmail, viewports } from '../../support/browser';

test('the environment badge: amber for staging; red for production, whose titles say PRODUCTION', async ({ page, browser }) => {
	test.setTimeout(180_000); // a second app with its own database starts
	await signIn(page, ADMIN.email, ADMIN.password);
	// Not the overview: its per-model series is cached for a minute, and admin-overview.e2e.ts wants it fresh.
	await page.goto('/admin/audit');
	const badge = page.getByTestId('environment-badge');
	await expect(badge).toHaveText(/staging/i);
	await expect(badge).toHaveAttribute('data-tone', 'staging');
	await expect(page).toHaveTitle('Audit log · Picture console');
	await expect(page.getByTestId('role-badge')).toHaveText('Administrator');
	await screenshotAtWidths(page, 'admin-environment-staging');

	const dataDir = await mkdtemp(path.join(tmpdir(), 'picture-e2e-production-'));
	await chmod(dataDir, 0o755);
	const app = await startApp({ DATA_DIR: dataDir, PICTURE_ENVIRONMENT: 'production', LOCAL_MODEL_MS_PER_IMAGE: '0' }, { embedded: true });
	try {
		const context = await browser.newContext({ baseURL: app.origin });
		const production = await context.newPage();
		await signUp(production, uniqueEmail('production-admin')); // the first account: its administrator
		for (const where of ['/admin', '/admin/jobs', '/admin/worker']) {
			await production.goto(where);
			await expect(production).toHaveTitle(/^PRODUCTION · (Overview|Jobs|Worker) · Picture console$/);
		}
		await expect(production.getByTestId('environment-badge')).toHaveAttribute('data-tone', 'production');
		await screenshotAtWidths(production, 'admin-environment-production');
		await context.close();
	} finally {
		await app.stop();
	}
});

test("an operator's console: a read-only badge, every action disabled and saying why", async ({ browser }) => {
	const context = await browser.newContext();
	const page = await context.newPage();
	const email = uniqueEmail('operator');
	await signUp(page, email);
	const sql = await connectToAppDatabase();
	await sql`update auth.users set raw_app_meta_data = raw_app_meta_data || '{"roles": ["operator"]}' where email = ${email}`;
	await sql.end();
	// Roles are read from the database on each request (cached for at most 2 s).
	await expect(async () => {
		await page.goto('/admin/jobs');
		await expect(page.getByTestId('role-badge')).toHaveAttribute('data-role', 'operator', { timeout: 500 });
	}).toPass({ timeout: 15_000 });
	await expect(page.getByTestId('role-badge')).toHaveText('Read-only · operator');
	await expect(page.getByTestId('read-only-note').first()).toHaveText('Read-only: your role is operator');
	for (const name of ['Retry selected…', 'Cancel selected…', 'Retry…', 'Cancel…']) {
		await expect(page.getByRole('button', { name, exact: true })).toBeDisabled();
	}
	await screenshotAtWidths(page, 'admin-operator-jobs');

	await page.setViewportSize(viewports.desktop);
	await page.goto('/admin/worker');
	await expect(page.getByRole('button', { name: 'Run now' })).toBeDisabled();
	await expect(page.getByRole('button', { name: 'Pause generate-image' })).toBeDisabled();
	await expect(page.getByRole('button', { name: 'Count jobs to cancel…' })).toBeDisabled();
	await expect(page.getByTestId('read-only-note').first()).toBeVisible();
	await screenshotAtWidths(page, 'admin-operator-worker');
	for (const where of ['/admin/stuck', '/admin/models', '/admin/users', '/admin/failures']) {
		await page.goto(where);
		await expect(page.getByTestId('read-only-note').first(), where).toBeVisible();
	}
	await context.close();
});

test('a worker that was killed is "stopped responding", not running', async ({ page }) => {
	const sql = await connectToAppDatabase();
	const [{ id }] = (await sql`
		insert into worker_runs (worker_id, trigger, started_at, last_seen_at)
		values ('e2e-sigkilled-worker', 'continuous', now() - interval '10 minutes', now() - interval '5 minutes') returning id`) as unknown as [{ id: number }];
	try {
		await signIn(page, ADMIN.email, ADMIN.password);
		await page.goto('/admin/worker?trigger=continuous');
		await expect(page.getByTestId('last-runs').locator('[data-trigger="continuous"]')).toHaveAttribute('data-state', 'stopped_responding');
		await expect(page.getByTestId('last-runs')).toContainText('stopped responding');
		const row = page.getByTestId('worker-runs').locator('tr', { hasText: 'e2e-sigkilled-worker' });
		await expect(row.getByTestId('run-state')).toHaveText('stopped responding');
		await screenshotAtWidths(page, 'admin-worker-stopped');
	} finally {
		await sql`delete from worker_runs where id = ${id}`;
		await sql.end();
	}
});

test('Run now keeps the budget it was given', async ({ page }) => {
	await signIn(page, ADMIN.email, ADMIN.password);
	await page.goto('/admin/worker');
	const budget = page.getByLabel('Budget (seconds)');
	await budget.fill('3');
	await page.getByRole('button', { name: 'Run now' }).click();
	await expect(page.getByTestId('run-result')).toBeVisible({ timeout: 20_000 });
	await expect(budget).toHaveValue('3');
	await page.reload();
	await expect(budget).not.toHaveValue('3'); // a fresh page starts from the default again
});
