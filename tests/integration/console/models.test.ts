// /admin/models: per-model statistics from real generations, and the enable/disable and concurrency
// actions posted as real forms against a real database.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { actions, load } from '$routes/admin/models/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	admin = await signedInUser(services, { admin: true });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`; // usage outlives generations by design (0017)
	await db.sql`delete from model_generation_totals`; // each test counts its own history afresh
	await db.sql`delete from admin_audit_log`;
	await db.sql`update models set enabled = true, max_concurrency = 4`;
});

type Action = keyof typeof actions;
async function post(action: Action, fields: Record<string, string>) {
	const form = new FormData();
	for (const [name, value] of Object.entries(fields)) form.set(name, value);
	const url = new URL(`http://localhost/admin/models?/${action}`);
	const event = { request: new Request(url, { method: 'POST', body: form }), url, params: {}, locals: { services, user: admin.user } };
	return (await actions[action]!(event as never)) as Record<string, any>;
}

async function models() {
	const data = (await load({ locals: { services, user: admin.user } } as never)) as Record<string, any>;
	return Object.fromEntries(data.models.map((m: { id: string }) => [m.id, m]));
}

/** One generation of `model`, created `daysAgo` days ago, that ran for `seconds`. */
async function generation(model: string, status: string, options: { daysAgo?: number; seconds?: number; predict?: number } = {}) {
	const { daysAgo = 0, seconds = 1, predict = null } = options;
	await db.sql`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status, image_path,
		                               created_at, started_at, completed_at, predict_time_seconds)
		values (${admin.id}, 'a lighthouse', ${model}, 512, 512, 1, ${status},
		        case when ${status} = 'completed' then 'x.png' end,
		        now() - make_interval(days => ${daysAgo}, mins => 5), now() - make_interval(days => ${daysAgo}, mins => 5),
		        case when ${status} in ('completed', 'failed') then now() - make_interval(days => ${daysAgo}, mins => 5) + make_interval(secs => ${seconds}) end,
		        ${predict})`;
}

test('counts, success rate, average and p95 time and cost per model', async () => {
	// flux-schnell: 10 completed taking 1..10 s (predict time 2 s each), 2 failed, 1 running, 3 older than a week.
	for (let s = 1; s <= 10; s++) await generation('black-forest-labs/flux-schnell', 'completed', { seconds: s, predict: 2 });
	await generation('black-forest-labs/flux-schnell', 'failed');
	await generation('black-forest-labs/flux-schnell', 'failed');
	await generation('black-forest-labs/flux-schnell', 'processing');
	for (let i = 0; i < 3; i++) await generation('black-forest-labs/flux-schnell', 'completed', { daysAgo: 30, seconds: 100, predict: 50 });
	await generation('local/preview', 'completed', { seconds: 4 });

	const stats = await models();
	expect(stats['black-forest-labs/flux-schnell']).toMatchObject({
		generations_recent: 13,
		generations_total: 16,
		completed_recent: 10,
		failed_recent: 2,
		running: 1,
		cost_per_second: 0.003
	});
	const flux = stats['black-forest-labs/flux-schnell'];
	expect(flux.success_rate).toBeCloseTo(10 / 12, 4);
	expect(flux.avg_seconds).toBeCloseTo(5.5, 3);
	expect(flux.p95_seconds).toBeCloseTo(9.55, 3); // percentile_cont over 1..10
	expect(flux.cost).toBeCloseTo(10 * 2 * 0.003, 4); // last 7 days only

	// A local model has no price: its cost is unknown, not zero.
	expect(stats['local/preview']).toMatchObject({ generations_recent: 1, success_rate: 1, avg_seconds: 4, cost: null });
	// A model nobody used yet.
	expect(stats['stability-ai/sdxl']).toMatchObject({ generations_total: 0, success_rate: null, avg_seconds: null, p95_seconds: null });
});

test('all-time counts come from kept totals plus the rows since, recounted once a day', async () => {
	await generation('local/detailed', 'completed', { daysAgo: 40 });
	expect((await models())['local/detailed'].generations_total).toBe(1);
	const [kept] = await db.sql`select generations, counted_until from model_generation_totals where model_id = 'local/detailed'`;
	expect(kept!.generations).toBe('1');

	// New generations are added live, without a recount.
	await generation('local/detailed', 'completed');
	expect((await models())['local/detailed'].generations_total).toBe(2);
	const [same] = await db.sql`select counted_until from model_generation_totals where model_id = 'local/detailed'`;
	expect(same!.counted_until).toEqual(kept!.counted_until);

	// History changed inside the counted range (a deletion, a backfill) shows at the next daily recount.
	await db.sql`delete from image_generations where model_id = 'local/detailed' and created_at < now() - interval '30 days'`;
	await generation('local/detailed', 'failed', { daysAgo: 10 });
	await generation('local/detailed', 'failed', { daysAgo: 12 });
	expect((await models())['local/detailed'].generations_total).toBe(2);
	await db.sql`update model_generation_totals set counted_until = counted_until - interval '2 days'`;
	expect((await models())['local/detailed'].generations_total).toBe(3);
});

test('disable and enable a model: start_generation follows, and both are audited', async () => {
	const disabled = await post('disable', { model_id: 'local/preview' });
	expect(disabled).toMatchObject({ action: 'disable', modelId: 'local/preview', message: 'local/preview is disabled.' });
	expect((await models())['local/preview'].enabled).toBe(false);
	await expect(
		db.sql`select start_generation(${admin.id}::uuid, 'a cat', 'local/preview', 512, 512, 1)`
	).rejects.toThrow(/does not exist or is disabled/);

	expect((await post('disable', { model_id: 'local/preview' })).message).toMatch(/already disabled/);
	expect((await post('enable', { model_id: 'local/preview' })).message).toBe('local/preview is enabled.');
	const [started] = await db.sql`select start_generation(${admin.id}::uuid, 'a cat', 'local/preview', 512, 512, 1) as r`;
	expect(started!.r.outcome).toBe('created');

	const entries = await db.sql`select action, target, affected_rows, actor_id from admin_audit_log order by id`;
	expect(entries.map((e) => [e.action, e.target, e.affected_rows])).toEqual([
		['model.disable', 'local/preview', 1],
		['model.disable', 'local/preview', 0],
		['model.enable', 'local/preview', 1]
	]);
	expect(entries[0]!.actor_id).toBe(admin.id);
});

test('set max concurrency, audited with the old and new value', async () => {
	const result = await post('concurrency', { model_id: 'black-forest-labs/flux-dev', max_concurrency: ' 12 ' });
	expect(result.message).toBe('black-forest-labs/flux-dev now runs at most 12 at once.');
	expect((await models())['black-forest-labs/flux-dev'].max_concurrency).toBe(12);
	const [entry] = await db.sql`select action, target, details, affected_rows from admin_audit_log`;
	expect(entry).toMatchObject({ action: 'model.concurrency', target: 'black-forest-labs/flux-dev', affected_rows: 1 });
	expect(entry!.details).toEqual({ from: 4, to: 12 });
});

test.each(['0', '1001', '-1', '2.5', 'many', ''])('max concurrency %j is refused with a clear message', async (value) => {
	const result = await post('concurrency', { model_id: 'local/detailed', max_concurrency: value });
	expect(result.status).toBe(400);
	expect(result.data).toEqual({
		action: 'concurrency',
		modelId: 'local/detailed',
		field: 'max_concurrency',
		error: 'Max concurrency must be a whole number from 1 to 1000'
	});
	expect((await models())['local/detailed'].max_concurrency).toBe(4);
	expect(await db.sql`select * from admin_audit_log`).toHaveLength(0);
});

test('an unknown model is a 404 that changes nothing', async () => {
	for (const [action, fields] of [
		['disable', {}],
		['enable', {}],
		['concurrency', { max_concurrency: '3' }]
	] as const) {
		const result = await post(action, { model_id: 'nobody/nothing', ...fields });
		expect(result.status).toBe(404);
		expect(result.data.error).toMatch(/No model nobody\/nothing/);
	}
	expect(await db.sql`select * from admin_audit_log`).toHaveLength(0);
});

test('set the price per second, audited; completed generations are costed at it; blank makes it unknown', async () => {
	const result = await post('price', { model_id: 'local/detailed', cost_per_second: ' 0.0125 ' });
	expect(result.message).toBe('local/detailed now costs $0.0125 a second.');
	expect((await models())['local/detailed'].cost_per_second).toBe(0.0125);
	const [entry] = await db.sql`select action, target, details, affected_rows from admin_audit_log`;
	expect(entry).toMatchObject({ action: 'model.price', target: 'local/detailed', affected_rows: 1 });
	expect(entry!.details).toEqual({ from: null, to: 0.0125 });
	expect((await post('price', { model_id: 'local/detailed', cost_per_second: '' })).message).toMatch(/no price now/);
	expect((await models())['local/detailed'].cost_per_second).toBeNull();
	await db.sql`update models set cost_per_second = null where id = 'local/detailed'`;
});

test.each(['-1', '-0.001', '101', 'NaN', 'Infinity', '1e-3', 'cheap', '$0.01', '0.0000001', '9'.repeat(400)])(
	'price %j is refused with a clear message and changes nothing',
	async (value) => {
		const result = await post('price', { model_id: 'stability-ai/sdxl', cost_per_second: value });
		expect(result.status).toBe(400);
		expect(result.data).toMatchObject({ action: 'price', modelId: 'stability-ai/sdxl', field: 'cost_per_second' });
		expect(result.data.error).toMatch(/price per second must be an amount in dollars from 0 to 100/);
		expect((await models())['stability-ai/sdxl'].cost_per_second).toBe(0.000975);
		expect(await db.sql`select * from admin_audit_log`).toHaveLength(0);
	}
);
