// The client module (src/lib/picture-client) against the built app. In this Node process there is
// no EventSource, so it takes the fetch-stream path (and polling when asked); in Chromium the
// generate page uses it through watch.ts, by EventSource. A signed-in user's session token is the
// Bearer token, as an API client would send it.
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { expect, test, type Page } from '@playwright/test';
import {
	cancelGeneration,
	getGeneration,
	imageUrl,
	PictureError,
	startImageGeneration,
	subscribeToGeneration,
	type ClientOptions,
	type Connection,
	type Generation,
	type SubscribeOptions
} from '../../../src/lib/picture-client';
import { connectToAppDatabase, screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';
import { fillGenerateForm, PNG_SIGNATURE, whilePaused } from '../../support/browser-generate';

const boat = { prompt: 'a small red boat on a calm lake', model_id: 'local/preview', width: 256, height: 256 };

async function tokenFor(page: Page, prefix: string): Promise<{ token: string; email: string }> {
	const email = uniqueEmail(prefix);
	await signUp(page, email);
	const cookie = (await page.context().cookies()).find((c) => c.name === 'picture_session');
	expect(cookie, 'a session cookie after signing up').toBeTruthy();
	return { token: cookie!.value, email };
}

function follow(options: ClientOptions, id: string, more: SubscribeOptions = {}) {
	const updates: Generation[] = [];
	const states: Connection[] = [];
	const errors: PictureError[] = [];
	const subscription = subscribeToGeneration(options, id, (g) => updates.push(g), {
		...more,
		onConnection: (s) => states.push(s),
		onError: (e) => errors.push(e)
	});
	return { updates, states, errors, subscription };
}

/**
 * Each state delivered once: a new event_seq, or (while it waits in line) a new place at the same
 * one, which position events bring without the generation changing.
 */
function eachOnce(updates: Generation[]): boolean {
	const states = updates.map((g) => `${g.event_seq} ${g.queue_position} ${g.estimated_start_at} ${g.estimated_done_at}`);
	return new Set(states).size === states.length;
}

/** What a thrown promise threw (so a test can look at the typed error). */
async function thrown(promise: Promise<unknown>): Promise<unknown> {
	try {
		await promise;
	} catch (err) {
		return err;
	}
	throw new Error('expected it to throw');
}

test('Node, fetch stream with a Bearer token: start (idempotent), live progress to the end, the image', async ({ page, baseURL }) => {
	const { token } = await tokenFor(page, 'client-stream');
	const options: ClientOptions = { baseUrl: baseURL!, token };
	expect(typeof (globalThis as { EventSource?: unknown }).EventSource).toBe('undefined'); // the fallback path is what runs here

	const started = await startImageGeneration(options, { ...boat, model_id: 'local/detailed' });
	expect(started).toMatchObject({ created: true, status: 'queued' });
	const again = await startImageGeneration(options, { ...boat, model_id: 'local/detailed', idempotency_key: started.idempotencyKey });
	expect(again).toMatchObject({ generationId: started.generationId, created: false });

	const { updates, states, errors, subscription } = follow(options, started.generationId);
	const final = await subscription.finished;
	expect(final?.status).toBe('completed');
	expect(errors).toEqual([]);
	expect(states[0]).toBe('connecting');
	expect(states).toContain('live');
	expect(states.at(-1)).toBe('done');
	expect(states).not.toContain('polling');
	const seqs = updates.map((g) => g.event_seq);
	expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
	expect(eachOnce(updates)).toBe(true);
	expect(updates.some((g) => g.status === 'processing' && g.progress > 0 && g.progress < 100)).toBe(true);

	const url = imageUrl(options, final!);
	expect(url).toBe(`${baseURL}/api/generations/${started.generationId}/image`);
	const image = await fetch(url!, { headers: { authorization: `Bearer ${token}` } });
	expect(image.status).toBe(200);
	expect([...new Uint8Array(await image.arrayBuffer()).subarray(0, 8)]).toEqual(PNG_SIGNATURE);
});

test('Node: the connection cut mid-stream reconnects with Last-Event-ID and misses nothing', async ({ page, baseURL }) => {
	const { token } = await tokenFor(page, 'client-cut');
	// A TCP relay in front of the app, so the test can drop the connection as a network would.
	const app = new URL(baseURL!);
	const sockets: Socket[] = [];
	const heads: string[] = [];
	const relay = createServer((client) => {
		const upstream = connect(Number(app.port), app.hostname);
		sockets.push(client, upstream);
		client.once('data', (chunk) => heads.push(chunk.toString('latin1')));
		client.pipe(upstream).pipe(client);
		const drop = () => (client.destroy(), upstream.destroy());
		client.on('error', drop).on('close', drop);
		upstream.on('error', drop).on('close', drop);
	});
	relay.listen(0, '127.0.0.1');
	await once(relay, 'listening');
	try {
		const options: ClientOptions = { baseUrl: `http://127.0.0.1:${(relay.address() as { port: number }).port}`, token };
		const started = await startImageGeneration({ baseUrl: baseURL!, token }, { ...boat, model_id: 'local/detailed' });
		let cut = false;
		const updates: Generation[] = [];
		const states: Connection[] = [];
		const subscription = subscribeToGeneration(
			options,
			started.generationId,
			(g) => {
				updates.push(g);
				// Partway through: every open connection through the relay dies.
				if (!cut && g.status === 'processing' && g.progress > 0) {
					cut = true;
					for (const socket of sockets.splice(0)) socket.destroy();
				}
			},
			{ onConnection: (s) => states.push(s) }
		);
		const final = await subscription.finished;
		expect(cut).toBe(true);
		expect(final?.status).toBe('completed');
		expect(states).toContain('reconnecting');
		const streamHeads = heads.filter((h) => h.startsWith(`GET /api/generations/${started.generationId}/events`));
		expect(streamHeads.length).toBeGreaterThanOrEqual(2);
		expect(streamHeads[0]).not.toMatch(/last-event-id/i);
		const cutAt = updates.find((g) => g.status === 'processing' && g.progress > 0)!.event_seq;
		expect(streamHeads[1]).toMatch(new RegExp(`last-event-id: ${cutAt}\\r\\n`, 'i'));
		const seqs = updates.map((g) => g.event_seq);
		expect(eachOnce(updates)).toBe(true);
		expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
	} finally {
		for (const socket of sockets) socket.destroy();
		relay.close();
	}
});

test('Node, polling: follows a generation by GET to the end', async ({ page, baseURL }) => {
	const { token } = await tokenFor(page, 'client-poll');
	const options: ClientOptions = { baseUrl: baseURL!, token };
	const started = await startImageGeneration(options, boat);
	const { updates, states, subscription } = follow(options, started.generationId, { transport: 'poll', pollMs: 200 });
	expect((await subscription.finished)?.status).toBe('completed');
	expect(states).toEqual(['polling', 'done']);
	expect(updates.at(-1)?.image_url).toBe(`/api/generations/${started.generationId}/image`);
	expect((await getGeneration(options, started.generationId)).status).toBe('completed');
});

test('Node: cancel ends a queued generation, and the subscription with it', async ({ page, browser, baseURL }) => {
	const { token } = await tokenFor(page, 'client-cancel');
	const options: ClientOptions = { baseUrl: baseURL!, token };
	await whilePaused(browser, async () => {
		const started = await startImageGeneration(options, boat);
		const { updates, subscription } = follow(options, started.generationId);
		await expect.poll(() => updates.length).toBeGreaterThan(0);
		expect(updates[0]!.status).toBe('queued');
		const cancelled = await cancelGeneration(options, started.generationId);
		expect(cancelled.status).toBe('cancelled');
		expect((await subscription.finished)?.status).toBe('cancelled');
	});
});

test('Node: 401, 404 and 429 arrive as typed errors with the server message', async ({ page, baseURL }) => {
	const anonymous: ClientOptions = { baseUrl: baseURL!, token: 'not-a-real-token' };
	const unauthorized = await thrown(startImageGeneration(anonymous, boat));
	expect(unauthorized).toBeInstanceOf(PictureError);
	expect(unauthorized).toMatchObject({ kind: 'unauthorized', status: 401 });
	expect((unauthorized as PictureError).message.length).toBeGreaterThan(0);

	const { token, email } = await tokenFor(page, 'client-errors');
	const options: ClientOptions = { baseUrl: baseURL!, token };
	const missing = follow(options, '00000000-0000-4000-8000-000000000000');
	expect(await missing.subscription.finished).toBeNull();
	expect(missing.errors.map((e) => [e.kind, e.status, e.message])).toEqual([['not_found', 404, 'No such generation']]);
	expect(await thrown(cancelGeneration(options, '00000000-0000-4000-8000-000000000000'))).toMatchObject({ kind: 'not_found' });
	const badToken = follow({ ...options, token: 'expired' }, '00000000-0000-4000-8000-000000000000');
	await badToken.subscription.finished;
	expect(badToken.errors.map((e) => e.kind)).toEqual(['unauthorized']);

	const invalid = await thrown(startImageGeneration(options, { ...boat, prompt: '   ' }));
	expect(invalid).toMatchObject({ kind: 'invalid', status: 400, field: 'prompt' });

	const db = await connectToAppDatabase();
	try {
		await db`insert into user_limits (user_id, hourly_limit) select id, 1 from auth.users where email = ${email}`;
	} finally {
		await db.end();
	}
	await startImageGeneration(options, boat);
	const limited = await thrown(startImageGeneration(options, boat));
	expect(limited).toBeInstanceOf(PictureError);
	expect(limited).toMatchObject({ kind: 'rate_limited', status: 429 });
	expect((limited as PictureError).retryAfterSeconds).toBeGreaterThan(0);
	expect((limited as PictureError).message).toBe('You have used all 1 generations for this hour');
	expect((limited as PictureError).body).toMatchObject({ limits: { hourly_limit: 1, hourly_used: 1 } });
});

test('Chromium: the generate page follows its generation through the module by EventSource', async ({ page }) => {
	test.setTimeout(90_000);
	const streams: string[] = [];
	page.on('request', (request) => {
		if (request.resourceType() === 'eventsource') streams.push(new URL(request.url()).pathname);
	});
	await signUp(page, uniqueEmail('client-browser'));
	await fillGenerateForm(page, 'A glass greenhouse at dawn, mist on the panes', 'Local detailed');
	await page.getByRole('button', { name: 'Generate' }).click();
	const card = page.getByTestId('generation-card').first();
	await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'processing', { timeout: 20_000 });
	const id = (await card.getAttribute('data-id'))!;
	await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'completed', { timeout: 30_000 });
	await expect(card.getByRole('img')).toBeVisible();
	expect(streams).toContain(`/api/generations/${id}/events`);
	await screenshotAtWidths(page, 'client-module-generate');
});
