import { readFile } from 'node:fs/promises';
import { expect, test } from '@playwright/test';
import { fillGenerateForm, movedPartway, PNG_SIGNATURE, recordProgress, startViaApi, waitForStatus, whilePaused } from '../../support/browser-generate';
import { connectToAppDatabase, screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

test('generate: the progress bar moves, the image shows, it is in the history, the download is a PNG', async ({ page }) => {
	test.setTimeout(120_000); // ten screenshots on a busy machine
	const progressValues = await recordProgress(page);
	await signUp(page, uniqueEmail('painter'));
	await expect(page).toHaveURL(/\/generate$/);
	await expect(page.getByTestId('usage')).toContainText('0 of 20');
	await screenshotAtWidths(page, 'generate-empty');

	// An example fills the prompt; the count follows.
	await page.getByRole('link', { name: /Misty pine forest/ }).click();
	await expect(page.getByLabel('Prompt', { exact: true })).toHaveValue(/^Misty pine forest/);
	await expect(page.getByTestId('prompt-count')).toContainText('/ 2000');
	// The slower model, so the progress bar has time to show a value between 0 and 100.
	await fillGenerateForm(page, 'A lighthouse on a cliff in a storm, warm light in the window', 'Local detailed');
	await page.getByRole('button', { name: 'Generate' }).click();

	const card = page.getByTestId('generation-card').first();
	await expect(card).toBeVisible();
	await expect(page).toHaveURL(/\/generate$/); // stays on the page, the card is live
	const id = (await card.getAttribute('data-id'))!;
	await expect.poll(async () => movedPartway(await progressValues()), { timeout: 20_000 }).toBe(true);
	await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'completed', { timeout: 20_000 });
	await expect(card.getByRole('img')).toBeVisible();
	await expect(card.getByRole('img')).toHaveJSProperty('complete', true);
	await expect(page.getByTestId('usage')).toContainText('1 of 20');
	await screenshotAtWidths(page, 'generate-completed');
	await page.emulateMedia({ colorScheme: 'dark' });
	await screenshotAtWidths(page, 'generate-completed-dark');
	await page.emulateMedia({ colorScheme: 'light' });

	await page.getByRole('link', { name: 'History', exact: true }).click();
	const inHistory = page.locator(`[data-testid=history] [data-id="${id}"]`);
	await expect(inHistory).toBeVisible();
	await expect(inHistory.getByTestId('status')).toHaveAttribute('data-status', 'completed');
	await screenshotAtWidths(page, 'history');

	await inHistory.getByRole('link').first().click();
	await expect(page).toHaveURL(new RegExp(`/generations/${id}$`));
	await expect(page.getByTestId('image')).toBeVisible();
	await expect(page.getByTestId('settings')).toContainText('Local detailed');
	await expect(page.getByTestId('status-history')).toContainText('Completed');
	await screenshotAtWidths(page, 'generation-completed');
	await page.emulateMedia({ colorScheme: 'dark' });
	await screenshotAtWidths(page, 'generation-completed-dark');
	await page.emulateMedia({ colorScheme: 'light' });

	const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
	expect(download.suggestedFilename()).toBe(`picture-${id}.png`);
	const bytes = await readFile((await download.path())!);
	expect([...bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
});

test('a queued generation can be cancelled from its card and never completes', async ({ page, browser }) => {
	test.setTimeout(120_000);
	await signUp(page, uniqueEmail('canceller'));
	let id = '';
	await whilePaused(browser, async () => {
		await fillGenerateForm(page, 'A paper lantern floating over a river');
		await page.getByRole('button', { name: 'Generate' }).click();
		const card = page.getByTestId('generation-card').first();
		await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'queued');
		id = (await card.getAttribute('data-id'))!;
		await expect(card.getByRole('progressbar')).toHaveAttribute('aria-valuetext', 'Waiting in the queue');
		await screenshotAtWidths(page, 'generate-queued');
		await card.getByRole('button', { name: 'Cancel' }).click();
		await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'cancelled');
		await expect(card.getByRole('button', { name: 'Cancel' })).toHaveCount(0);
	});

	// With the queue running again, a later generation completes; the cancelled one never runs.
	const later = await startViaApi(page.request, { prompt: 'after the cancelled one' });
	await waitForStatus(page.request, later, ['completed']);
	const after = await (await page.request.get(`/api/generations/${id}`)).json();
	expect(after).toMatchObject({ status: 'cancelled', image_url: null, progress: 0 });
	expect(after.history.map((h: { status: string }) => h.status)).toEqual(['cancelled']);
	await expect(page.locator(`[data-id="${id}"]`).getByTestId('status')).toHaveAttribute('data-status', 'cancelled');
});

test('over the hourly limit, the form says so and when it resets', async ({ page }) => {
	const email = uniqueEmail('busy');
	await signUp(page, email);
	// An administrator's override (the Users page sets the same row): two an hour, used up through the JSON API.
	const db = await connectToAppDatabase();
	await db`insert into user_limits (user_id, hourly_limit) select id, 2 from auth.users where email = ${email}`;
	await db.end();
	await Promise.all(Array.from({ length: 2 }, (_, i) => startViaApi(page.request, { prompt: `quick sketch ${i}` })));

	await fillGenerateForm(page, 'One more, please');
	await page.getByRole('button', { name: 'Generate' }).click();
	const alert = page.getByRole('alert');
	await expect(alert).toContainText('You have used all 2 generations for this hour');
	await expect(alert).toContainText(/Your limit resets in (1 hour|\d+ minutes)\s\(at \d\d?:\d\d/);
	await expect(page.getByTestId('generation-card').filter({ hasText: 'One more, please' })).toHaveCount(0);
	await screenshotAtWidths(page, 'generate-over-limit');
});

test('the form checks the prompt and the size before posting, and shows unavailable models', async ({ page }) => {
	await signUp(page, uniqueEmail('careful'));
	await page.getByLabel('Prompt', { exact: true }).fill('   ');
	await page.getByRole('button', { name: 'Generate' }).click();
	await expect(page.getByRole('alert')).toHaveText('Write a prompt describing the image.');
	// The browser's own checks stop a size the model cannot make (min, max and step come from the model).
	await page.getByLabel('Prompt', { exact: true }).fill('a tiny house');
	await page.getByText('Custom', { exact: true }).click();
	const width = page.getByRole('spinbutton', { name: 'Width' });
	await width.fill('500');
	await page.getByRole('button', { name: 'Generate' }).click();
	expect(await width.evaluate((el: HTMLInputElement) => el.validity.stepMismatch)).toBe(true);
	await expect(page.getByTestId('generation-card')).toHaveCount(0);
	// Replicate models show why they cannot be chosen.
	await expect(page.getByRole('radio', { name: /FLUX\.1 \[schnell\]/ })).toBeDisabled();
	await expect(page.getByText(/Unavailable: Replicate models need REPLICATE_API_TOKEN/).first()).toBeVisible();
});

test('the seed number is wide enough for its placeholder and stays inside the form at every width', async ({ page }) => {
	await signUp(page, uniqueEmail('seedfield'));
	const seed = page.getByRole('group', { name: 'Seed', exact: true });
	const number = page.getByLabel('Seed number');
	for (const width of [1280, 820, 390]) {
		await page.setViewportSize({ width, height: 900 });
		for (const mode of ['Random', 'Fixed']) {
			await seed.getByText(mode, { exact: true }).click();
			// The placeholder ("random", or "0 – 4294967295") fits in the box, padding aside.
			const fits = await number.evaluate((input: HTMLInputElement) => {
				const style = getComputedStyle(input);
				const context = document.createElement('canvas').getContext('2d')!;
				context.font = `${style.fontSize} ${style.fontFamily}`;
				const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
				return { text: input.placeholder, needs: context.measureText(input.placeholder).width, room };
			});
			expect(fits.needs, `"${fits.text}" at ${width} px`).toBeLessThanOrEqual(fits.room);
			// Neither the number nor Roll runs out of the Seed group, and the group keeps to the Model column.
			const group = (await seed.boundingBox())!;
			const model = (await page.getByRole('group', { name: 'Model' }).boundingBox())!;
			for (const part of [number, seed.getByRole('button', { name: 'Roll' })]) {
				const box = (await part.boundingBox())!;
				expect(box.x + box.width, `${width} px`).toBeLessThanOrEqual(group.x + group.width + 0.5);
			}
			expect(group.x + group.width, `${width} px`).toBeLessThanOrEqual(model.x + model.width + 0.5);
		}
	}
});
