// The whole path with the built-in model: POST -> job -> worker -> stored PNG + WebP thumbnail,
// watched live over SSE; images served only to their owner and admins.
import sharp from 'sharp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { POST as start } from '$routes/api/generations/+server';
import { GET as events } from '$routes/api/generations/[id]/events/+server';
import { GET as image } from '$routes/api/generations/[id]/image/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { collectSse, readSse } from '../../support/sse';

let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	// A paced model, so there is progress to watch between "queued" and "completed".
	services = await testServices(db, 'app', { LOCAL_MODEL_MS_PER_IMAGE: '1500' });
	alice = await signedInUser(services);
	bob = await signedInUser(services);
	admin = await signedInUser(services, { admin: true });
});
afterAll(async () => {
	await services.events.close();
	await db.drop();
});

const work = () =>
	runWorkerForBudget({ sql: db.sql, handlers: services.handlers, trigger: 'manual', budgetMs: 20_000, concurrency: 2, leaseSeconds: 30 });

test('from the request to a stored image, with progress streamed as it happens', async () => {
	const created = await call(start, services, {
		method: 'POST',
		body: { prompt: 'a sunset over mountains', model_id: 'local/preview', width: 512, height: 384, seed: 7 },
		user: alice.user
	});
	const { generation_id: id } = await created.json();

	const stream = await call(events, services, { params: { id }, user: alice.user });
	expect(stream.headers.get('content-type')).toContain('text/event-stream');
	const reader = readSse(stream);
	const first = (await reader.next()).value!;
	// The rest arrives while the worker runs.
	const rest = (async () => {
		const events = [];
		for await (const event of reader) events.push(event);
		return events;
	})();
	const result = await work();
	expect(result).toMatchObject({ processed: 1, errors: 0 });

	// Places in line (position events, no id) may come between: the states are the generation events.
	const updates = [first, ...(await rest)].filter((e) => e.event === 'generation').map((e) => ({ ...JSON.parse(e.data), seq: Number(e.id) }));
	expect(updates[0]!.status).toBe('queued');
	expect(updates.at(-1)).toMatchObject({ status: 'completed', progress: 100, image_url: `/api/generations/${id}/image` });
	const midway = updates.filter((u) => u.status === 'processing' && u.progress > 0 && u.progress < 100);
	expect(midway.length).toBeGreaterThan(0);
	for (let i = 1; i < updates.length; i++) {
		expect(updates[i]!.seq).toBeGreaterThan(updates[i - 1]!.seq);
		expect(updates[i]!.progress).toBeGreaterThanOrEqual(updates[i - 1]!.progress);
	}

	const [row] = await db.sql`select * from image_generations where id = ${id}`;
	expect(row).toMatchObject({ status: 'completed', image_content_type: 'image/png', progress: 100 });
	expect(row!.history.map((h: { status: string }) => h.status)).toEqual(['processing', 'completed']);
	expect(row!.completed_at.getTime()).toBeGreaterThanOrEqual(row!.started_at.getTime());

	const png = await call(image, services, { params: { id }, path: `/api/generations/${id}/image`, user: alice.user });
	expect(png.status).toBe(200);
	expect(png.headers.get('content-type')).toBe('image/png');
	expect(png.headers.get('cache-control')).toContain('private');
	const bytes = Buffer.from(await png.arrayBuffer());
	expect(await sharp(bytes).metadata()).toMatchObject({ format: 'png', width: 512, height: 384 });
	expect(bytes.length).toBe(row!.image_bytes);

	const thumb = await call(image, services, { params: { id }, path: `/api/generations/${id}/image?size=thumb`, user: alice.user });
	const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
	expect(meta.format).toBe('webp');
	expect(Math.max(meta.width!, meta.height!)).toBeLessThanOrEqual(384);

	// Not Bob's: the image and the event stream are 404s; an admin may see it.
	expect((await call(image, services, { params: { id }, path: `/api/generations/${id}/image`, user: bob.user })).status).toBe(404);
	expect((await call(events, services, { params: { id }, user: bob.user })).status).toBe(404);
	expect((await call(image, services, { params: { id }, path: `/api/generations/${id}/image`, user: admin.user })).status).toBe(200);
	expect((await call(image, services, { params: { id }, path: `/api/generations/${id}/image`, user: null })).status).toBe(401);

	// A reconnect that already saw the last event gets nothing more and the stream ends.
	const last = updates.at(-1)!.seq;
	const resumed = await call(events, services, { params: { id }, user: alice.user, headers: { 'last-event-id': String(last) } });
	expect(await collectSse(resumed)).toEqual([]);
	// One that saw an earlier event gets the current state.
	const behind = await call(events, services, { params: { id }, user: alice.user, headers: { 'last-event-id': '1' } });
	expect((await collectSse(behind)).filter((e) => e.event === 'generation').map((e) => JSON.parse(e.data).status)).toEqual(['completed']);
});

test('the same prompt and seed give the same image; a job for a missing generation fails permanently', async () => {
	const body = { prompt: 'deep ocean at night', model_id: 'local/preview', width: 256, height: 256, seed: 99 };
	const ids: string[] = [];
	for (let i = 0; i < 2; i++) ids.push((await (await call(start, services, { method: 'POST', body, user: alice.user })).json()).generation_id);
	await work();
	const images = await Promise.all(
		ids.map(async (id) => Buffer.from(await (await call(image, services, { params: { id }, path: '/x', user: alice.user })).arrayBuffer()))
	);
	expect(images[0]!.equals(images[1]!)).toBe(true);

	const [job] = await db.sql`select enqueue_job('generate-image', '{"generation_id": "00000000-0000-4000-8000-000000000000"}'::jsonb) as id`;
	await work();
	const [failed] = await db.sql`select status, attempts, error_message from job_queue where id = ${job!.id}`;
	expect(failed).toEqual({ status: 'failed', attempts: 1, error_message: 'Generation 00000000-0000-4000-8000-000000000000 does not exist' });
});
