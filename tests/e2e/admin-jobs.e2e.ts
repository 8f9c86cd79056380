// The jobs, failures, stuck and audit pages of the console, driven in Chromium as the administrator.
// Jobs of a type no worker handles are seeded straight into the app's database, so they stay put.
import { expect, test } from '@playwright/test';
import { startViaApi, waitForStatus } from './generate-support';
import { ADMIN, connectToAppDatabase, screenshotAtWidths, signIn } from './support';

const type = `e2e-admin-${Date.now().toString(36)}`;
const failure = `E2E provider exploded (${type})`;
let stuckId = '';

test.beforeAll(async () => {
	const sql = await connectToAppDatabase();
	try {
		await sql`insert into job_queue (job_type, payload, priority) select ${type}, jsonb_build_object('n', i, 'model_id', 'local/preview'), i from generate_series(1, 3) as i`;
		await sql`insert into job_queue (job_type, payload, status, attempts, completed_at, error_message, error_details)
			select ${type}, jsonb_build_object('n', i, 'model_id', (array['local/preview', 'stability-ai/sdxl'])[1 + i % 2]), 'failed', 3, now() - make_interval(mins => i),
			       ${failure}, '{"status": 500}'::jsonb from generate_series(1, 3) as i`;
		// Running for 20 minutes under a live lease: stuck by the view's rule, not yet the reaper's.
		const [stuck] = await sql`insert into job_queue (job_type, status, attempts, claim_count, started_at, locked_by, locked_until)
			values (${type}, 'processing', 1, 1, now() - interval '20 minutes', 'e2e-worker-asleep', now() + interval '1 hour') returning id`;
		stuckId = stuck!.id;
		// What the reaper leaves behind: a job it returned (run again since), and the run that reaped it.
		await sql`insert into job_queue (job_type, status, attempts, completed_at, error_message, error_details)
			values (${type}, 'completed', 2, now(), 'lease expired: worker e2e-worker-crashed stopped responding',
			        '{"reason": "lease_expired", "locked_by": "e2e-worker-crashed", "attempt": 1}'::jsonb)`;
		await sql`insert into worker_runs (worker_id, trigger, finished_at, processed, reaped) values ('e2e-cron-run', 'cron', now(), 3, 1)`;
	} finally {
		await sql.end();
	}
});

test.beforeEach(async ({ page }) => {
	await signIn(page, ADMIN.email, ADMIN.password);
});

test('filter jobs, open one and cancel it, then bulk-cancel the rest after a confirmation', async ({ page }) => {
	test.setTimeout(180_000); // a generation runs first, and ten screenshots are taken
	const generationId = await startViaApi(page.request, { prompt: 'a lighthouse the console can find' });
	await waitForStatus(page.request, generationId, ['completed']);

	await page.goto('/admin/jobs');
	await expect(page.getByRole('heading', { level: 1, name: 'Jobs' })).toBeVisible();
	await page.getByLabel('Model').selectOption('local/preview');
	await page.getByLabel('Search prompt, error, e-mail or id').fill(generationId);
	await page.getByRole('button', { name: 'Apply filters' }).click();
	await expect(page).toHaveURL(new RegExp(`model=local%2Fpreview.*q=${generationId}`));
	await expect(page.getByTestId('job-row')).toHaveCount(1);
	await page.getByTestId('job-row').getByRole('link').click();
	await expect(page.getByText('a lighthouse the console can find')).toBeVisible();
	await expect(page.getByTestId('attempts')).toHaveText('1 of 3');
	await screenshotAtWidths(page, 'admin-job-generation');
	await page.setViewportSize({ width: 1280, height: 800 });

	await page.goto('/admin/jobs');
	await page.getByLabel('Job type').fill(type);
	await page.getByLabel('Status').selectOption('pending');
	await page.getByRole('button', { name: 'Apply filters' }).click();
	await expect(page).toHaveURL(/status=pending/);
	await expect(page.getByTestId('job-row')).toHaveCount(3);
	await page.getByRole('link', { name: /Priority/ }).click();
	await expect(page).toHaveURL(/sort=priority&dir=desc/);
	await screenshotAtWidths(page, 'admin-jobs');
	await page.emulateMedia({ colorScheme: 'dark' });
	await screenshotAtWidths(page, 'admin-jobs-dark');
	await page.emulateMedia({ colorScheme: 'light' });
	await page.setViewportSize({ width: 1280, height: 800 });

	await page.getByTestId('job-row').first().getByRole('link').click();
	await expect(page.getByTestId('payload')).toContainText('"n": 3');
	await page.getByRole('button', { name: 'Cancel job' }).click();
	await expect(page.getByText('The job is cancelled.')).toBeVisible();
	await expect(page.getByTestId('job-status').first()).toHaveText('cancelled');
	await screenshotAtWidths(page, 'admin-job');
	await page.setViewportSize({ width: 1280, height: 800 });

	await page.goto(`/admin/jobs?type=${type}&status=pending`);
	await expect(page.getByTestId('job-row')).toHaveCount(2);
	await page.getByRole('button', { name: 'Cancel…' }).click();
	const confirm = page.getByTestId('confirm-panel');
	await expect(confirm.getByRole('heading')).toHaveText('Cancel 2 jobs?');
	await expect(confirm.getByRole('heading')).toBeFocused();
	await screenshotAtWidths(page, 'admin-jobs-confirm');
	await page.setViewportSize({ width: 1280, height: 800 });
	await confirm.getByRole('button', { name: 'Yes, cancel 2 jobs' }).click();
	await expect(page.getByText('Cancelled 2 jobs.')).toBeVisible();
	await expect(page.getByTestId('jobs-table-empty')).toContainText('No jobs match these filters.');
	await expect(page).toHaveURL(new RegExp(`type=${type}`));
});

test('failures: a group with its counts and examples, retried as a whole', async ({ page }) => {
	await page.goto('/admin/failures');
	const group = page.getByTestId('failure-group').filter({ hasText: failure });
	await expect(group.getByTestId('group-count')).toHaveText('3');
	await group.getByText(failure).click();
	await expect(group.locator('tbody tr')).toHaveCount(3);
	await screenshotAtWidths(page, 'admin-failures');
	await page.setViewportSize({ width: 1280, height: 800 });
	await group.getByRole('button', { name: 'Retry all 3 in this group…' }).click();
	const confirm = page.getByTestId('confirm-panel');
	await expect(confirm.getByRole('heading')).toHaveText('Retry 3 jobs?');
	await confirm.getByRole('button', { name: 'Yes, retry 3 jobs' }).click();
	await expect(page.getByTestId('notice-success')).toContainText('Retried 3 jobs');
	await expect(page.getByTestId('failure-group').filter({ hasText: failure })).toHaveCount(0);
});

test('stuck: reset the selected job to pending without spending its attempt', async ({ page }) => {
	await page.goto('/admin/stuck');
	const row = page.locator(`tr[data-job-id="${stuckId}"]`);
	await expect(row).toContainText('e2e-worker-asleep');
	await expect(row).toContainText('valid');
	await expect(page.getByTestId('reaped-jobs')).toContainText('e2e-worker-crashed');
	await expect(page.getByTestId('reaper-runs')).toContainText('e2e-cron-run');
	await screenshotAtWidths(page, 'admin-stuck');
	await page.setViewportSize({ width: 1280, height: 800 });
	await row.getByRole('checkbox').check();
	await page.getByRole('button', { name: 'Reset selected' }).click();
	await expect(page.getByText('Reset 1 job to pending.')).toBeVisible();
	await expect(page.locator(`tr[data-job-id="${stuckId}"]`)).toHaveCount(0);
	await page.goto(`/admin/jobs/${stuckId}`);
	await expect(page.getByTestId('attempts')).toHaveText('0 of 3');
	await expect(page.getByTestId('job-status').first()).toHaveText('pending');
});

test('audit: every action above, with who and how many rows', async ({ page }) => {
	await page.goto('/admin/audit');
	const rows = page.getByTestId('audit-row');
	for (const [action, affected] of [['stuck.reset', '1'], ['failures.retry_group', '3'], ['jobs.bulk_cancel', '2'], ['job.cancel', '1']]) {
		const row = rows.filter({ has: page.locator(`code:text-is("${action}")`) }).first();
		await expect(row).toContainText(ADMIN.email);
		await expect(row.getByTestId('affected-rows')).toHaveText(affected!);
	}
	await screenshotAtWidths(page, 'admin-audit');
});
