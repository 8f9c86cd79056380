// /admin/users: usage against limits as get_user_limits counts it, search, keyset paging, and the
// override actions posted as real forms against a real database.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { actions, load } from '$routes/admin/users/+page.server';
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

type Action = keyof typeof actions;
async function post(action: Action, fields: Record<string, string>) {
	const form = new FormData();
	for (const [name, value] of Object.entries(fields)) form.set(name, value);
	const url = new URL(`http://localhost/admin/users?/${action}`);
	const event = { request: new Request(url, { method: 'POST', body: form }), url, params: {}, locals: { services, user: admin.user } };
	return (await actions[action]!(event as never)) as Record<string, any>;
}

async function page(search = '') {
	const url = new URL(`http://localhost/admin/users${search}`);
	return (await load({ url, locals: { services, user: admin.user }, params: {} } as never)) as Record<string, any>;
}

async function generations(userId: string, count: number, options: { hoursAgo?: number; status?: string } = {}) {
	const { hoursAgo = 0, status = 'queued' } = options;
	await db.sql`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status, created_at)
		select ${userId}, 'p', 'local/preview', 512, 512, 1, ${status}, now() - make_interval(hours => ${hoursAgo}, mins => 1)
		from generate_series(1, ${count})`;
}

const limitsOf = async (id: string) => (await db.sql`select get_user_limits(${id}::uuid) as l`)[0]!.l;

test('each user shows generations this hour and today against their limits, and a total', async () => {
	const { id, email } = await createUser(db.sql, 'usage-counted@example.test');
	await generations(id, 3); // this hour
	await generations(id, 4, { hoursAgo: 5 }); // today
	await generations(id, 2, { hoursAgo: 30 }); // before today: only in the total
	await generations(id, 1, { status: 'failed' }); // failures are not held against anyone

	const shown = (await page(`?q=${encodeURIComponent(email)}`)).users;
	expect(shown).toHaveLength(1);
	expect(shown[0]).toMatchObject({
		email,
		total: 10,
		hourly_override: null,
		daily_override: null,
		limits: { hourly_used: 3, hourly_limit: 20, daily_used: 7, daily_limit: 100, can_generate: true }
	});
});

test('overrides are saved, get_user_limits applies them, and clearing restores the defaults', async () => {
	const { id, email } = await createUser(db.sql, 'override-me@example.test');
	await generations(id, 2);

	const saved = await post('limits', { user_id: id, hourly_limit: '2', daily_limit: '' });
	expect(saved).toMatchObject({ action: 'limits', userId: id, message: 'Limits saved: 2 an hour, 100 a day.' });
	expect(await limitsOf(id)).toMatchObject({ hourly_limit: 2, daily_limit: 100, can_generate: false });
	const [row] = await db.sql`select hourly_limit, daily_limit, updated_by from user_limits where user_id = ${id}`;
	expect(row).toEqual({ hourly_limit: 2, daily_limit: null, updated_by: admin.id });

	// Zero is a limit too: no generations at all.
	await post('limits', { user_id: id, hourly_limit: '50', daily_limit: '0' });
	expect(await limitsOf(id)).toMatchObject({ hourly_limit: 50, daily_limit: 0, can_generate: false });
	expect((await page(`?q=${email}`)).users[0]).toMatchObject({ hourly_override: 50, daily_override: 0 });

	const cleared = await post('clear', { user_id: id });
	expect(cleared.message).toBe('Back to the defaults: 20 an hour, 100 a day.');
	expect(await db.sql`select * from user_limits where user_id = ${id}`).toHaveLength(0);
	expect(await limitsOf(id)).toMatchObject({ hourly_limit: 20, daily_limit: 100, can_generate: true });
	// The page's "the defaults are ..." text is read from the database function admission uses.
	expect((await page('')).defaults).toEqual({ hourly: 20, daily: 100 });

	const entries = await db.sql`
		select action, target, affected_rows, details from admin_audit_log where details ->> 'user_id' = ${id} order by id`;
	expect(entries.map((e) => [e.action, e.target, e.affected_rows])).toEqual([
		['user.limits.set', email, 1],
		['user.limits.set', email, 1],
		['user.limits.clear', email, 1]
	]);
	expect(entries[1]!.details).toMatchObject({ hourly_limit: 50, daily_limit: 0, previous: { hourly_limit: 2, daily_limit: null } });
});

test.each([
	['hourly_limit', '-1'],
	['hourly_limit', '1.5'],
	['daily_limit', 'lots'],
	['daily_limit', '1000001']
])('%s of %j is refused and nothing changes', async (field, value) => {
	const { id } = await createUser(db.sql);
	await post('limits', { user_id: id, hourly_limit: '7', daily_limit: '70' });
	const result = await post('limits', { user_id: id, hourly_limit: '8', daily_limit: '80', [field]: value });
	expect(result.status).toBe(400);
	expect(result.data).toMatchObject({ action: 'limits', userId: id, field });
	expect(result.data.error).toMatch(/must be a whole number from 0 to 1000000/);
	expect(await limitsOf(id)).toMatchObject({ hourly_limit: 7, daily_limit: 70 });
});

test('an unknown user is a 404', async () => {
	for (const userId of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
		const result = await post('limits', { user_id: userId, hourly_limit: '1' });
		expect(result.status).toBe(404);
		expect((await post('clear', { user_id: userId })).status).toBe(404);
	}
});

test('search matches part of the address, LIKE wildcards literally', async () => {
	await createUser(db.sql, 'percent%sign@example.test');
	await createUser(db.sql, 'percentXsign@example.test');
	const literal = (await page(`?q=${encodeURIComponent('t%s')}`)).users.map((u: { email: string }) => u.email);
	expect(literal).toEqual(['percent%sign@example.test']);
	const partial = (await page('?q=PERCENT')).users.map((u: { email: string }) => u.email).sort();
	expect(partial).toEqual(['percent%sign@example.test', 'percentXsign@example.test']);
	expect((await page('?q=no-such-person')).users).toEqual([]);
});

test('keyset paging walks every user once, newest first', async () => {
	await db.sql`
		insert into auth.users (email, created_at)
		select 'pager-' || lpad(i::text, 2, '0') || '@example.test', now() - make_interval(days => 1000 - i)
		from generate_series(1, 60) as i`;
	// Two with the same creation time: the id breaks the tie, so neither is skipped nor repeated.
	await db.sql`insert into auth.users (email, created_at) values
		('pager-tie-a@example.test', '2001-01-01'), ('pager-tie-b@example.test', '2001-01-01')`;
	const seen: string[] = [];
	let search = '?q=pager-';
	for (let pages = 0; pages < 10; pages++) {
		const data = await page(search);
		seen.push(...data.users.map((u: { email: string }) => u.email));
		if (!data.nextCursor) break;
		expect(data.users).toHaveLength(25);
		search = `?q=pager-&before=${data.nextCursor}`;
	}
	expect(seen).toHaveLength(62);
	expect(new Set(seen).size).toBe(62);
	expect(seen[0]).toBe('pager-60@example.test');
	expect(seen.slice(-2).sort()).toEqual(['pager-tie-a@example.test', 'pager-tie-b@example.test']);
});

test('money budgets are saved with the limits, audited, enforced by get_user_limits, and cleared with them', async () => {
	const { id, email } = await createUser(db.sql, 'budget-set@example.test');
	const saved = await post('limits', { user_id: id, hourly_limit: '', daily_limit: '', daily_budget_usd: ' 2.50 ', monthly_budget_usd: '40' });
	expect(saved.message).toBe('Limits saved: 20 an hour, 100 a day, $2.5 a day, $40 a month.');
	expect(await limitsOf(id)).toMatchObject({ daily_budget_usd: 2.5, monthly_budget_usd: 40, daily_spent_usd: 0, can_generate: true });
	const [entry] = await db.sql`select action, details from admin_audit_log where target = ${email} order by id desc limit 1`;
	expect(entry).toMatchObject({ action: 'user.limits.set' });
	expect(entry!.details).toMatchObject({ daily_budget_usd: 2.5, monthly_budget_usd: 40, previous: { daily_budget_usd: null, monthly_budget_usd: null } });
	// Spend at the budget: the console row shows it spent.
	await db.sql`insert into image_generations (user_id, prompt, model_id, width, height, seed, status, cost_estimate_usd)
		values (${id}, 'p', 'local/preview', 512, 512, 1, 'queued', 2.5)`;
	const [row] = (await page(`?q=${encodeURIComponent(email)}`)).users;
	expect(row).toMatchObject({ daily_budget_usd: 2.5, monthly_budget_usd: 40, limits: { can_generate: false, budget_exhausted: 'daily', daily_spent_usd: 2.5 } });
	// A form without the budget fields keeps them.
	await post('limits', { user_id: id, hourly_limit: '7', daily_limit: '' });
	expect(await limitsOf(id)).toMatchObject({ hourly_limit: 7, daily_budget_usd: 2.5 });
	await post('clear', { user_id: id });
	expect(await limitsOf(id)).toMatchObject({ daily_budget_usd: null, monthly_budget_usd: null, can_generate: true });
	expect(await db.sql`select * from user_limits where user_id = ${id}`).toHaveLength(0);
});

test.each(['-1', '1000001', 'NaN', 'Infinity', '1e3', 'lots', '$5', '2.555', '9'.repeat(400)])(
	'a budget of %j is refused with a clear message and changes nothing',
	async (value) => {
		const { id, email } = await createUser(db.sql, `budget-bad-${Math.random().toString(36).slice(2)}@example.test`);
		for (const field of ['daily_budget_usd', 'monthly_budget_usd']) {
			const result = await post('limits', { user_id: id, hourly_limit: '', daily_limit: '', [field]: value });
			expect(result.status).toBe(400);
			expect(result.data).toMatchObject({ action: 'limits', userId: id, field });
			expect(result.data.error).toMatch(/budget must be an amount in dollars from 0 to 1000000/);
		}
		expect(await db.sql`select * from user_limits where user_id = ${id}`).toHaveLength(0);
		expect(await db.sql`select * from admin_audit_log where target = ${email}`).toHaveLength(0);
	}
);
