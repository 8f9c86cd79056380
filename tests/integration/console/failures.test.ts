// /admin/failures: the seed's "group failures by error type" over the last 24 hours, and retrying a
// whole group after a confirmation whose count is the number of jobs retried.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { actions, load } from '$routes/admin/failures/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { insertJob, loadPage, minutesAgo, postForm } from '../../support/console-jobs';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;
let timeouts: string[];
let old: string;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	admin = await signedInUser(services, { admin: true });
	alice = await signedInUser(services);
	bob = await signedInUser(services);
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from job_queue`;
	await db.sql`delete from admin_audit_log`;
	const failed = (message: string | null, model: string, user: string | null, minutes: number) =>
		insertJob(db.sql, { status: 'failed', attempts: 3, error_message: message, payload: { model_id: model }, created_by: user, completed_at: minutesAgo(minutes) });
	timeouts = [
		await failed('Prediction timed out', 'local/preview', alice.id, 5),
		await failed('Prediction timed out', 'local/preview', bob.id, 50),
		await failed('Prediction timed out', 'black-forest-labs/flux-dev', alice.id, 500)
	];
	await failed('Model not found', 'nope/never', bob.id, 30);
	await failed(null, 'local/preview', null, 10);
	old = await failed('Prediction timed out', 'local/preview', alice.id, 2 * 1440);
	await insertJob(db.sql, { status: 'completed', payload: { model_id: 'local/preview' } });
});

interface Group {
	message: string;
	count: number;
	affected_models: number;
	models: string[];
	affected_users: number;
	last_seen: Date;
	examples: { id: string }[];
}
const page = () => loadPage<{ groups: Group[]; total: number }>(load, services, admin.user, '/admin/failures');
const retryGroup = (fields: Record<string, string>) => postForm(actions.retryGroup, services, admin.user, fields, { path: '/admin/failures?/retryGroup' });

test('groups the last day of failures by message: count, affected models and users, last seen', async () => {
	const { groups, total } = await page();
	expect(total).toBe(5);
	expect(groups.map((g) => [g.message, g.count])).toEqual([
		['Prediction timed out', 3],
		['', 1],
		['Model not found', 1]
	]);
	const timeout = groups[0]!;
	expect(timeout).toMatchObject({ affected_models: 2, affected_users: 2 });
	expect(timeout.models.sort()).toEqual(['black-forest-labs/flux-dev', 'local/preview']);
	expect(Date.now() - new Date(timeout.last_seen).getTime()).toBeLessThan(6 * 60_000);
	// The examples are the group's own, newest first, and never the one older than a day.
	expect(timeout.examples.map((e) => e.id)).toEqual(timeouts);
});

test('agrees with the seed\'s "identify failure patterns" query', async () => {
	const seed = await db.sql`
		select error_message, count(*)::int as count, count(distinct payload->>'model_id')::int as affected_models,
		       count(distinct created_by)::int as affected_users
		from failed_jobs_recent group by error_message order by count desc, error_message`;
	const { groups } = await page();
	for (const row of seed) {
		expect(groups.find((g) => g.message === (row.error_message ?? ''))).toMatchObject({
			count: row.count, affected_models: row.affected_models, affected_users: row.affected_users
		});
	}
});

test('retrying a group: the count asked is the number retried; older failures stay; audited', async () => {
	const ask = await retryGroup({ message: 'Prediction timed out' });
	expect(ask.data.confirm).toMatchObject({ message: 'Prediction timed out', count: 3 });
	expect(await db.sql`select 1 from job_queue where status = 'pending'`).toHaveLength(0);

	const result = await retryGroup({ message: 'Prediction timed out', confirm: '1', count: '3', as_of: ask.data.confirm.asOf });
	expect(result.data.done).toEqual({ message: 'Prediction timed out', affected: 3 });
	const rows = await db.sql`select id, status, attempts from job_queue where id = any(${[...timeouts, old]}::uuid[]) order by id`;
	expect(rows.filter((r) => r.status === 'pending').map((r) => r.id).sort()).toEqual([...timeouts].sort());
	expect(rows.find((r) => r.id === old)!.status).toBe('failed');
	const [entry] = await db.sql`select * from admin_audit_log`;
	expect(entry).toMatchObject({ action: 'failures.retry_group', actor_email: admin.email, affected_rows: 3, target: 'Prediction timed out' });
	expect(entry!.details).toMatchObject({ message: 'Prediction timed out', confirmed_count: 3 });
	expect((await page()).groups.map((g) => g.message)).not.toContain('Prediction timed out');
});

test('the group of failures without a message is retried by the empty message', async () => {
	const ask = await retryGroup({ message: '' });
	expect(ask.data.confirm.count).toBe(1);
	const result = await retryGroup({ message: '', confirm: '1', count: '1', as_of: ask.data.confirm.asOf });
	expect(result.data.done.affected).toBe(1);
	expect(await db.sql`select 1 from job_queue where status = 'pending' and error_message is null`).toHaveLength(1);
});

test.each([
	[{}, 'message'],
	[{ message: 'Prediction timed out', confirm: '1', count: '3', as_of: 'soon' }, 'as_of'],
	[{ message: 'Prediction timed out', confirm: '1', count: '-1', as_of: '2030-01-01T00:00:00Z' }, 'count']
])('bad input %o is a 400 naming %s, and nothing changes', async (fields, field) => {
	const before = await db.sql`select id, status from job_queue order by id`;
	const result = await retryGroup(fields as Record<string, string>);
	expect(result).toMatchObject({ status: 400, data: { field } });
	expect(await db.sql`select id, status from job_queue order by id`).toEqual(before);
	expect(await db.sql`select 1 from admin_audit_log`).toHaveLength(0);
});

test('no failures: an empty list', async () => {
	await db.sql`delete from job_queue`;
	expect(await page()).toMatchObject({ groups: [], total: 0 });
});
