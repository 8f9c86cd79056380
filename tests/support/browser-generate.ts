// Helpers shared by the generate, history and generation-page end-to-end tests.
import { expect, type APIRequestContext, type Browser, type Page } from '@playwright/test';
import type { Sql } from 'postgres';
import { ADMIN, signIn } from './browser';

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Starts a generation through the JSON API with the page's session cookie; returns its id. */
export async function startViaApi(request: APIRequestContext, body: Record<string, unknown> = {}): Promise<string> {
	const response = await request.post('/api/generations', {
		data: { prompt: 'a small red boat on a calm lake', model_id: 'local/preview', width: 256, height: 256, ...body }
	});
	expect(response.status(), await response.text()).toBe(201);
	return (await response.json()).generation_id;
}

/** Waits (by polling the API, bounded) until the generation reaches one of the statuses; returns its JSON. */
export async function waitForStatus(request: APIRequestContext, id: string, statuses: string[], timeout = 30_000) {
	let last: { status: string } & Record<string, unknown> = { status: 'unknown' };
	await expect
		.poll(
			async () => {
				last = await (await request.get(`/api/generations/${id}`)).json();
				return statuses.includes(last.status);
			},
			{ timeout, intervals: [250] }
		)
		.toBe(true);
	return last;
}

/** Fills the generate form's prompt and picks a model by its display name. */
export async function fillGenerateForm(page: Page, prompt: string, model = 'Local preview') {
	await page.getByLabel('Prompt', { exact: true }).fill(prompt);
	await page.getByRole('radio', { name: new RegExp(`^${model}`) }).check();
}

/**
 * Runs fn with the generate-image job type paused by the administrator (the console's Worker page
 * action), so a new generation stays queued exactly as long as the test needs, whatever the
 * machine's speed. Resumed afterwards even when fn fails.
 */
export async function whilePaused(browser: Browser, fn: () => Promise<void>): Promise<void> {
	const context = await browser.newContext();
	const admin = await context.newPage();
	await signIn(admin, ADMIN.email, ADMIN.password);
	const origin = new URL(admin.url()).origin;
	const set = async (action: 'pause' | 'resume') => {
		const response = await admin.request.post(`/admin/worker?/${action}`, {
			form: { job_type: 'generate-image', reason: 'end-to-end test: hold generations in the queue' },
			headers: { origin }
		});
		expect(response.status()).toBe(200);
	};
	await set('pause');
	try {
		await fn();
	} finally {
		await set('resume');
		await context.close();
	}
}

/**
 * Records every value any progress bar on the page takes (from the next navigation on), so a value
 * that lasts less than a polling interval on a busy machine is still seen.
 */
export async function recordProgress(page: Page): Promise<() => Promise<number[]>> {
	await page.addInitScript(() => {
		const seen: number[] = [];
		(window as unknown as { __progress: number[] }).__progress = seen;
		const note = (element: Element) => {
			const value = element.getAttribute('aria-valuenow');
			if (value !== null) seen.push(Number(value));
		};
		new MutationObserver((records) => {
			for (const record of records) {
				if (record.type === 'attributes') note(record.target as Element);
				// A bar may also arrive already partway (a card first rendered while processing).
				for (const node of record.addedNodes) {
					if (node instanceof Element) [node, ...node.querySelectorAll('[aria-valuenow]')].forEach(note);
				}
			}
		}).observe(document, { attributes: true, attributeFilter: ['aria-valuenow'], childList: true, subtree: true });
	});
	return () => page.evaluate(() => (window as unknown as { __progress: number[] }).__progress ?? []);
}

/** True once a progress bar has shown a value strictly between 0 and 100. */
export const movedPartway = (values: number[]) => values.some((value) => value > 0 && value < 100);

export type Seen = Record<string, { positions: number[]; etas: string[] }>;

/**
 * Records every place in line and every ETA text the page shows, per generation (a card's or a group
 * member's data-id; "page" on a generation's own page), from the next navigation on, so a place that lasts less than
 * a polling interval on a busy machine is still seen. `clear` starts the record afresh.
 */
export async function recordPlaces(page: Page) {
	await page.addInitScript(() => {
		const state = window as unknown as { __places: Record<string, { positions: number[]; etas: string[] }> };
		state.__places = {};
		const note = () => {
			for (const place of document.querySelectorAll('[data-testid="queue-place"]')) {
				const key = place.closest('[data-id]')?.getAttribute('data-id') ?? 'page';
				const mine = (state.__places[key] ??= { positions: [], etas: [] });
				const position = Number(place.getAttribute('data-position'));
				if (mine.positions.at(-1) !== position) mine.positions.push(position);
				const eta = place.querySelector('[data-testid="queue-eta"]')?.textContent ?? '';
				if (eta && mine.etas.at(-1) !== eta) mine.etas.push(eta);
			}
		};
		new MutationObserver(note).observe(document, { attributes: true, characterData: true, childList: true, subtree: true });
	});
	return {
		read: () => page.evaluate(() => (window as unknown as { __places: Seen }).__places),
		clear: () => page.evaluate(() => void ((window as unknown as { __places: Seen }).__places = {}))
	};
}

/** What the queue-place tests accept as a wait in words (components/format.ts's formatEta). */
export const ETA = /^(about (\d+ h )?(\d+ min ?)?(\d+ s)?|starting soon|later than estimated)$/;

/**
 * The administrator's hold on one model's concurrency (the console's models page): `set` changes it,
 * `restore` puts back what it was and closes the administrator's browser context.
 */
export async function modelConcurrency(browser: Browser, modelId: string, label: string) {
	const admin = await (await browser.newContext()).newPage();
	await signIn(admin, ADMIN.email, ADMIN.password);
	const origin = new URL(admin.url()).origin;
	await admin.goto('/admin/models');
	const before = await admin.getByLabel(`Max concurrency for ${label}`).inputValue();
	const set = async (value: string) => {
		const response = await admin.request.post('/admin/models?/concurrency', { form: { model_id: modelId, max_concurrency: value }, headers: { origin } });
		expect(response.status()).toBe(200);
	};
	return { set, restore: async () => (await set(before), await admin.context().close()) };
}

/**
 * Generate-image jobs of these users snoozed for want of a model slot, or claimed and about to find
 * out (or held by a test): none once the model has as many slots as the worker, and the line then
 * only moves forward. Only the test's own users: other files share the app, and a job of theirs
 * waiting out a retry is no business of this count.
 */
export async function snoozingJobs(db: Sql, userEmails: string[]): Promise<number> {
	const [row] = await db<{ n: number }[]>`
		select count(*)::int as n from job_queue j
		join auth.users u on u.id = j.created_by
		where j.job_type = 'generate-image' and u.email = any(${userEmails})
		  and ((j.status = 'pending' and j.scheduled_at > now())
		       or (j.status = 'processing' and exists (select 1 from image_generations g where g.job_id = j.id and g.status = 'queued')))`;
	return row!.n;
}
