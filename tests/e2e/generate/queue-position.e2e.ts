// Issue 15 part 2 in Chromium: while one user's burst runs, a second user watches their
// generation's place in line ("4th in line · about 6 s") count down on its card and its page, then
// the progress bar, then the finished image. The local detailed model is held to one at a time (the
// console's concurrency setting, restored afterwards), so the line moves a place every picture and
// the test reads what the page says, whatever the machine's speed.
import { expect, test, type Page } from '@playwright/test';
import { ADMIN, screenshotAtWidths, signIn, signUp, uniqueEmail } from '../../support/browser';
import { fillGenerateForm, startViaApi } from '../../support/browser-generate';

const MODEL = 'local/detailed';
const BURST = 10;
const EARLIER = 4;

type Seen = Record<string, { positions: number[]; etas: string[] }>;

/**
 * Records every place in line and every ETA text the page shows, per generation (a card's data-id;
 * "page" on a generation's own page), from the next navigation on, so a place that lasts less than
 * a polling interval on a busy machine is still seen.
 */
async function recordPlaces(page: Page): Promise<() => Promise<Seen>> {
	await page.addInitScript(() => {
		const seen: Record<string, { positions: number[]; etas: string[] }> = {};
		(window as unknown as { __places: typeof seen }).__places = seen;
		const note = () => {
			for (const place of document.querySelectorAll('[data-testid="queue-place"]')) {
				const key = place.closest('[data-id]')?.getAttribute('data-id') ?? 'page';
				const mine = (seen[key] ??= { positions: [], etas: [] });
				const position = Number(place.getAttribute('data-position'));
				if (mine.positions.at(-1) !== position) mine.positions.push(position);
				const eta = place.querySelector('[data-testid="queue-eta"]')?.textContent ?? '';
				if (eta && mine.etas.at(-1) !== eta) mine.etas.push(eta);
			}
		};
		new MutationObserver(note).observe(document, { attributes: true, characterData: true, childList: true, subtree: true });
	});
	return () => page.evaluate(() => (window as unknown as { __places: Seen }).__places);
}

/** Places only ever go down (never further back in line); `moved`: and went down at least once. */
function countsDown(positions: number[] = [], moved = true): boolean {
	return (!moved || positions.length >= 2) && positions.every((p, i) => i === 0 || p < positions[i - 1]!);
}

const ETA = /^(about (\d+ h )?(\d+ min ?)?(\d+ s)?|starting soon|later than estimated)$/;

test('a second user watches their place in line count down while the first user’s burst runs, then the picture', async ({ browser }) => {
	test.setTimeout(180_000);
	const admin = await (await browser.newContext()).newPage();
	await signIn(admin, ADMIN.email, ADMIN.password);
	const origin = new URL(admin.url()).origin;
	await admin.goto('/admin/models');
	const before = await admin.getByLabel('Max concurrency for Local detailed').inputValue();
	const setConcurrency = async (value: string) => {
		const response = await admin.request.post('/admin/models?/concurrency', { form: { model_id: MODEL, max_concurrency: value }, headers: { origin } });
		expect(response.status()).toBe(200);
	};

	const heavyContext = await browser.newContext();
	const heavy = await heavyContext.newPage();
	await signUp(heavy, uniqueEmail('burst'));
	const lightContext = await browser.newContext();
	const light = await lightContext.newPage();
	await signUp(light, uniqueEmail('watcher'));
	const onGenerate = await recordPlaces(light);
	const started: Array<{ request: typeof heavy.request; id: string }> = [];

	await setConcurrency('1');
	try {
		for (let i = 0; i < BURST; i++) started.push({ request: heavy.request, id: await startViaApi(heavy.request, { model_id: MODEL, prompt: `burst picture ${i + 1}`, seed: i + 1 }) });
		// The second user has a few in line already (fair share takes turns between the two users, so
		// the one watched waits behind some of each), then starts one more through the form.
		for (let i = 0; i < EARLIER; i++) started.push({ request: light.request, id: await startViaApi(light.request, { model_id: MODEL, prompt: `an earlier lighthouse ${i + 1}`, seed: i + 1 }) });
		await light.goto('/generate');
		await fillGenerateForm(light, 'A lighthouse in the fog, its lamp just lit', 'Local detailed');
		await light.getByRole('button', { name: 'Generate' }).click();
		const card = light.getByTestId('current').getByTestId('generation-card');
		await expect(card).toHaveCount(1);
		const id = (await card.getAttribute('data-id'))!;
		started.push({ request: light.request, id });

		const place = card.getByTestId('queue-place');
		await expect(place).toBeVisible({ timeout: 20_000 });
		await expect(place).toContainText(/^(Next|\d+(st|nd|rd|th)) in line/);
		await expect(card.getByTestId('queue-eta')).toHaveText(ETA);
		// Screen readers hear the place as it changes, not the countdown every second.
		await expect(place.locator('[aria-live="polite"]')).toHaveText(/in line$/);
		await expect(place.locator('[aria-live] [data-testid="queue-eta"]')).toHaveCount(0);

		// Its page, in a second tab of the same user, says the same while it waits.
		const detail = await lightContext.newPage();
		const onPage = await recordPlaces(detail);
		await detail.goto(`/generations/${id}`);
		const pagePlace = detail.getByTestId('waiting').getByTestId('queue-place');
		await expect(pagePlace).toBeVisible();
		await expect(pagePlace).toContainText(/in line/);
		await expect(detail.getByTestId('queue-eta')).toHaveText(ETA);
		await screenshotAtWidths(detail, 'queue-position-page');
		await detail.emulateMedia({ colorScheme: 'dark' });
		await screenshotAtWidths(detail, 'queue-position-page-dark');
		await expect(place).toBeVisible(); // still waiting: the card's screenshots show it in line
		await screenshotAtWidths(light, 'queue-position-card');
		await light.emulateMedia({ colorScheme: 'dark' });
		await screenshotAtWidths(light, 'queue-position-card-dark');
		await light.emulateMedia({ colorScheme: 'light' });

		// The card: its place counts down, then it paints (the place gone), then the picture.
		await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'processing', { timeout: 90_000 });
		await expect(card.getByTestId('queue-place')).toHaveCount(0);
		await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'completed', { timeout: 30_000 });
		await expect(card.getByRole('img')).toBeVisible();
		const seenOnCard = (await onGenerate())[id];
		expect(countsDown(seenOnCard?.positions), `places on the card: ${seenOnCard?.positions.join(', ')}`).toBe(true);
		expect(seenOnCard?.etas.length).toBeGreaterThan(0);
		for (const eta of seenOnCard?.etas ?? []) expect(eta).toMatch(ETA);

		await expect(detail.getByTestId('image')).toBeVisible({ timeout: 30_000 });
		await expect(detail.getByTestId('queue-place')).toHaveCount(0);
		const seenOnPage = (await onPage()).page;
		expect(countsDown(seenOnPage?.positions, false), `places on the page: ${seenOnPage?.positions.join(', ')}`).toBe(true);
		expect(seenOnPage?.positions.length).toBeGreaterThan(0);
	} finally {
		await setConcurrency(before);
		// What is left goes, so later files start with an empty line.
		for (const { request, id } of started) await request.delete(`/api/generations/${id}`);
		await heavyContext.close();
		await lightContext.close();
		await admin.context().close();
	}
});
