// /admin/costs: cost per day, user and model from recorded costs (0027), and the fairness table,
// loaded as the page loads them against a real database; an operator reads it, a user cannot.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { load } from '$routes/admin/costs/+page.server';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
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
	await db.sql`delete from job_queue`;
});

const page = async (user = admin.user) => (await load({ url: new URL('http://localhost/admin/costs'), locals: { services, user }, params: {} } as never)) as Record<string, any>;

async function costed(userId: string, model: string, cost: number | null, daysAgo: number, count = 1) {
	await db.sql`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status, image_path, cost_usd, created_at, completed_at)
		select ${userId}, 'p', ${model}, 512, 512, 1, 'completed', 'x.png', ${cost}, now() - make_interval(days => ${daysAgo}), now()
		from generate_series(1, ${count})`;
}

test('cost per day (every day of 30, empty ones 0), per user and per model; uncosted and older ones left out', async () => {
	const ann = await createUser(db.sql, 'ann-costs@example.test');
	const ben = await createUser(db.sql, 'ben-costs@example.test');
	await costed(ann.id, 'black-forest-labs/flux-dev', 0.5, 0, 2);
	await costed(ben.id, 'local/preview', 0.01, 3);
	await costed(ben.id, 'local/preview', null, 0, 5); // no price: unknown, not free
	await costed(ann.id, 'black-forest-labs/flux-dev', 9, 40); // outside the 30 days
	const { costs } = await page();
	expect(costs.days).toHaveLength(30);
	expect(costs.days.at(-1)).toEqual({ day: new Date().toISOString().slice(0, 10), cost_usd: 1, generations: 2 });
	expect(costs.days.filter((d: { cost_usd: number }) => d.cost_usd > 0)).toHaveLength(2);
	expect(costs.total_usd).toBeCloseTo(1.01, 6);
	expect(costs.users).toEqual([
		{ user_id: ann.id, email: 'ann-costs@example.test', cost_usd: 1, generations: 2 },
		{ user_id: ben.id, email: 'ben-costs@example.test', cost_usd: 0.01, generations: 1 }
	]);
	expect(costs.models).toEqual([
		{ model_id: 'black-forest-labs/flux-dev', cost_usd: 1, generations: 2 },
		{ model_id: 'local/preview', cost_usd: 0.01, generations: 1 }
	]);
});

test('the fairness table and its threshold come with the page; a plain user is refused', async () => {
	const waiting = await createUser(db.sql, 'waits@example.test');
	await db.sql`insert into job_queue (job_type, status, created_by, scheduled_at) values ('generate-image', 'pending', ${waiting.id}, now() - interval '5 minutes')`;
	const data = await page();
	expect(data.fairness.users).toMatchObject([{ email: 'waits@example.test', queued: 1, running: 0 }]);
	expect(data.unfairAfterSeconds).toBe(60);
	expect(data.unfairFactor).toBe(5);
	const plain = await signedInUser(services);
	await expect(page(plain.user)).rejects.toMatchObject({ status: 403 });
});
