// Cost and budgets in Chromium (0027): a user's spend next to their limits on the account and
// generate pages, the budget set on the console's users page, and the Costs & fairness page.
import { expect, test, type Page } from '@playwright/test';
import { ADMIN, connectToAppDatabase, screenshotAtWidths, signIn, signUp, uniqueEmail, viewports } from '../../support/browser';

let db: Awaited<ReturnType<typeof connectToAppDatabase>>;
test.beforeAll(async () => {
	db = await connectToAppDatabase();
});
test.afterAll(async () => {
	await db.end();
});

async function screenshots(page: Page, name: string) {
	await screenshotAtWidths(page, name);
	expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewports.phone.width);
}

async function userId(email: string): Promise<string> {
	const [row] = await db<{ id: string }[]>`select id from auth.users where email = ${email}`;
	return row!.id;
}

async function costed(id: string, cost: number, count = 1) {
	await db`insert into image_generations (user_id, prompt, model_id, width, height, seed, status, image_path, cost_usd, completed_at)
		select ${id}, 'a costed picture', 'local/preview', 256, 256, 1, 'completed', 'x.png', ${cost}, now() from generate_series(1, ${count})`;
}

test('a user sees what they spent against their budget; a spent budget says so on the generate page', async ({ page }) => {
	const email = uniqueEmail('spender');
	await signUp(page, email);
	const id = await userId(email);
	await db`insert into user_limits (user_id, daily_budget_usd, monthly_budget_usd) values (${id}, 1, 20)`;
	await costed(id, 0.35, 2);
	await page.goto('/account');
	const usage = page.getByTestId('usage');
	await expect(usage).toContainText('Spent today');
	await expect(usage).toContainText('$0.70 of $1.00');
	await expect(usage).toContainText('$0.70 of $20.00');
	await screenshots(page, 'cost-account');

	await costed(id, 0.3);
	await page.goto('/generate');
	await expect(page.getByText('You have spent your daily budget.')).toBeVisible();
	await expect(page.getByTestId('usage')).toContainText('Budget spent; resets');
	await screenshots(page, 'cost-generate-budget-spent');
});

test('an administrator sets a budget on the users page and reads costs and fairness', async ({ page }) => {
	const email = uniqueEmail('budgeted');
	const [user] = await db<{ id: string }[]>`insert into auth.users (email, raw_app_meta_data) values (${email}, '{"provider":"email"}') returning id`;
	await costed(user!.id, 1.25, 3);
	await db`insert into job_queue (job_type, status, created_by, scheduled_at) values ('generate-image', 'pending', ${user!.id}, now() + interval '1 hour')`;
	// The app is shared by every e2e file: the waiting job must not outlive this test (the worker page counts waiting jobs).
	try {
		await budgetAndCosts(page, email);
	} finally {
		await db`delete from job_queue where created_by = ${user!.id}`;
	}
});

async function budgetAndCosts(page: Page, email: string) {
	await signIn(page, ADMIN.email, ADMIN.password);

	await page.goto(`/admin/users?q=${encodeURIComponent(email)}`);
	const row = page.locator(`tr[data-user="${email}"]`);
	await expect(row.getByTestId('spend')).toContainText('$3.75 today');
	await row.getByLabel('$ per day').fill('5');
	await row.getByLabel('$ per month').fill('1e3');
	await row.getByRole('button', { name: `Save limits for ${email}` }).click();
	await expect(row.getByRole('alert')).toContainText('The monthly budget must be an amount in dollars');
	await row.getByLabel('$ per day').fill('5');
	await row.getByLabel('$ per month').fill('50');
	await row.getByRole('button', { name: `Save limits for ${email}` }).click();
	await expect(row).toContainText('Limits saved: 20 an hour, 100 a day, $5 a day, $50 a month.');
	await screenshots(page, 'cost-console-users');

	await page.goto('/admin/costs');
	await expect(page.getByRole('heading', { level: 1, name: 'Costs & fairness' })).toBeVisible();
	await expect(page.getByTestId('chart-cost-per-day')).toBeVisible();
	await expect(page.getByTestId('cost-users')).toContainText(email);
	await expect(page.getByTestId('cost-models')).toContainText('local/preview');
	await expect(page.getByTestId('fairness').locator(`tr[data-user="${email}"]`)).toContainText('1');
	await screenshots(page, 'cost-console-costs');
	await page.emulateMedia({ colorScheme: 'dark' });
	await screenshotAtWidths(page, 'cost-console-costs-dark');
}
