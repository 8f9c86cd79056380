// Job actions with a real FormData against a real database: retry, cancel, bulk with confirmation,
// bad input (400, nothing changed) and the audit entry each one leaves.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { actions } from '$routes/admin/jobs/+page.server';
import { actions as jobActions, load as loadJob } from '$routes/admin/jobs/[id]/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { insertJob, loadPage, postForm } from '../../support/console-jobs';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
let alice: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	admin = await signedInUser(services, { admin: true });
	alice = await signedInUser(services);
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`; // usage outlives generations by design (0017)
	await db.sql`delete from job_queue`;
	await db.sql`delete from admin_audit_log`;
});

const snapshot = () => db.sql`select id, status, attempts, updated_at from job_queue order by id`;
const audit = () => db.sql`select actor_id, actor_email, action, target, details, affected_rows from admin_audit_log order by id`;
const statusOf = async (id: string) => (await db.sql`select status, attempts from job_queue where id = ${id}`)[0];
const one = (name: 'retry' | 'cancel', id: string) =>
	postForm(jobActions[name], services, admin.user, { id }, { path: `/admin/jobs/${id}?/${name}`, params: { id } });
const bulk = (fields: Record<string, string>) => postForm(actions.bulk, services, admin.user, fields, { path: '/admin/jobs?/bulk' });

describe('one job', () => {
	test('retry puts a failed job back to pending with fresh attempts, audited', async () => {
		const id = await insertJob(db.sql, { status: 'failed', attempts: 3, error_message: 'boom' });
		const result = await one('retry', id);
		expect(result.status).toBe(200);
		expect(await statusOf(id)).toEqual({ status: 'pending', attempts: 0 });
		expect(await audit()).toEqual([
			expect.objectContaining({ actor_id: admin.id, actor_email: admin.email, action: 'job.retry', target: id, affected_rows: 1, details: { from_status: 'failed', kind: 'failed' } })
		]);
	});

	test('cancel stops a pending generation job and its generation with it', async () => {
		const [started] = await db.sql`select public.start_generation(${alice.id}, 'a quiet harbour', 'local/preview', 512, 512, 7) as result`;
		const { generation_id, job_id } = started!.result;
		const result = await one('cancel', job_id);
		expect(result.status).toBe(200);
		expect(await statusOf(job_id)).toMatchObject({ status: 'cancelled' });
		const [generation] = await db.sql`select status from image_generations where id = ${generation_id}`;
		expect(generation!.status).toBe('cancelled');
		expect((await audit())[0]).toMatchObject({ action: 'job.cancel', target: job_id, affected_rows: 1 });
	});

	test("the job's page shows the job and the generation it belongs to", async () => {
		const [started] = await db.sql`select public.start_generation(${alice.id}, 'a quiet harbour', 'local/preview', 512, 512, 7) as result`;
		const { generation_id, job_id } = started!.result;
		const data = await loadPage<any>(loadJob, services, admin.user, `/admin/jobs/${job_id}`, { id: job_id });
		expect(data.job).toMatchObject({ id: job_id, status: 'pending', user_email: alice.email, payload: { generation_id, model_id: 'local/preview' } });
		expect(data.generation).toMatchObject({ id: generation_id, prompt: 'a quiet harbour', status: 'queued', user_email: alice.email });
	});

	test.each([
		['retry', 'completed', 400],
		['retry', 'pending', 400],
		['cancel', 'failed', 400],
		['cancel', 'cancelled', 400]
	] as const)('%s of a %s job is refused (%i), nothing changed', async (action, status, code) => {
		const id = await insertJob(db.sql, { status });
		const before = await snapshot();
		const result = await one(action, id);
		expect(result.status).toBe(code);
		expect(result.data.error).toMatch(/can be/);
		expect(await snapshot()).toEqual(before);
		expect(await audit()).toEqual([]);
	});

	test('a malformed id is a 400, an unknown one a 404', async () => {
		expect((await one('retry', 'not-a-uuid')).status).toBe(400);
		expect((await one('cancel', '00000000-0000-4000-8000-000000000000')).status).toBe(404);
		expect(await audit()).toEqual([]);
	});
});

describe('bulk', () => {
	test('cancel: the first submit counts, the confirmed one changes exactly that many, in batches, audited', async () => {
		await db.sql`insert into job_queue (job_type) select 'thumbnail' from generate_series(1, 2345)`;
		const running = await insertJob(db.sql, { job_type: 'thumbnail', status: 'processing' });
		const otherType = await insertJob(db.sql, { job_type: 'generate-image' });
		const done = await insertJob(db.sql, { job_type: 'thumbnail', status: 'completed' });

		const ask = await bulk({ op: 'cancel', type: 'thumbnail' });
		expect(ask.status).toBe(200);
		expect(ask.data.confirm).toMatchObject({ op: 'cancel', count: 2346, query: 'type=thumbnail' });
		expect(await db.sql`select 1 from job_queue where status = 'cancelled'`).toHaveLength(0);
		expect(await audit()).toEqual([]);

		// A job arriving after the count is not part of what was confirmed.
		const late = await insertJob(db.sql, { job_type: 'thumbnail' });
		const { count, asOf } = ask.data.confirm;
		const result = await bulk({ op: 'cancel', type: 'thumbnail', confirm: '1', count: String(count), as_of: asOf });
		expect(result.data.done).toMatchObject({ op: 'cancel', affected: 2346 });
		const n = (await db.sql`select count(*)::int as n from job_queue where status = 'cancelled'`)[0]!.n;
		expect(n).toBe(2346);
		expect((await statusOf(running))!.status).toBe('cancelled');
		expect((await statusOf(late))!.status).toBe('pending');
		expect((await statusOf(otherType))!.status).toBe('pending');
		expect((await statusOf(done))!.status).toBe('completed');
		expect(await audit()).toEqual([
			expect.objectContaining({
				action: 'jobs.bulk_cancel', actor_email: admin.email, target: 'type=thumbnail', affected_rows: 2346,
				details: expect.objectContaining({ filter: { type: 'thumbnail' }, confirmed_count: 2346 })
			})
		]);
	});

	test('retry: only failed and cancelled jobs matching the filter', async () => {
		const failed = await insertJob(db.sql, { status: 'failed', created_by: alice.id, attempts: 3 });
		const cancelled = await insertJob(db.sql, { status: 'cancelled', created_by: alice.id });
		const mineDone = await insertJob(db.sql, { status: 'completed', created_by: alice.id });
		const othersFailed = await insertJob(db.sql, { status: 'failed' });
		const ask = await bulk({ op: 'retry', user: alice.email });
		expect(ask.data.confirm.count).toBe(2);
		const result = await bulk({ op: 'retry', user: alice.email, confirm: '1', count: '2', as_of: ask.data.confirm.asOf });
		expect(result.data.done.affected).toBe(2);
		expect(await statusOf(failed)).toEqual({ status: 'pending', attempts: 0 });
		expect((await statusOf(cancelled))!.status).toBe('pending');
		expect((await statusOf(mineDone))!.status).toBe('completed');
		expect((await statusOf(othersFailed))!.status).toBe('failed');
		expect((await audit())[0]).toMatchObject({ action: 'jobs.bulk_retry', affected_rows: 2 });
	});

	test('nothing to change: the count is 0', async () => {
		await insertJob(db.sql, { status: 'completed' });
		const ask = await bulk({ op: 'retry', status: 'completed' });
		expect(ask.data.confirm.count).toBe(0);
	});

	test.each([
		[{ op: 'explode' }, 'op'],
		[{ op: 'cancel', status: 'bogus' }, 'status'],
		[{ op: 'cancel', user: 'zzz' }, 'user'],
		[{ op: 'cancel', from: '2024-02-31T25:00' }, 'from'],
		[{ op: 'cancel', confirm: '1', count: '1', as_of: 'later' }, 'as_of'],
		[{ op: 'cancel', confirm: '1', count: 'many', as_of: '2030-01-01T00:00:00Z' }, 'count']
	])('bad input %o is a 400 naming %s, and nothing changes', async (fields, field) => {
		await insertJob(db.sql);
		await insertJob(db.sql, { status: 'failed' });
		const before = await snapshot();
		const result = await bulk(fields as Record<string, string>);
		expect(result.status).toBe(400);
		expect(result.data.field).toBe(field);
		expect(await snapshot()).toEqual(before);
		expect(await audit()).toEqual([]);
	});
});

test('a signed-in non-admin reaching an action is refused (hooks guard first; the action checks too)', async () => {
	const id = await insertJob(db.sql, { status: 'failed' });
	await expect(postForm(jobActions.retry, services, alice.user, { id }, { params: { id } })).rejects.toMatchObject({ status: 403 });
	expect((await statusOf(id))!.status).toBe('failed');
});
