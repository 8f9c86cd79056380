// Money budgets (0027): enforced in start_generation under the per-user lock like the counts, with
// queued and running generations counted at their estimate until their real cost is recorded.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { POST as start } from '$routes/api/generations/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase({ max: 30 });
	// The local model's compute is priced here, so its completions record a cost.
	services = await testServices(db, 'app', { LOCAL_MODEL_PRICE_PER_SECOND_USD: '0.5' });
	alice = await signedInUser(services);
	bob = await signedInUser(services);
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`;
	await db.sql`delete from job_queue`;
	await db.sql`delete from user_limits`;
	await db.sql`update models set cost_per_second = null where provider = 'local'`;
});

const valid = { prompt: 'a lighthouse in a storm', model_id: 'local/preview', width: 256, height: 256 };
const post = (body: unknown, user = alice.user) => call(start, services, { method: 'POST', path: '/api/generations', body, user });
const limits = async (id = alice.id) => (await db.sql`select get_user_limits(${id}) as l`)[0]!.l;
const work = () => runWorkerForBudget({ sql: db.sql, handlers: services.handlers, trigger: 'manual', budgetMs: 20_000, concurrency: 2, leaseSeconds: 30 });
const generations = () => db.sql`select status, cost_usd, cost_estimate_usd, predict_time_seconds from image_generations where user_id = ${alice.id}`;

describe('budgets', () => {
	test('50 concurrent requests from a user with budget for 5 make exactly 5; the 429 names the budget and its reset', async () => {
		// No history yet: the estimate is the price x 10 s = $0.10, so $0.50 buys five.
		await db.sql`update models set cost_per_second = 0.01 where id = 'local/preview'`;
		await db.sql`insert into user_limits (user_id, daily_budget_usd) values (${alice.id}, 0.5)`;
		const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => post({ ...valid, prompt: `cat ${i}` })));
		const statuses = responses.map((r) => r.status);
		expect(statuses.filter((s) => s === 201)).toHaveLength(5);
		expect(statuses.filter((s) => s === 429)).toHaveLength(45);
		const rows = await generations();
		expect(rows).toHaveLength(5);
		expect(rows.every((r) => Number(r.cost_estimate_usd) === 0.1 && r.cost_usd === null)).toBe(true);

		const limited = responses.find((r) => r.status === 429)!;
		const tomorrow = new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z');
		tomorrow.setUTCDate(tomorrow.getUTCDate() + 1);
		const retryAfter = Number(limited.headers.get('retry-after'));
		expect(Math.abs(Date.now() + retryAfter * 1000 - tomorrow.getTime())).toBeLessThan(5_000);
		const body = await limited.json();
		expect(body).toMatchObject({ budget: 'daily', resets_at: tomorrow.toISOString() });
		expect(body.error).toBe(`You have spent your daily budget of $0.50; it resets at ${tomorrow.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
		expect(body.limits).toMatchObject({
			can_generate: false,
			budget_exhausted: 'daily',
			daily_budget_usd: 0.5,
			daily_spent_usd: 0.5,
			daily_remaining_usd: 0,
			monthly_budget_usd: null
		});
		// Bob has no budget: Alice's spending is hers alone.
		expect((await post(valid, bob.user)).status).toBe(201);
	});

	test('a group is admitted as its pictures would be one by one: 20 concurrent groups of 2 with budget for 5 make 2 groups, then one single fits', async () => {
		// $0.10 a picture, $0.50 a day: a group of two needs the first picture to start under $0.40.
		await db.sql`update models set cost_per_second = 0.01 where id = 'local/preview'`;
		await db.sql`insert into user_limits (user_id, daily_budget_usd) values (${alice.id}, 0.5)`;
		const group = (i: number) => ({ prompt: `pair ${i}`, model_id: 'local/preview', variations: 2, width: 256, height: 256 });
		const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => post(group(i))));
		expect(responses.filter((r) => r.status === 201)).toHaveLength(2);
		const refused = responses.filter((r) => r.status === 429);
		expect(refused).toHaveLength(18);
		expect(await refused[0]!.json()).toMatchObject({ budget: 'daily', limits: { budget_exhausted: 'daily', can_generate: false } });
		const rows = await generations();
		expect(rows).toHaveLength(4);
		expect(rows.every((r) => Number(r.cost_estimate_usd) === 0.1)).toBe(true);
		expect((await limits()).daily_spent_usd).toBe(0.4);
		// $0.40 spent is under the budget: one more picture starts, then nothing, single or group.
		expect((await post(valid)).status).toBe(201);
		expect((await post(valid)).status).toBe(429);
		expect((await post(group(99))).status).toBe(429);
		expect(await generations()).toHaveLength(5);
	});

	test('a monthly budget stops starts until the first of next month, and says so', async () => {
		await db.sql`update models set cost_per_second = 0.01 where id = 'local/preview'`;
		await db.sql`insert into user_limits (user_id, monthly_budget_usd) values (${alice.id}, 0.1)`;
		expect((await post(valid)).status).toBe(201);
		const response = await post(valid);
		expect(response.status).toBe(429);
		const body = await response.json();
		const now = new Date();
		const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
		expect(body).toMatchObject({ budget: 'monthly', resets_at: next.toISOString() });
		expect(body.error).toMatch(/monthly budget of \$0\.10; it resets at \d{4}-\d\d-01 UTC/);
	});

	test('the estimate is replaced by the real cost at completion, and spending counts the real cost', async () => {
		await db.sql`insert into user_limits (user_id, daily_budget_usd) values (${alice.id}, 1000)`;
		expect((await post(valid)).status).toBe(201);
		expect(await work()).toMatchObject({ processed: 1, errors: 0 });
		const [done] = await generations();
		// The local model: its compute seconds x LOCAL_MODEL_PRICE_PER_SECOND_USD.
		expect(done!.status).toBe('completed');
		expect(Number(done!.cost_usd)).toBeCloseTo(Number(done!.predict_time_seconds) * 0.5, 3);
		const after = await limits();
		expect(after.daily_spent_usd).toBeCloseTo(Number(done!.cost_usd), 3);
		expect(after.monthly_spent_usd).toBeCloseTo(Number(done!.cost_usd), 3);
		// With history and no catalogue price, the next estimate is the median recorded cost.
		expect((await post(valid)).status).toBe(201);
		const queued = (await generations()).find((r) => r.status === 'queued')!;
		expect(Number(queued.cost_estimate_usd)).toBeCloseTo(Number(done!.cost_usd), 5);
	});

	test('with a catalogue price the estimate is price x the median model time of recent runs', async () => {
		await db.sql`update models set cost_per_second = 0.02 where id = 'local/preview'`;
		expect((await post(valid, bob.user)).status).toBe(201);
		await db.sql`update image_generations set status = 'completed', image_path = 'x.png', predict_time_seconds = 3, completed_at = now() where user_id = ${bob.id}`;
		expect((await post(valid)).status).toBe(201);
		const [row] = await generations();
		expect(Number(row!.cost_estimate_usd)).toBeCloseTo(0.06, 6);
	});

	test('failed and cancelled generations without a cost spend nothing; no budget means no cap', async () => {
		await db.sql`update models set cost_per_second = 0.01 where id = 'local/preview'`;
		expect((await post(valid)).status).toBe(201);
		expect((await post(valid)).status).toBe(201);
		expect((await limits()).daily_spent_usd).toBeCloseTo(0.2, 6);
		await db.sql`update image_generations set status = 'cancelled', completed_at = now() where user_id = ${alice.id}`;
		const l = await limits();
		expect(l).toMatchObject({ can_generate: true, budget_exhausted: null, daily_spent_usd: 0, daily_budget_usd: null, daily_remaining_usd: null });
	});

	test('a budget of 0 refuses at once, and the database refuses negative or huge budgets', async () => {
		await db.sql`insert into user_limits (user_id, daily_budget_usd) values (${alice.id}, 0)`;
		expect((await post(valid)).status).toBe(429);
		for (const bad of [-1, 1e7]) {
			await expect(db.sql`update user_limits set monthly_budget_usd = ${bad} where user_id = ${alice.id}`).rejects.toThrow(/monthly_budget_in_range/);
		}
		await expect(db.sql`update models set cost_per_second = -0.1 where id = 'local/preview'`).rejects.toThrow(/cost_not_negative/);
	});
});
