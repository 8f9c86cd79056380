// A group waits behind another user's burst, in Chromium: every member on the group page says its
// place ("3rd in line · about 8 s"), one whose job a worker holds says "Starting…", and a browser
// whose clock is five minutes fast counts the same seconds. Then the line moves and the members'
// places count down until every picture is done. The test reads what the page says.
//
// The line is held first (the local detailed model one at a time, its one slot taken by a generation
// that never ends: a row, no job) so the screenshots catch it waiting; then it moves four at a time. The "worker elsewhere" that
// holds the first member's job is a lease written by the test: no worker of ours ever admits it.
import { expect, test } from '@playwright/test';
import { connectToAppDatabase, screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';
import { ETA, modelConcurrency, recordPlaces, snoozingJobs, startViaApi } from '../../support/browser-generate';

const MODEL = 'local/detailed';
const BURST = 10;
/** The watcher's own singles ahead of the group in its lane: they put the members well back in line. */
const EARLIER = 4;
/** The e2e app's in-process worker (WORKER_CONCURRENCY's default). */
const WORKER_SLOTS = '4';

/** "about 1 min 5 s" -> 65; null for the words without a number. */
function etaSeconds(text: string): number | null {
	const match = /^about (?:(\d+) h ?)?(?:(\d+) min ?)?(?:(\d+) s)?$/.exec(text);
	if (!match) return null;
	const [, h, m, s] = match.map((part) => Number(part ?? 0));
	return h! * 3600 + m! * 60 + s!;
}

test('a group behind another user\'s burst: each member\'s place, "Starting…", a fast clock, then the places count down', async ({ browser }) => {
	test.setTimeout(240_000);
	const db = await connectToAppDatabase();
	const concurrency = await modelConcurrency(browser, MODEL, 'Local detailed');
	const setConcurrency = concurrency.set;

	const heavyContext = await browser.newContext();
	const heavy = await heavyContext.newPage();
	const heavyEmail = uniqueEmail('group-burst');
	await signUp(heavy, heavyEmail);
	const watcherContext = await browser.newContext();
	const watcher = await watcherContext.newPage();
	const watcherEmail = uniqueEmail('group-watcher');
	await signUp(watcher, watcherEmail);
	const burst: string[] = [];
	const earlier: string[] = [];
	let groupId = '';
	let heldJob: string | null = null;

	await setConcurrency('1');
	const [holder] = await db<{ id: string }[]>`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status, started_at, run_started_at)
		select id, 'holding the slot', ${MODEL}, 512, 512, 1, 'processing', now(), now() from auth.users where email = ${heavyEmail}
		returning id`;
	const release = async () => {
		if (heldJob) await db`update job_queue set status = 'pending', locked_by = null, locked_until = null where id = ${heldJob} and locked_by = 'e2e-elsewhere'`;
		heldJob = null;
		await db`delete from image_generations where id = ${holder!.id}`;
	};
	try {
		for (let i = 0; i < BURST; i++) burst.push(await startViaApi(heavy.request, { model_id: MODEL, prompt: `burst picture ${i + 1}`, seed: i + 1 }));
		for (let i = 0; i < EARLIER; i++) earlier.push(await startViaApi(watcher.request, { model_id: MODEL, prompt: `an earlier lighthouse ${i + 1}`, seed: i + 1 }));
		const started = await watcher.request.post('/api/generations', {
			data: { prompt: 'three lighthouses on one coast', models: [MODEL], variations: 3, width: 256, height: 256, seed: 5 }
		});
		expect(started.status(), await started.text()).toBe(201);
		groupId = (await started.json()).group_id;
		// A worker elsewhere holds the first member's job: claimed, not yet rendering. Taken while the
		// job is pending (our own worker claims and snoozes jobs the model has no slot for).
		await expect
			.poll(async () => {
				const rows = await db<{ id: string }[]>`
					update job_queue set status = 'processing', locked_by = 'e2e-elsewhere', locked_until = now() + interval '10 minutes'
					where id = (select job_id from image_generations where group_id = ${groupId} and group_position = 0) and status = 'pending'
					returning id`;
				heldJob = rows[0]?.id ?? null;
				return heldJob !== null;
			}, { timeout: 20_000 })
			.toBe(true);

		const seen = await recordPlaces(watcher);
		await watcher.goto(`/groups/${groupId}`);
		const members = watcher.getByTestId('member');
		await expect(members).toHaveCount(3);
		const [first, ...rest] = [members.nth(0), members.nth(1), members.nth(2)];
		await expect(first!.getByTestId('starting')).toHaveText('Starting…', { timeout: 20_000 });
		await expect(first!.getByTestId('status')).toHaveText('Starting');
		await expect(first!.getByTestId('queue-place')).toHaveCount(0);
		for (const member of rest) {
			await expect(member.getByTestId('queue-place')).toContainText(/^(Next|\d+(st|nd|rd|th)) in line/, { timeout: 20_000 });
			await expect(member.getByTestId('queue-eta')).toHaveText(ETA);
		}
		// A grid of members stays quiet: only the badges are announced.
		await expect(watcher.getByTestId('members').locator('[data-testid="queue-place"] [aria-live]')).toHaveCount(0);
		await screenshotAtWidths(watcher, 'group-places');
		await watcher.emulateMedia({ colorScheme: 'dark' });
		await screenshotAtWidths(watcher, 'group-places-dark');
		await watcher.emulateMedia({ colorScheme: 'light' });

		// The held member's own page says so too, and shows no place.
		const memberPage = await watcherContext.newPage();
		await memberPage.goto(`/generations/${await first!.getAttribute('data-id')}`);
		await expect(memberPage.getByTestId('waiting').getByTestId('starting')).toHaveText('Starting…');
		await expect(memberPage.getByTestId('status')).toHaveText('Starting');
		await expect(memberPage.getByTestId('queue-place')).toHaveCount(0);
		await screenshotAtWidths(memberPage, 'generation-starting');
		await memberPage.close();

		// The same page in a browser whose clock runs five minutes fast: the same waits, not "later than estimated".
		const fastContext = await browser.newContext({ storageState: await watcherContext.storageState() });
		try {
			const fast = await fastContext.newPage();
			await fast.clock.install({ time: Date.now() + 5 * 60_000 });
			await fast.goto(`/groups/${groupId}`);
			for (let i = 1; i < 3; i++) {
				const eta = async (page: typeof fast) => (await page.getByTestId('member').nth(i).getByTestId('queue-eta').textContent()) ?? '';
				await expect(fast.getByTestId('member').nth(i).getByTestId('queue-eta')).toHaveText(ETA);
				// Read together, the two browsers agree to within the estimate's own movement (a refresh a second).
				await expect
					.poll(async () => {
						const [mine, theirs] = await Promise.all([eta(fast), eta(watcher)]);
						const a = etaSeconds(mine);
						const b = etaSeconds(theirs);
						return mine === theirs || (a !== null && b !== null && Math.abs(a - b) <= 3);
					}, { timeout: 10_000 })
					.toBe(true);
				expect(await eta(fast)).not.toBe('later than estimated');
			}
			await screenshotAtWidths(fast, 'group-places-fast-clock');
		} finally {
			await fastContext.close();
		}

		// Let the line move: the held job goes back in line and the slot frees. The model gets the
		// worker's four slots, and the line is held (generating paused) until nothing is snoozing, so
		// from then on it only moves forward (docs/queue-position.md, Limits).
		await db`select public.pause_job_type('generate-image', null, 'group-places e2e')`;
		await release();
		await setConcurrency(WORKER_SLOTS);
		await expect.poll(() => snoozingJobs(db, [heavyEmail, watcherEmail]), { timeout: 30_000 }).toBe(0);
		await seen.clear();
		await db`select public.resume_job_type('generate-image')`;
		await expect(watcher.getByTestId('group-status')).toHaveAttribute('data-status', 'done', { timeout: 150_000 });
		await expect(watcher.locator('[data-testid="member"][data-status="completed"] img')).toHaveCount(3);
		await expect(watcher.getByTestId('queue-place')).toHaveCount(0);
		const places = await seen.read();
		const ids = await members.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-id')!));
		const told = ids.map((id) => places[id] ?? { positions: [], etas: [] });
		test.info().annotations.push({ type: 'members\' places', description: told.map((t) => t.positions.join(', ') || '-').join(' | ') });
		// Counting down: a member passed through several places, and each ended nearer the front than it
		// began (more claimers than lanes can step a place back by a few on the way: Limits again).
		expect(told.some((t) => t.positions.length >= 2), JSON.stringify(told)).toBe(true);
		for (const t of told.filter((t) => t.positions.length >= 2)) expect(t.positions.at(-1)!, JSON.stringify(told)).toBeLessThan(t.positions[0]!);
		for (const eta of told.flatMap((t) => t.etas)) expect(eta).toMatch(ETA);
	} finally {
		await db`select public.resume_job_type('generate-image')`;
		await release();
		await concurrency.restore();
		if (groupId) await watcher.request.delete(`/api/groups/${groupId}`);
		for (const id of burst) await heavy.request.delete(`/api/generations/${id}`);
		for (const id of earlier) await watcher.request.delete(`/api/generations/${id}`);
		await heavyContext.close();
		await watcherContext.close();
		await db.end();
	}
});
