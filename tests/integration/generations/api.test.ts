import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { GET as list, POST as start } from '$routes/api/generations/+server';
import { DELETE as cancel, GET as getOne } from '$routes/api/generations/[id]/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase({ max: 30 });
	services = await testServices(db);
	alice = await signedInUser(services);
	bob = await signedInUser(services);
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`; // usage outlives generations by design (0017)
	await db.sql`delete from job_queue`;
	await db.sql`delete from user_limits`;
});

const valid = { prompt: 'a lighthouse in a storm', model_id: 'local/preview', width: 512, height: 512 };
const post = (body: unknown, user = alice.user, headers: Record<string, string> = {}) =>
	call(start, services, { method: 'POST', path: '/api/generations', body, user, headers });
const counts = async () => {
	const [row] = await db.sql`select (select count(*) from image_generations)::int as generations, (select count(*) from job_queue)::int as jobs`;
	return row;
};

describe('POST /api/generations', () => {
	test("answers 201 in the seed's shape, with the generation and its job created together", async () => {
		const response = await post({ ...valid, seed: 42, negative_prompt: 'blurry' });
		expect(response.status).toBe(201);
		const body = await response.json();
		expect(body).toEqual({ success: true, generation_id: expect.any(String), job_id: expect.any(String), status: 'queued' });
		const [row] = await db.sql`select g.*, j.job_type, j.payload, j.created_by from image_generations g join job_queue j on j.id = g.job_id where g.id = ${body.generation_id}`;
		expect(row).toMatchObject({ user_id: alice.id, seed: '42', negative_prompt: 'blurry', status: 'queued', job_type: 'generate-image', created_by: alice.id });
		expect(row!.payload).toEqual({ generation_id: body.generation_id, model_id: 'local/preview', attempt_timeout_seconds: 300 });
	});

	test('a missing seed gets a random one', async () => {
		const { generation_id } = await (await post(valid)).json();
		const [row] = await db.sql`select seed from image_generations where id = ${generation_id}`;
		expect(Number(row!.seed)).toBeGreaterThanOrEqual(0);
	});

	const bad: Array<[string, unknown, string, RegExp]> = [
		['no prompt', { ...valid, prompt: undefined }, 'prompt', /prompt/],
		['a blank prompt', { ...valid, prompt: '   \n ' }, 'prompt', /prompt/],
		['a prompt over 2,000 characters', { ...valid, prompt: 'x'.repeat(2001) }, 'prompt', /2000/],
		['an unknown model', { ...valid, model_id: 'nope/never' }, 'model_id', /no model called "nope\/never"/],
		['a Replicate model without a token', { ...valid, model_id: 'black-forest-labs/flux-schnell' }, 'model_id', /REPLICATE_API_TOKEN/],
		['a width that is not a multiple of 8', { ...valid, width: 500 }, 'width', /multiple of 8/],
		['a height above the limit', { ...valid, height: 4096 }, 'height', /from 256 to 1024/],
		['a width below the limit', { ...valid, width: 128 }, 'width', /from 256 to 1024/],
		['a fractional width', { ...valid, width: 512.5 }, 'width', /whole number/],
		['a negative seed', { ...valid, seed: -1 }, 'seed', /seed/],
		['a fractional seed', { ...valid, seed: 1.5 }, 'seed', /seed/],
		['a bad idempotency key', { ...valid, idempotency_key: 'has spaces' }, 'idempotency_key', /idempotency key/],
		['a body that is an array', [valid], 'body', /JSON object/]
	];
	test.each(bad)('400 for %s, naming the field, writing nothing', async (_name, body, field, message) => {
		const before = await counts();
		const response = await post(body);
		expect(response.status).toBe(400);
		const answer = await response.json();
		expect(answer.field).toBe(field);
		expect(answer.error).toMatch(message);
		expect(await counts()).toEqual(before);
	});

	test('a disabled model is refused', async () => {
		await db.sql`update models set enabled = false where id = 'local/detailed'`;
		try {
			const response = await post({ ...valid, model_id: 'local/detailed' });
			expect(response.status).toBe(400);
			expect((await response.json()).error).toMatch(/Disabled by an administrator/);
		} finally {
			await db.sql`update models set enabled = true where id = 'local/detailed'`;
		}
	});

	test('a body that is not JSON is a 400; no session is a 401', async () => {
		expect((await call(start, services, { method: 'POST', body: '{nope', user: alice.user })).status).toBe(400);
		expect((await post(valid, null as never)).status).toBe(401);
		expect(await counts()).toEqual({ generations: 0, jobs: 0 });
	});

	test('the same idempotency key (body or header) returns the same generation', async () => {
		const first = await post({ ...valid, idempotency_key: 'click-1' });
		const again = await post({ ...valid, idempotency_key: 'click-1' });
		const header = await post(valid, alice.user, { 'idempotency-key': 'click-1' });
		expect(first.status).toBe(201);
		expect(again.status).toBe(200);
		const ids = await Promise.all([first, again, header].map(async (r) => (await r.json()).generation_id));
		expect(new Set(ids).size).toBe(1);
		expect(await counts()).toEqual({ generations: 1, jobs: 1 });
		// Keys are per user: Bob's click-1 is his own generation.
		expect((await post({ ...valid, idempotency_key: 'click-1' }, bob.user)).status).toBe(201);
	});

	test('20 concurrent identical requests with one key make one generation', async () => {
		const responses = await Promise.all(Array.from({ length: 20 }, () => post({ ...valid, idempotency_key: 'burst' })));
		const ids = new Set(await Promise.all(responses.map(async (r) => (await r.json()).generation_id)));
		expect(ids.size).toBe(1);
		expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
		expect(await counts()).toEqual({ generations: 1, jobs: 1 });
	});

	test('limits are exact under concurrency: 50 requests with 5 left make exactly 5', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit) values (${alice.id}, 5)`;
		const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => post({ ...valid, prompt: `cat ${i}` })));
		const statuses = responses.map((r) => r.status);
		expect(statuses.filter((s) => s === 201)).toHaveLength(5);
		expect(statuses.filter((s) => s === 429)).toHaveLength(45);
		const limited = responses.find((r) => r.status === 429)!;
		const retryAfter = Number(limited.headers.get('retry-after'));
		expect(retryAfter).toBeGreaterThan(3000);
		expect(retryAfter).toBeLessThanOrEqual(3600);
		const body = await limited.json();
		expect(body.limits).toMatchObject({ can_generate: false, hourly_limit: 5, hourly_used: 5, daily_limit: 100 });
		expect(body.error).toMatch(/all 5 generations for this hour/);
		expect(await counts()).toEqual({ generations: 5, jobs: 5 });
	});

	test("get_user_limits answers in the seed's shape", async () => {
		await post(valid);
		const [row] = await db.sql`select get_user_limits(${alice.id}) as limits`;
		expect(row!.limits).toMatchObject({ can_generate: true, daily_limit: 100, daily_used: 1, hourly_limit: 20, hourly_used: 1 });
	});
});

describe('reading and cancelling', () => {
	test('lists newest first with keyset paging and a status filter', async () => {
		const ids: string[] = [];
		for (let i = 0; i < 5; i++) ids.push((await (await post({ ...valid, prompt: `p${i}` })).json()).generation_id);
		await post(valid, bob.user);
		const seen: string[] = [];
		let cursor: string | null = null;
		do {
			const path: string = `/api/generations?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
			const page = await (await call(list, services, { path, user: alice.user })).json();
			seen.push(...page.items.map((g: { id: string }) => g.id));
			cursor = page.next_cursor;
		} while (cursor);
		expect(seen).toEqual([...ids].reverse());

		await call(cancel, services, { method: 'DELETE', params: { id: ids[0]! }, user: alice.user });
		const cancelled = await (await call(list, services, { path: '/api/generations?status=cancelled', user: alice.user })).json();
		expect(cancelled.items.map((g: { id: string }) => g.id)).toEqual([ids[0]]);
		const badStatus = await call(list, services, { path: '/api/generations?status=lost', user: alice.user });
		expect(badStatus.status).toBe(400);
		const badCursor = await call(list, services, { path: '/api/generations?cursor=garbage', user: alice.user });
		expect(badCursor.status).toBe(400);
	});

	test("another user's generation is a 404 to read or cancel, and stays as it was", async () => {
		const { generation_id } = await (await post(valid)).json();
		expect((await call(getOne, services, { params: { id: generation_id }, user: bob.user })).status).toBe(404);
		expect((await call(cancel, services, { method: 'DELETE', params: { id: generation_id }, user: bob.user })).status).toBe(404);
		expect((await call(getOne, services, { params: { id: 'not-a-uuid' }, user: alice.user })).status).toBe(404);
		const mine = await (await call(getOne, services, { params: { id: generation_id }, user: alice.user })).json();
		expect(mine).toMatchObject({ id: generation_id, status: 'queued', progress: 0, image_url: null });
	});

	test('cancelling a queued generation cancels its job, so it never runs', async () => {
		const { generation_id, job_id } = await (await post(valid)).json();
		const response = await call(cancel, services, { method: 'DELETE', params: { id: generation_id }, user: alice.user });
		expect(response.status).toBe(200);
		expect((await response.json()).status).toBe('cancelled');
		const [job] = await db.sql`select status from job_queue where id = ${job_id}`;
		expect(job!.status).toBe('cancelled');
		const [claimed] = await db.sql`select count(*)::int as n from claim_jobs('w', 10)`;
		expect(claimed!.n).toBe(0);
	});
});
