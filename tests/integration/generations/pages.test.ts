// The pages' form actions and loads, called as SvelteKit calls them: a real Request with real
// FormData, locals as the hooks fill them, a real database and real image storage.
import { isActionFailure, isHttpError, isRedirect } from '@sveltejs/kit';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import type { AppUser } from '$lib/server/auth/user';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { actions as generateActions, load as generateLoad } from '$routes/(app)/generate/+page.server';
import { actions as pageActions, load as pageLoad } from '$routes/(app)/generations/[id]/+page.server';
import { load as historyLoad } from '$routes/(app)/history/+page.server';
import { GET as events } from '$routes/api/generations/[id]/events/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { eventually, testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, 'app');
	alice = await signedInUser(services);
	bob = await signedInUser(services);
});
afterAll(async () => {
	await services.events.close();
	await db.drop();
});
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`; // usage outlives generations by design (0017)
	await db.sql`delete from job_queue`;
	await db.sql`delete from user_limits`;
});

type Outcome = { failure?: { status: number; data: Record<string, any> }; redirect?: { status: number; location: string }; httpStatus?: number };

/** Posts a form to an action; a redirect or error() it throws is returned, as SvelteKit turns them into answers. */
async function post(action: (event: never) => unknown, user: AppUser, fields: Record<string, string>, params: Record<string, string> = {}): Promise<Outcome> {
	const body = new FormData();
	for (const [name, value] of Object.entries(fields)) body.append(name, value);
	const url = new URL('http://localhost/form');
	const event = { request: new Request(url, { method: 'POST', body }), url, params, locals: { services, user } };
	try {
		const result = await action(event as never);
		if (isActionFailure(result)) return { failure: { status: result.status, data: result.data as unknown as Record<string, any> } };
		throw new Error(`the action answered without a redirect: ${JSON.stringify(result)}`);
	} catch (thrown) {
		if (isRedirect(thrown)) return { redirect: { status: thrown.status, location: thrown.location } };
		if (isHttpError(thrown)) return { httpStatus: thrown.status };
		throw thrown;
	}
}

const form = { prompt: 'a lighthouse in a storm', model_id: 'local/preview', size: '512x512', width: '', height: '', seed_mode: 'random', seed: '', negative_prompt: '' };
const counts = async () => {
	const [row] = await db.sql`select (select count(*) from image_generations)::int as generations, (select count(*) from job_queue)::int as jobs`;
	return row;
};
const generationIdOf = (outcome: Outcome) => /^\/generations\/([0-9a-f-]{36})$/.exec(outcome.redirect?.location ?? '')![1]!;
const work = () => runWorkerForBudget({ sql: db.sql, handlers: services.handlers, trigger: 'manual', budgetMs: 20_000, concurrency: 2, leaseSeconds: 30 });

describe('the generate action', () => {
	test('starts a generation from the form and redirects 303 to its page', async () => {
		const outcome = await post(generateActions.generate!, alice.user, { ...form, size: '1024x576', seed_mode: 'fixed', seed: '42', negative_prompt: ' fog ', idempotency_key: 'k1' });
		expect(outcome.redirect?.status).toBe(303);
		const [row] = await db.sql`select * from image_generations where id = ${generationIdOf(outcome)}`;
		expect(row).toMatchObject({ user_id: alice.id, width: 1024, height: 576, seed: '42', negative_prompt: 'fog', idempotency_key: 'k1', status: 'queued' });
	});

	test('the same idempotency key twice (a double click) makes one generation', async () => {
		const first = await post(generateActions.generate!, alice.user, { ...form, idempotency_key: 'click' });
		const again = await post(generateActions.generate!, alice.user, { ...form, idempotency_key: 'click' });
		expect(generationIdOf(again)).toBe(generationIdOf(first));
		expect(await counts()).toEqual({ generations: 1, jobs: 1 });
	});

	test('"random" ignores a typed seed; "custom" takes the width and height fields', async () => {
		const outcome = await post(generateActions.generate!, alice.user, { ...form, seed: '7', size: 'custom', width: '640', height: '320' });
		const [row] = await db.sql`select width, height, seed from image_generations where id = ${generationIdOf(outcome)}`;
		expect(row).toMatchObject({ width: 640, height: 320 });
	});

	const invalid: Array<[string, Record<string, string>, string, RegExp]> = [
		['a blank prompt', { prompt: '  ' }, 'prompt', /Write a prompt/],
		['a prompt over 2,000 characters', { prompt: 'x'.repeat(2001) }, 'prompt', /limit is 2000/],
		['a custom width off the step', { size: 'custom', width: '500', height: '512' }, 'width', /multiple of 8/],
		['a custom size too large', { size: 'custom', width: '512', height: '4096' }, 'height', /from 256 to 1024/],
		['a fixed seed left empty', { seed_mode: 'fixed', seed: '' }, 'seed', /Enter a seed/],
		['a negative seed', { seed_mode: 'fixed', seed: '-3' }, 'seed', /seed/],
		['an unavailable model', { model_id: 'black-forest-labs/flux-schnell' }, 'model_id', /not available.*REPLICATE_API_TOKEN/],
		['an unknown model', { model_id: 'nope/never' }, 'model_id', /no model called/]
	];
	test.each(invalid)('fail(400) for %s: names the field, keeps the values, writes nothing', async (_name, change, field, message) => {
		const outcome = await post(generateActions.generate!, alice.user, { ...form, ...change });
		expect(outcome.failure?.status).toBe(400);
		expect(outcome.failure?.data).toMatchObject({ field, limit: null, values: { ...form, ...change } });
		expect(outcome.failure?.data.error).toMatch(message);
		expect(await counts()).toEqual({ generations: 0, jobs: 0 });
	});

	test('over the limit: fail(429) saying when it resets, writing nothing', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit) values (${alice.id}, 1)`;
		expect((await post(generateActions.generate!, alice.user, form)).redirect?.status).toBe(303);
		const outcome = await post(generateActions.generate!, alice.user, { ...form, prompt: 'one more' });
		expect(outcome.failure?.status).toBe(429);
		const data = outcome.failure!.data;
		expect(data.error).toMatch(/all 1 generations for this hour/);
		expect(data.values.prompt).toBe('one more');
		expect(data.limit).toMatchObject({ hourly_limit: 1, hourly_used: 1, daily_limit: 100 });
		expect(data.limit.retry_after_seconds).toBeGreaterThan(3500);
		const resetsIn = Date.parse(data.limit.resets_at) - Date.now();
		expect(resetsIn).toBeGreaterThan(3_500_000);
		expect(resetsIn).toBeLessThanOrEqual(3_600_000);
		expect(await counts()).toEqual({ generations: 1, jobs: 1 });
	});

	test('the page loads models, usage, recent generations and the reuse prefill', async () => {
		await post(generateActions.generate!, alice.user, form);
		const url = new URL('http://localhost/generate?prompt=again&model=local/detailed&width=768&height=1024&seed=9');
		const data = (await generateLoad({ locals: { services, user: alice.user }, url } as never)) as Record<string, any>;
		expect(data.usage).toMatchObject({ hourly_used: 1, hourly_limit: 20, daily_used: 1, can_generate: true });
		expect(data.recent).toHaveLength(1);
		expect(data.models.find((m: { id: string }) => m.id === 'black-forest-labs/flux-schnell')).toMatchObject({ available: false, unavailable_reason: expect.stringMatching(/REPLICATE_API_TOKEN/) });
		expect(data.prefill).toMatchObject({ prompt: 'again', model_id: 'local/detailed', size: '768x1024', seed_mode: 'fixed', seed: '9' });
		expect(data.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
	});
});

describe("a generation's page", () => {
	async function completed(user = alice.user) {
		const id = generationIdOf(await post(generateActions.generate!, user, { ...form, size: 'custom', width: '256', height: '256' }));
		await work();
		const [row] = await db.sql`select status, image_path, thumbnail_path from image_generations where id = ${id}`;
		expect(row!.status).toBe('completed');
		return { id, image: row!.image_path as string, thumb: row!.thumbnail_path as string };
	}

	test('delete removes the row and its image and thumbnail, then goes to the history', async () => {
		const { id, image, thumb } = await completed();
		expect(await services.storage.get(image)).not.toBeNull();
		const outcome = await post(pageActions.delete!, alice.user, {}, { id });
		expect(outcome.redirect).toEqual({ status: 303, location: '/history' });
		expect((await db.sql`select id from image_generations where id = ${id}`).length).toBe(0);
		expect(await services.storage.get(image)).toBeNull();
		expect(await services.storage.get(thumb)).toBeNull();
	});

	test('only the owner: another user gets 404 for the page and every action, and nothing changes', async () => {
		const { id, image } = await completed();
		await expect(pageLoad({ locals: { services, user: bob.user }, params: { id } } as never)).rejects.toMatchObject({ status: 404 });
		for (const action of [pageActions.delete!, pageActions.cancel!, pageActions.vary!]) {
			expect(await post(action, bob.user, {}, { id })).toEqual({ httpStatus: 404 });
		}
		expect(await post(pageActions.delete!, alice.user, {}, { id: 'not-a-uuid' })).toEqual({ httpStatus: 404 });
		expect((await db.sql`select status from image_generations where id = ${id}`)[0]!.status).toBe('completed');
		expect(await services.storage.get(image)).not.toBeNull();
		expect(await counts()).toEqual({ generations: 1, jobs: 1 });
		// Even an administrator's view is not ownership.
		const admin = await signedInUser(services, { admin: true });
		expect(await post(pageActions.delete!, admin.user, {}, { id })).toEqual({ httpStatus: 404 });
	});

	test('deleting a queued generation cancels its job first, so it never runs', async () => {
		const outcome = await post(generateActions.generate!, alice.user, form);
		const id = generationIdOf(outcome);
		const [{ job_id }] = (await db.sql`select job_id from image_generations where id = ${id}`) as unknown as [{ job_id: string }];
		expect((await post(pageActions.delete!, alice.user, {}, { id })).redirect?.location).toBe('/history');
		const [job] = await db.sql`select status from job_queue where id = ${job_id}`;
		expect(job!.status).toBe('cancelled');
		expect((await work()).processed).toBe(0);
	});

	test('cancel stops a queued generation and comes back to its page', async () => {
		const id = generationIdOf(await post(generateActions.generate!, alice.user, form));
		expect(await post(pageActions.cancel!, alice.user, {}, { id })).toEqual({ redirect: { status: 303, location: `/generations/${id}` } });
		const data = (await pageLoad({ locals: { services, user: alice.user }, params: { id } } as never)) as Record<string, any>;
		expect(data.generation).toMatchObject({ id, status: 'cancelled', image_url: null });
	});

	test('vary starts the same settings with a new seed; its key makes a double click one generation', async () => {
		const { id } = await completed();
		await db.sql`update image_generations set negative_prompt = 'fog', seed = 5 where id = ${id}`;
		const first = await post(pageActions.vary!, alice.user, { idempotency_key: 'vary-1' }, { id });
		const again = await post(pageActions.vary!, alice.user, { idempotency_key: 'vary-1' }, { id });
		expect(generationIdOf(again)).toBe(generationIdOf(first));
		const [row] = await db.sql`select * from image_generations where id = ${generationIdOf(first)}`;
		expect(row).toMatchObject({ prompt: form.prompt, model_id: 'local/preview', width: 256, height: 256, negative_prompt: 'fog' });
		expect(row!.seed).not.toBe('5');
		expect(await counts()).toMatchObject({ generations: 2 });
	});
});

describe('the history', () => {
	test('pages newest first by keyset, filters by status, and refuses a forged cursor', async () => {
		// Thirty rows straight into the table: more than a page, and more than the hourly limit allows.
		await db.sql`insert into image_generations (user_id, prompt, model_id, width, height, seed, status, created_at)
			select ${alice.id}, 'p' || i, 'local/preview', 256, 256, i, case when i % 3 = 0 then 'cancelled' else 'queued' end,
			       now() - make_interval(secs => i)
			from generate_series(1, 30) as i`;
		const load = (query: string) => historyLoad({ locals: { services, user: alice.user }, url: new URL(`http://localhost/history${query}`) } as never) as Promise<Record<string, any>>;
		const first = await load('');
		expect(first.items.map((g: { prompt: string }) => g.prompt)).toEqual(Array.from({ length: 24 }, (_, i) => `p${i + 1}`));
		const second = await load(`?cursor=${first.nextCursor}`);
		expect(second.items.map((g: { prompt: string }) => g.prompt)).toEqual(['p25', 'p26', 'p27', 'p28', 'p29', 'p30']);
		expect(second).toMatchObject({ nextCursor: null, paged: true });
		const cancelled = await load('?status=cancelled');
		expect(cancelled.items).toHaveLength(10);
		expect((await historyLoad({ locals: { services, user: bob.user }, url: new URL('http://localhost/history') } as never) as Record<string, any>).items).toEqual([]);
		await expect(load('?cursor=forged')).rejects.toMatchObject({ status: 400 });
		await expect(load('?status=lost')).rejects.toMatchObject({ status: 400 });
	});
});

test('a browser that leaves while its event stream starts leaves no subscriber behind', async () => {
	const id = generationIdOf(await post(generateActions.generate!, alice.user, form));
	const response = await call(events, services, { params: { id }, user: alice.user });
	await response.body!.cancel(); // before the stream's start has finished subscribing
	await eventually(async () => services.events.subscriberCount === 0);
	await db.sql`update image_generations set progress = 5 where id = ${id}`; // a change nobody listens to now
	expect(services.events.subscriberCount).toBe(0);
});
