// /admin/stuck: the stuck_jobs view, resetting selected or all stuck jobs without spending an
// attempt (the old worker stays fenced out), and the reaper's recent work.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { actions, load } from '$routes/admin/stuck/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { insertJob, loadPage, minutesAgo, postForm } from '../../support/console-jobs';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
let expired: string;
let longRunning: string;
let healthy: string;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	admin = await signedInUser(services, { admin: true });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from job_queue`;
	await db.sql`delete from admin_audit_log`;
	await db.sql`delete from worker_runs`;
	const running = (startedMinutesAgo: number, leaseSeconds: number, attempts: number, worker: string) =>
		insertJob(db.sql, {
			status: 'processing', attempts, claim_count: attempts, started_at: minutesAgo(startedMinutesAgo), locked_by: worker,
			locked_until: new Date(Date.now() + leaseSeconds * 1000)
		});
	expired = await running(2, -60, 2, 'worker-gone');
	longRunning = await running(20, 30, 1, 'worker-slow');
	healthy = await running(1, 30, 1, 'worker-fine');
});

const page = () => loadPage<any>(load, services, admin.user, '/admin/stuck');
const reset = (ids: string[]) => postForm(actions.reset, services, admin.user, { id: ids }, { path: '/admin/stuck?/reset' });
const job = async (id: string) => (await db.sql`select status, attempts, started_at, locked_by, locked_until, claim_count from job_queue where id = ${id}`)[0]!;

test('lists what the stuck_jobs view reports, with how long each has run, its lease and its worker', async () => {
	const { jobs, total } = await page();
	expect(total).toBe(2);
	const byId = Object.fromEntries(jobs.map((j: any) => [j.id, j]));
	expect(Object.keys(byId).sort()).toEqual([expired, longRunning].sort());
	expect(byId[expired]).toMatchObject({ lease_expired: true, locked_by: 'worker-gone', attempts: 2 });
	expect(byId[longRunning]).toMatchObject({ lease_expired: false, locked_by: 'worker-slow' });
	expect(byId[longRunning].running_seconds).toBeGreaterThan(19 * 60);
});

test('resetting selected jobs returns them to pending without spending an attempt; the old worker is fenced out', async () => {
	const before = await job(expired);
	const result = await reset([expired]);
	expect(result).toEqual({ status: 200, data: { done: { affected: 1 } } });
	expect(await job(expired)).toMatchObject({ status: 'pending', attempts: 1, started_at: null, locked_by: null, locked_until: null });
	// The worker that held it wakes up late: its completion is refused.
	const [late] = await db.sql`select public.complete_job(${expired}, true, null, null, 'worker-gone', ${before.claim_count}) as ok`;
	expect(late!.ok).toBe(false);
	expect((await job(longRunning)).status).toBe('processing');
	const [entry] = await db.sql`select * from admin_audit_log`;
	expect(entry).toMatchObject({ action: 'stuck.reset', actor_email: admin.email, target: expired, affected_rows: 1, details: { ids: [expired] } });
});

test('a selected job that is not stuck (a live, recent lease) is left running', async () => {
	const result = await reset([healthy, expired]);
	expect(result.data.done.affected).toBe(1);
	expect(await job(healthy)).toMatchObject({ status: 'processing', attempts: 1, locked_by: 'worker-fine' });
	expect((await db.sql`select affected_rows from admin_audit_log`)[0]!.affected_rows).toBe(1);
});

test('reset all: the confirmation counts the stuck jobs, the confirmed reset changes that many', async () => {
	const ask = await postForm(actions.resetAll, services, admin.user, {}, { path: '/admin/stuck?/resetAll' });
	expect(ask.data).toEqual({ confirm: { count: 2 } });
	expect((await job(expired)).status).toBe('processing');
	const done = await postForm(actions.resetAll, services, admin.user, { confirm: '1', count: '2' }, { path: '/admin/stuck?/resetAll' });
	expect(done.data).toEqual({ done: { affected: 2 } });
	expect(await job(expired)).toMatchObject({ status: 'pending', attempts: 1 });
	expect(await job(longRunning)).toMatchObject({ status: 'pending', attempts: 0 });
	expect((await job(healthy)).status).toBe('processing');
	const [entry] = await db.sql`select * from admin_audit_log`;
	expect(entry).toMatchObject({ action: 'stuck.reset_all', affected_rows: 2, details: { confirmed_count: 2 } });
	expect((await page()).total).toBe(0);
});

test.each([
	[[], 'id'],
	[['not-a-uuid'], 'id']
])('bad selection %o is a 400, nothing changes', async (ids, field) => {
	const before = await db.sql`select id, status, attempts from job_queue order by id`;
	expect(await reset(ids)).toMatchObject({ status: 400, data: { field } });
	expect(await db.sql`select id, status, attempts from job_queue order by id`).toEqual(before);
	expect(await db.sql`select 1 from admin_audit_log`).toHaveLength(0);
});

test("the reaper's recent work: runs that reaped, and the jobs it marked", async () => {
	const reaped = (await db.sql`select public.reap_expired_jobs() as reaped`)[0]!.reaped;
	expect(reaped).toBe(1);
	await db.sql`insert into worker_runs (worker_id, trigger, reaped, processed) values ('cron-1', 'cron', 1, 4), ('cron-2', 'cron', 0, 9)`;
	const { reaper, total } = await page();
	expect(total).toBe(1);
	expect(reaper.runs.map((r: any) => [r.worker_id, r.reaped])).toEqual([['cron-1', 1]]);
	expect(reaper.jobs).toEqual([expect.objectContaining({ id: expired, status: 'pending', locked_by: 'worker-gone' })]);
});
