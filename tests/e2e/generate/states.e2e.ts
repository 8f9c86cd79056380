// What people see when things go wrong, in Chromium at desktop and phone widths: a generation
// retrying, waiting for a worker, paused by the operators, failed with each class of error, a
// blocked account, and the 403 and 404 pages inside the app's layout. States are set in the
// database as the queue would leave them, so every one can be looked at; screenshots are saved.
import { expect, test } from '@playwright/test';
import { connectToAppDatabase, screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

let db: Awaited<ReturnType<typeof connectToAppDatabase>>;
test.beforeAll(async () => {
	db = await connectToAppDatabase();
});
test.afterAll(async () => db?.end());

async function userId(email: string): Promise<string> {
	const [row] = await db<{ id: string }[]>`select id from auth.users where email = ${email}`;
	return row!.id;
}

/** A generation of the user, as a row the queue could have left; its job far in the future so no worker takes it. */
async function generation(user: string, fields: Record<string, unknown>): Promise<string> {
	const [job] = await db<{ id: string }[]>`
		insert into job_queue (job_type, payload, status, scheduled_at, created_by, attempts)
		values ('generate-image', '{}', ${fields.status === 'failed' || fields.status === 'cancelled' ? String(fields.status) : 'pending'},
		        now() + interval '1 hour', ${user}, ${Number(fields.attempts_used ?? 0)})
		returning id`;
	const [row] = await db<{ id: string }[]>`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status, job_id, failure_class, error_message,
		                               retry_at, attempts_used, max_attempts, queue_paused, started_at, completed_at)
		values (${user}, ${String(fields.prompt)}, 'local/preview', 512, 512, 7, ${String(fields.status)}, ${job!.id},
		        ${(fields.failure_class as string) ?? null}, ${(fields.error_message as string) ?? null},
		        ${(fields.retry_at as Date) ?? null}, ${Number(fields.attempts_used ?? 0)}, 3, ${Boolean(fields.queue_paused)},
		        ${fields.status === 'queued' ? null : new Date(Date.now() - 60_000)},
		        ${fields.status === 'failed' || fields.status === 'cancelled' ? new Date() : null})
		returning id`;
	await db`update job_queue set payload = jsonb_build_object('generation_id', ${row!.id}::text) where id = ${job!.id}`;
	return row!.id;
}

test('retrying, waiting and paused generations say so, on their page and their card', async ({ page }) => {
	test.setTimeout(120_000);
	const email = uniqueEmail('states');
	await signUp(page, email);
	const user = await userId(email);
	const retrying = await generation(user, {
		prompt: 'A harbour at dawn (retrying)',
		status: 'queued',
		retry_at: new Date(Date.now() + 42_000),
		attempts_used: 1,
		failure_class: 'provider'
	});
	await page.goto(`/generations/${retrying}`);
	await expect(page.getByTestId('waiting')).toContainText(/Retrying in (41|42) seconds, attempt 2 of 3/);
	await expect(page.getByTestId('waiting')).toContainText('The model service was busy or unreachable');
	await expect(page.getByTestId('status').first()).toHaveText('Retrying');
	await screenshotAtWidths(page, 'state-retrying');

	const waiting = await generation(user, { prompt: 'A quiet lake (waiting)', status: 'queued' });
	await page.goto(`/generations/${waiting}`);
	await expect(page.getByTestId('waiting')).toHaveText('Waiting for a worker to pick it up.');
	await screenshotAtWidths(page, 'state-waiting');

	const paused = await generation(user, { prompt: 'A mountain road (paused)', status: 'queued', queue_paused: true });
	await page.goto(`/generations/${paused}`);
	await expect(page.getByTestId('waiting')).toContainText('Paused by the operators.');
	await expect(page.getByTestId('status').first()).toHaveText('Paused');
	await screenshotAtWidths(page, 'state-paused');

	await page.goto('/history');
	await expect(page.locator(`[data-id="${retrying}"]`).getByTestId('status')).toHaveText('Retrying');
	await expect(page.locator(`[data-id="${paused}"]`).getByTestId('status')).toHaveText('Paused');
	await screenshotAtWidths(page, 'state-history-waiting');
});

test('a failure of each class is told in its own words, with no server internals', async ({ page }) => {
	test.setTimeout(120_000);
	const email = uniqueEmail('failures');
	await signUp(page, email);
	const user = await userId(email);
	const classes: Array<[string, RegExp]> = [
		['storage', /could not be saved/],
		['input', /could not take these settings/],
		['safety', /safety filter/],
		['provider', /busy or unreachable/],
		['timeout', /took too long/],
		['worker_lost', /stopped responding/],
		['cancelled_by_operator', /operator cancelled it/],
		['internal', /went wrong on our side/]
	];
	for (const [failureClass, words] of classes) {
		const id = await generation(user, {
			prompt: `A lighthouse (${failureClass})`,
			status: failureClass === 'cancelled_by_operator' ? 'cancelled' : 'failed',
			failure_class: failureClass,
			error_message: failureClass === 'input' ? 'The width must be a whole number of pixels from 1 to 4096.' : null,
			attempts_used: 3
		});
		await page.goto(`/generations/${id}`);
		await expect(page.getByTestId('failure-reason')).toContainText(words);
		await expect(page.locator('body')).not.toContainText(/ENOTDIR|stack|\/srv\//);
		if (['storage', 'input', 'cancelled_by_operator', 'internal'].includes(failureClass)) await screenshotAtWidths(page, `state-failed-${failureClass}`);
	}
});

test('a blocked account is told so, by whom to ask, and its form is disabled', async ({ page }) => {
	const email = uniqueEmail('blocked');
	await signUp(page, email);
	await db`insert into user_limits (user_id, hourly_limit) values (${await userId(email)}, 0)`;
	await page.goto('/generate');
	await expect(page.getByTestId('blocked')).toContainText('Your account is blocked from making pictures');
	await expect(page.getByTestId('blocked')).toContainText('Ask an administrator');
	await expect(page.getByRole('button', { name: 'Generate' })).toBeDisabled();
	await expect(page.getByTestId('usage')).toContainText('Blocked');
	await expect(page.getByTestId('usage')).not.toContainText('of 0');
	await screenshotAtWidths(page, 'state-blocked');
});

test('the 403 and 404 pages sit in the app layout, say what happened and offer the way back', async ({ page }) => {
	await signUp(page, uniqueEmail('lost'));
	const refused = await page.goto('/admin/users');
	expect(refused!.status()).toBe(403);
	await expect(page.getByTestId('error-page')).toContainText('This is not yours to see');
	await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
	await expect(page.getByTestId('error-page').getByRole('link', { name: 'Make a picture' })).toBeVisible();
	await expect(page.getByRole('table')).toHaveCount(0);
	await screenshotAtWidths(page, 'error-403');
	const missing = await page.goto('/no-such-page');
	expect(missing!.status()).toBe(404);
	await expect(page.getByTestId('error-page')).toContainText('There is nothing here');
	await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
	await screenshotAtWidths(page, 'error-404');
});
