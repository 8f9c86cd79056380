// The client module's groups against the built app, in Node (no EventSource: polling) with a
// Bearer token: start the group form (idempotent, typed errors), follow it until complete, cancel it.
import { expect, test, type Page } from '@playwright/test';
import {
	cancelGroup,
	getGroup,
	groupStatusOf,
	PictureError,
	startImageGeneration,
	subscribeToGroup,
	type ClientOptions,
	type Connection,
	type Group
} from '../../../src/lib/picture-client';
import { signUp, uniqueEmail } from '../../support/browser';
import { whilePaused } from '../../support/browser-generate';

const harbour = { prompt: 'a harbour at dusk', models: ['local/preview', 'local/detailed'], width: 256, height: 256 };

async function tokenFor(page: Page, prefix: string): Promise<string> {
	await signUp(page, uniqueEmail(prefix));
	const cookie = (await page.context().cookies()).find((c) => c.name === 'picture_session');
	expect(cookie, 'a session cookie after signing up').toBeTruthy();
	return cookie!.value;
}

test('Node: start a group (the same key, the same group), follow it by polling until complete', async ({ page, baseURL }) => {
	test.setTimeout(120_000);
	const options: ClientOptions = { baseUrl: baseURL!, token: await tokenFor(page, 'client-group') };
	const started = await startImageGeneration(options, { ...harbour, variations: 2, seed: 5 });
	expect(started.created).toBe(true);
	expect(started.group.members.map((m) => [m.model_id, m.seed])).toEqual([
		['local/preview', 5],
		['local/preview', 6],
		['local/detailed', 5],
		['local/detailed', 6]
	]);
	const again = await startImageGeneration(options, { ...harbour, variations: 2, seed: 5, idempotency_key: started.idempotencyKey });
	expect(again).toMatchObject({ groupId: started.groupId, created: false });

	const states: Connection[] = [];
	const seen: Group[] = [];
	const subscription = subscribeToGroup(options, started.groupId, (g) => seen.push(g), { pollMs: 250, onConnection: (s) => states.push(s) });
	const final = await subscription.finished;
	expect(final).toMatchObject({ id: started.groupId, status: 'done', complete: true, counts: { completed: 4, active: 0 } });
	expect(states).toContain('polling');
	expect(states[states.length - 1]).toBe('done');
	for (const g of seen) expect(groupStatusOf(g.members)).toEqual({ status: g.status, complete: g.complete });
	expect((await getGroup(options, started.groupId)).status).toBe('done');
});

test('Node: cancel a group as one; typed errors for bad input, a stranger and no token', async ({ page, browser, baseURL }) => {
	const options: ClientOptions = { baseUrl: baseURL!, token: await tokenFor(page, 'client-group-cancel') };
	await whilePaused(browser, async () => {
		const started = await startImageGeneration(options, { prompt: 'fog', model_id: 'local/preview', variations: 3, width: 256, height: 256 });
		const following = subscribeToGroup(options, started.groupId, () => {}, { pollMs: 250 });
		const cancelled = await cancelGroup(options, started.groupId);
		expect(cancelled).toMatchObject({ status: 'cancelled', complete: true, counts: { cancelled: 3 } });
		expect(await following.finished).toMatchObject({ status: 'cancelled' });
	});
	const invalid = await startImageGeneration(options, { ...harbour, variations: 9 }).catch((e: unknown) => e);
	expect(invalid).toBeInstanceOf(PictureError);
	expect(invalid).toMatchObject({ kind: 'invalid', field: 'variations' });

	const mine = await startImageGeneration(options, { ...harbour, variations: 1 });
	const other = await browser.newContext();
	const strangerToken = await tokenFor(await other.newPage(), 'client-group-stranger');
	const notFound = await getGroup({ baseUrl: baseURL!, token: strangerToken }, mine.groupId).catch((e: unknown) => e);
	expect(notFound).toMatchObject({ kind: 'not_found' });
	await other.close();
	expect(await getGroup({ baseUrl: baseURL! }, mine.groupId).catch((e: unknown) => e)).toMatchObject({ kind: 'unauthorized' });
});
