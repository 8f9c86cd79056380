// The jobs, failures, stuck and audit pages of the console, driven in Chromium as the administrator.
// Jobs of a type no worker handles are seeded straight into the app's database, so they stay put.
import { expect, test } from '@playwright/test';
import { startViaApi, waitForStatus } from '../../support/browser-generate';
import { ADMIN, connectToAppDatabase, screenshotAtWidths, signIn } from '../../support/browser';

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

// Every attempt, ticked rows, the live list and retries that leave users' decisions alone.
const stamp = Date.now().toString(36);
const attemptsType = `e2e-attempts-${stamp}`;
const selectType = `e2e-select-${stamp}`;
const word = `e2ekinds${stamp}`;
let attemptsJob = '';

test.describe('attempts, selection and retries', () => {
	test.beforeAll(async () => {
		const sql = await connectToAppDatabase();
		try {
			// Three tries through the real queue functions: a failure, a lost lease, then success.
			const stack = `Error: Replicate answered 502 Bad Gateway\n    at createPrediction (${'/app/node_modules/replicate/lib/very/deep/path/'.repeat(4)}predictions.js:88:11)\n    at async run (/app/build/server/chunks/handler.js:120:5)`;
			const [{ id }] = (await sql`select public.enqueue_job(${attemptsType}, '{"note": "three attempts"}', 0, now(), 3) as id`) as unknown as [{ id: string }];
			attemptsJob = id;
			await sql`select * from public.claim_jobs('e2e-worker-a', 1, 30, array[${attemptsType}])`;
			await sql`select public.complete_job(${id}, false, 'Replicate answered 502 Bad Gateway', ${sql.json({ name: 'ProviderError', status: 502, stack })}, 'e2e-worker-a', 1)`;
			await sql`update job_queue set scheduled_at = now() where id = ${id}`;
			await sql`select * from public.claim_jobs('e2e-worker-b-killed', 1, 30, array[${attemptsType}])`;
			await sql`update job_queue set locked_until = now() - interval '1 second' where id = ${id}`;
			await sql`select public.reap_expired_jobs()`;
			await sql`select * from public.claim_jobs('e2e-worker-c', 1, 30, array[${attemptsType}])`;
			await sql`select * from public.complete_jobs(array[${id}]::uuid[], 'e2e-worker-c', array[3])`;

			await sql`insert into job_queue (job_type, status, attempts, completed_at, error_message, priority)
				select ${selectType}, 'failed', 3, now(), 'E2E selection failure ' || i, i from generate_series(1, 6) as i`;

			// One user's generations, one of each kind a retry tells apart. The worker must not take them meanwhile.
			await sql`insert into job_queue_paused_types (job_type, reason) values ('generate-image', 'e2e seeding') on conflict do nothing`;
			const [{ id: owner }] = (await sql`insert into auth.users (email) values (${`owner-${stamp}@picture.test`}) returning id`) as unknown as [{ id: string }];
			const start = async (what: string) =>
				((await sql`select public.start_generation(${owner}, ${`${word} ${what}`}, 'local/preview', 256, 256, 1) as r`)[0]!.r as { generation_id: string; job_id: string });
			for (const what of ['failed once', 'failed twice']) {
				const g = await start(what);
				await sql`update job_queue set status = 'failed', attempts = 3, completed_at = now(), updated_at = now(), error_message = 'E2E provider down' where id = ${g.job_id}`;
			}
			const byOperator = await start('cancelled by an operator');
			await sql`select public.cancel_job(${byOperator.job_id}, 'Cancelled by an administrator (e2e)')`;
			const byOwner = await start('cancelled by its owner');
			await sql`select * from public.cancel_generation(${byOwner.generation_id}, ${owner})`;
			const deleted = await start('deleted by its owner');
			await sql`select * from public.cancel_generation(${deleted.generation_id}, ${owner})`;
			await sql`delete from image_generations where id = ${deleted.generation_id}`;
		} finally {
			await sql`delete from job_queue_paused_types where job_type = 'generate-image' and reason = 'e2e seeding'`;
			await sql.end();
		}
	});

	// Later files (the overview's alerts) must not count these seeded failures against the queue.
	test.afterAll(async () => {
		const sql = await connectToAppDatabase();
		try {
			await sql`delete from job_queue where job_type in (${attemptsType}, ${selectType})`;
			const owners = sql`select id from auth.users where email = ${`owner-${stamp}@picture.test`}`;
			await sql`delete from job_queue where created_by in (${owners})`;
			await sql`delete from auth.users where id in (${owners})`;
		} finally {
			await sql.end();
		}
	});

	test('the job page lists every attempt with its worker, times and error; the stack trace wraps', async ({ page }) => {
		await page.goto(`/admin/jobs/${attemptsJob}`);
		await expect(page).toHaveTitle(`Job ${attemptsJob.slice(0, 8)} · Picture console`);
		const attempts = page.getByTestId('attempt');
		await expect(attempts).toHaveCount(3);
		await expect(attempts.nth(0)).toContainText('e2e-worker-a');
		await expect(attempts.nth(0)).toContainText('Replicate answered 502 Bad Gateway');
		await expect(attempts.nth(1)).toContainText('lease expired');
		await expect(attempts.nth(1)).toContainText('e2e-worker-b-killed');
		await expect(attempts.nth(2)).toContainText('succeeded');
		await expect(page.getByTestId('claims')).toHaveText('3');
		await expect(page.getByTestId('claims-explained')).toContainText('The times a worker took the job');
		await attempts.nth(0).getByText('Stack trace').click();
		const stack = attempts.nth(0).getByTestId('attempt-stack');
		await expect(stack).toBeVisible();
		// Wrapped: as wide as its card, never a line scrolling sideways.
		expect(await stack.evaluate((el) => el.scrollWidth <= el.clientWidth + 1)).toBe(true);
		await screenshotAtWidths(page, 'admin-job-attempts');
		await page.setViewportSize({ width: 1280, height: 800 });

		// In the list, a job that recovered shows its last error muted, not in red.
		await page.goto(`/admin/jobs?type=${attemptsType}`);
		const error = page.getByTestId('job-row').getByTestId('job-error');
		await expect(error).toHaveAttribute('data-tone', 'recovered');
		await expect(error).toContainText('Recovered after 2 failed attempts. Last error: lease expired');
	});

	test('tick rows (shift-click for a range), retry the selection after a confirmation of its count', async ({ page }) => {
		await page.goto(`/admin/jobs?type=${selectType}&sort=priority&dir=asc`);
		const rows = page.getByTestId('job-row');
		await expect(rows).toHaveCount(6);
		await expect(page.getByTestId('live-state')).toHaveAttribute('data-state', 'live');
		await rows.nth(0).getByRole('checkbox').check();
		await rows.nth(3).getByRole('checkbox').click({ modifiers: ['Shift'] });
		await expect(page.getByTestId('selection-count')).toHaveText('4 selected');
		for (const i of [0, 1, 2, 3]) await expect(rows.nth(i).getByRole('checkbox')).toBeChecked();
		await expect(rows.nth(4).getByRole('checkbox')).not.toBeChecked();
		await screenshotAtWidths(page, 'admin-jobs-selection');
		await page.setViewportSize({ width: 1280, height: 800 });

		// The list refreshes itself; the ticked rows stay ticked.
		const sql = await connectToAppDatabase();
		await sql`insert into job_queue (job_type, status, attempts, completed_at, error_message, priority) values (${selectType}, 'failed', 3, now(), 'arrived later', 99)`;
		await sql.end();
		await expect(rows).toHaveCount(7, { timeout: 15_000 });
		await expect(page.getByTestId('selection-count')).toHaveText('4 selected');
		await expect(rows.nth(0).getByRole('checkbox')).toBeChecked();

		await page.getByRole('button', { name: 'Retry selected…' }).click();
		const confirm = page.getByTestId('confirm-panel');
		await expect(page.getByTestId('confirm-breakdown')).toHaveText('4 failed will be retried.');
		await expect(confirm.getByRole('heading')).toHaveText('Retry 4 jobs?');
		await expect(page.getByTestId('live-state')).toHaveAttribute('data-state', 'confirming');
		await confirm.getByRole('button', { name: 'Yes, retry 4 jobs' }).click();
		await expect(page.getByText('Retried 4 jobs.')).toBeVisible();
		await expect(page.getByTestId('selection-count')).toHaveText('0 selected');
		await page.goto(`/admin/jobs?type=${selectType}&status=pending`);
		await expect(rows).toHaveCount(4);
	});

	test('without JavaScript, ticked boxes are a plain form post', async ({ browser }) => {
		const context = await browser.newContext({ javaScriptEnabled: false });
		const page = await context.newPage();
		await signIn(page, ADMIN.email, ADMIN.password);
		await page.goto(`/admin/jobs?type=${selectType}&status=pending`);
		const rows = page.getByTestId('job-row');
		await expect(rows).toHaveCount(4);
		await rows.nth(0).getByRole('checkbox').check();
		await rows.nth(1).getByRole('checkbox').check();
		await page.getByRole('button', { name: 'Cancel selected…' }).click();
		await expect(page.getByTestId('confirm-panel').getByRole('heading')).toHaveText('Cancel 2 jobs?');
		await page.getByRole('button', { name: 'Yes, cancel 2 jobs' }).click();
		await expect(page.getByText('Cancelled 2 jobs.')).toBeVisible();
		await expect(rows).toHaveCount(2);
		await context.close();
	});

	test("retrying all matching leaves owners' cancellations and deleted pictures alone, and says how many of each", async ({ page }) => {
		// By their owner: the deleted picture's prompt went with it, so a search of the prompt would miss its job.
		const owner = `owner-${stamp}@picture.test`;
		await page.goto(`/admin/jobs?user=${encodeURIComponent(owner)}`);
		await expect(page.getByTestId('job-row')).toHaveCount(5);
		await expect(page.getByTestId('job-row').filter({ hasText: word })).toHaveCount(4);
		await expect(page.getByTestId('export-jobs')).toHaveAttribute('href', `/admin/export/jobs.csv?user=${encodeURIComponent(owner)}`);
		await page.getByRole('button', { name: 'Retry…', exact: true }).click();
		const confirm = page.getByTestId('confirm-panel');
		await expect(confirm.getByRole('heading')).toHaveText('Retry 3 jobs?');
		await expect(page.getByTestId('confirm-breakdown')).toHaveText(
			'2 failed and 1 cancelled by operators will be retried; 1 cancelled by their owners and 1 whose picture was deleted are left alone.'
		);
		await screenshotAtWidths(page, 'admin-jobs-retry-confirm');
		await page.setViewportSize({ width: 1280, height: 800 });
		await confirm.getByRole('button', { name: 'Yes, retry 3 jobs' }).click();
		await expect(page.getByText('Retried 3 jobs.')).toBeVisible();
	});
});
