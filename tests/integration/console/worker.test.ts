// /admin/worker: its load and form actions, called as SvelteKit calls them (a real Request carrying
// real FormData, locals as the hooks fill them) against a real database.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { claimJobs, enqueueJob } from '$lib/server/queue';
import type { Services } from '$lib/server/runtime';
import { actions, load } from '$routes/admin/worker/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, { noop: async () => {} }, { WORKER_BUDGET_SECONDS: '20' });
	admin = await signedInUser(services, { admin: true });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from job_queue`;
	await db.sql`delete from job_queue_paused_types`;
	await db.sql`delete from worker_runs`;
	await db.sql`delete from admin_audit_log`;
});

type Action = keyof typeof actions;
/** Posts a form to one action, as the browser's form submission reaches it. */
async function post(action: Action, fields: Record<string, string> = {}) {
	const form = new FormData();
	for (const [name, value] of Object.entries(fields)) form.set(name, value);
	const url = new URL(`http://localhost/admin/worker?/${action}`);
	const request = new Request(url, { method: 'POST', body: form });
	const event = { request, url, params: {}, locals: { services, user: admin.user } };
	return (await actions[action]!(event as never)) as Record<string, any>;
}

async function page(search = '') {
	const url = new URL(`http://localhost/admin/worker${search}`);
	return (await load({ url, locals: { services, user: admin.user }, params: {} } as never)) as Record<string, any>;
}

const audit = () => db.sql`select action, target, affected_rows, details, actor_email from admin_audit_log order by id`;
const statuses = async () =>
	Object.fromEntries(
		(await db.sql<{ status: string; n: number }[]>`select status, count(*)::int as n from job_queue group by status`).map((r) => [r.status, r.n])
	);

test('run now works the queue, records a manual worker run and audits it', async () => {
	await Promise.all([1, 2, 3].map(() => enqueueJob(db.sql, 'noop')));
	const result = await post('run', { budget_seconds: '5' });
	expect(result.action).toBe('run');
	expect(result.run).toMatchObject({ processed: 3, errors: 0, budgetSeconds: 5 });
	expect(result.budget).toBe('5'); // the form shows the budget asked for again, not the default
	expect(await statuses()).toEqual({ completed: 3 });
	const [run] = await db.sql`select trigger, processed, errors, finished_at is not null as finished from worker_runs`;
	expect(run).toEqual({ trigger: 'manual', processed: 3, errors: 0, finished: true });
	const [entry] = await audit();
	expect(entry).toMatchObject({ action: 'worker.run', target: `worker_run:${result.run.runId}`, affected_rows: 3, actor_email: admin.email });
	expect(entry!.details).toMatchObject({ budget_seconds: 5, processed: 3 });

	const shown = await page();
	expect(shown.runs[0]).toMatchObject({ trigger: 'manual', processed: 3 });
	expect(shown.lastRuns.map((r: { trigger: string }) => r.trigger)).toEqual(['manual']);
});

test.each(['0', '61', '2.5', 'ten', ''])('run now refuses a budget of %j and runs nothing', async (budget) => {
	const id = await enqueueJob(db.sql, 'noop');
	const result = await post('run', { budget_seconds: budget });
	expect(result.status).toBe(400);
	expect(result.data).toMatchObject({ action: 'run', field: 'budget_seconds', budget });
	expect(result.data.error).toMatch(/whole number from 1 to 20/);
	expect((await db.sql`select status from job_queue where id = ${id}`)[0]!.status).toBe('pending');
	expect(await db.sql`select * from worker_runs`).toHaveLength(0);
	expect(await audit()).toHaveLength(0);
});

test('a paused type is not claimed until it is resumed', async () => {
	const id = await enqueueJob(db.sql, 'noop');
	const paused = await post('pause', { job_type: 'noop' });
	expect(paused.message).toMatch(/Paused noop/);
	const [row] = await db.sql`select paused_by from job_queue_paused_types where job_type = 'noop'`;
	expect(row!.paused_by).toBe(admin.id);

	expect(await claimJobs(db.sql, { workerId: 'probe', limit: 10 })).toEqual([]);
	expect((await post('run', { budget_seconds: '2' })).run.processed).toBe(0);
	expect((await db.sql`select status from job_queue where id = ${id}`)[0]!.status).toBe('pending');

	const shown = await page();
	expect(shown.types).toEqual([expect.objectContaining({ job_type: 'noop', registered: true, paused: true, pending: 1 })]);

	// Pausing twice changes nothing, and says so.
	expect((await post('pause', { job_type: 'noop' })).message).toMatch(/already paused/);

	expect((await post('resume', { job_type: 'noop' })).message).toBe('Resumed noop.');
	expect((await post('run', { budget_seconds: '2' })).run.processed).toBe(1);
	expect((await db.sql`select status from job_queue where id = ${id}`)[0]!.status).toBe('completed');

	expect((await audit()).filter((e) => e.action.startsWith('queue.')).map((e) => [e.action, e.target, e.affected_rows])).toEqual([
		['queue.pause', 'noop', 1],
		['queue.pause', 'noop', 0],
		['queue.resume', 'noop', 1]
	]);
});

test('pause needs a job type name', async () => {
	const result = await post('pause', { job_type: '   ' });
	expect(result.status).toBe(400);
	expect(result.data.field).toBe('job_type');
	expect(await db.sql`select * from job_queue_paused_types`).toHaveLength(0);
});

test('job types: registered handlers, paused ones, live ones and those queued in the last day', async () => {
	await db.sql`insert into job_queue (job_type, status, completed_at) values ('old-report', 'completed', now())`;
	// Finished long ago and nothing live: not offered (reading all history would cost every view).
	await db.sql`insert into job_queue (job_type, status, created_at, completed_at)
		values ('ancient', 'completed', now() - interval '3 days', now() - interval '3 days')`;
	// Waiting since long ago: offered, it is live.
	await db.sql`insert into job_queue (job_type, created_at) values ('backlog', now() - interval '3 days')`;
	await enqueueJob(db.sql, 'thumbnail');
	await post('pause', { job_type: 'not-yet-used' });
	const shown = await page();
	expect(shown.types.map((t: { job_type: string; registered: boolean; paused: boolean; pending: number }) => [t.job_type, t.registered, t.paused, t.pending])).toEqual([
		['backlog', false, false, 1],
		['noop', true, false, 0],
		['not-yet-used', false, true, 0],
		['old-report', false, false, 0],
		['thumbnail', false, false, 1]
	]);
});

async function seedQueue() {
	await Promise.all([1, 2, 3].map(() => enqueueJob(db.sql, 'noop')));
	await enqueueJob(db.sql, 'other');
	const [running] = await claimJobs(db.sql, { workerId: 'w1', jobTypes: ['other'] });
	await db.sql`insert into job_queue (job_type, status, completed_at) values ('noop', 'completed', now())`;
	return running!.id;
}

test('cancel all pending: the confirmation counts exactly the rows it then changes', async () => {
	const runningId = await seedQueue();
	const preview = await post('cancelPreview');
	expect(preview.cancelPreview).toMatchObject({ count: 3, includeProcessing: false });

	const result = await post('cancel', { as_of: preview.cancelPreview.asOf, confirm_count: String(preview.cancelPreview.count) });
	expect(result).toMatchObject({ action: 'cancel', cancelled: 3, message: 'Cancelled 3 jobs.' });
	expect(await statuses()).toEqual({ cancelled: 3, processing: 1, completed: 1 });
	expect((await db.sql`select status from job_queue where id = ${runningId}`)[0]!.status).toBe('processing');
	const cancelled = await db.sql`select completed_at, error_message from job_queue where status = 'cancelled'`;
	for (const row of cancelled) {
		expect(row.completed_at).toBeInstanceOf(Date);
		expect(row.error_message).toMatch(/Cancelled by an administrator/);
	}
	const [entry] = await audit();
	expect(entry).toMatchObject({ action: 'queue.cancel_all', affected_rows: 3 });
	expect(entry!.details).toMatchObject({ include_processing: false, confirmed: 3 });
});

test('cancel all can include running jobs, as the seed rollback statement does', async () => {
	await seedQueue();
	const preview = await post('cancelPreview', { include_processing: 'on' });
	expect(preview.cancelPreview.count).toBe(4);
	const result = await post('cancel', { as_of: preview.cancelPreview.asOf, confirm_count: '4', include_processing: 'on' });
	expect(result.cancelled).toBe(4);
	expect(await statuses()).toEqual({ cancelled: 4, completed: 1 });
});

test('jobs queued after the count are left alone; more matches than confirmed changes nothing', async () => {
	await seedQueue();
	const preview = await post('cancelPreview');
	const later = await enqueueJob(db.sql, 'noop'); // after the count: not covered by the confirmation
	expect((await post('cancel', { as_of: preview.cancelPreview.asOf, confirm_count: '3' })).cancelled).toBe(3);
	expect((await db.sql`select status from job_queue where id = ${later}`)[0]!.status).toBe('pending');

	// Two jobs match now (one backdated, as a job queued before the count would be); confirming
	// only one of them changes nothing and offers the new count instead.
	await db.sql`insert into job_queue (job_type, created_at) values ('noop', now() - interval '1 minute')`;
	const second = await post('cancelPreview');
	expect(second.cancelPreview.count).toBe(2);
	const refused = await post('cancel', { as_of: second.cancelPreview.asOf, confirm_count: '1' });
	expect(refused.status).toBe(409);
	expect(refused.data.error).toMatch(/2 jobs match now, more than the 1 you confirmed/);
	expect(refused.data.cancelPreview.count).toBe(2); // a fresh count to confirm instead
	expect((await db.sql`select count(*)::int as n from job_queue where status = 'pending'`)[0]!.n).toBe(2);
	expect((await audit()).filter((e) => e.action === 'queue.cancel_all')).toHaveLength(1);
});

test('cancel needs a count to confirm', async () => {
	await seedQueue();
	expect((await post('cancel', { confirm_count: '3' })).status).toBe(400);
	expect((await post('cancel', { as_of: 'yesterday', confirm_count: '3' })).status).toBe(400);
	expect((await post('cancel', { as_of: new Date().toISOString(), confirm_count: '-1' })).status).toBe(400);
	expect(await statuses()).toEqual({ pending: 3, processing: 1, completed: 1 });
});

test('purge counts finished jobs older than N days, deletes them and audits the count', async () => {
	await db.sql`
		insert into job_queue (job_type, status, created_at, completed_at)
		select 'noop', s, now() - interval '40 days', now() - interval '35 days'
		from unnest(array['completed', 'completed', 'failed', 'cancelled']) as s`;
	await db.sql`insert into job_queue (job_type, status, completed_at) values ('noop', 'completed', now() - interval '2 days')`;
	await db.sql`insert into job_queue (job_type, created_at) values ('noop', now() - interval '60 days')`; // pending: never purged

	const preview = await post('purgePreview', { days: '30' });
	expect(preview.purgePreview).toEqual({ days: 30, count: 4 });
	const result = await post('purge', { days: '30', confirm_count: '4' });
	expect(result).toMatchObject({ deleted: 4, message: 'Deleted 4 finished jobs.' });
	expect(await statuses()).toEqual({ completed: 1, pending: 1 });
	const [entry] = await audit();
	expect(entry).toMatchObject({ action: 'queue.purge', affected_rows: 4 });
	expect(entry!.details).toEqual({ older_than_days: 30, confirmed: 4 });
});

test.each(['0', '-3', 'x', '3651'])('purge refuses %j days', async (days) => {
	await db.sql`insert into job_queue (job_type, status, completed_at) values ('noop', 'completed', now() - interval '9 days')`;
	const preview = await post('purgePreview', { days });
	expect(preview.status).toBe(400);
	expect(preview.data).toMatchObject({ action: 'purgePreview', field: 'days' });
	expect((await post('purge', { days, confirm_count: '1' })).status).toBe(400);
	expect(await statuses()).toEqual({ completed: 1 });
});

test('the run history pages by keyset in both directions and filters by trigger', async () => {
	await db.sql`
		insert into worker_runs (worker_id, trigger, started_at, last_seen_at, finished_at, processed, errors)
		select 'w' || i, case when i % 10 = 0 then 'manual' else 'cron' end,
		       now() - make_interval(mins => 60 - i), now() - make_interval(mins => 60 - i), now() - make_interval(mins => 60 - i) + interval '30 seconds',
		       i, i % 3
		from generate_series(1, 60) as i`;
	const first = await page();
	expect(first.runs).toHaveLength(25);
	expect(first.runs[0].worker_id).toBe('w60');
	expect(first.runs[0].duration_seconds).toBeCloseTo(30, 0);
	expect(first.newerCursor).toBeNull();
	const second = await page(`?before=${first.olderCursor}`);
	expect(second.runs[0].worker_id).toBe('w35');
	const back = await page(`?after=${second.newerCursor}`);
	expect(back.runs.map((r: { id: number }) => r.id)).toEqual(first.runs.map((r: { id: number }) => r.id));
	const third = await page(`?before=${second.olderCursor}`);
	expect(third.runs).toHaveLength(10);
	expect(third.olderCursor).toBeNull();

	const manual = await page('?trigger=manual');
	expect(manual.runs.map((r: { worker_id: string }) => r.worker_id)).toEqual(['w60', 'w50', 'w40', 'w30', 'w20', 'w10']);
	await expect(page('?trigger=sometimes')).rejects.toMatchObject({ status: 400 });
});

test('the cron panel names this deployment endpoint and never the secret', async () => {
	const secret = 'a-cron-secret-that-must-stay-hidden';
	const configured = await testServices(db, {}, { CRON_SECRET: secret, PUBLIC_BASE_URL: 'https://pictures.example/' });
	const url = new URL('http://localhost/admin/worker');
	const data = (await load({ url, locals: { services: configured, user: admin.user }, params: {} } as never)) as Record<string, any>;
	expect(data.cron).toMatchObject({ endpoint: 'https://pictures.example/api/worker', secretConfigured: true });
	expect(JSON.stringify(data)).not.toContain(secret);
	expect((await page()).cron).toMatchObject({ endpoint: 'http://localhost/api/worker', secretConfigured: false });
});
