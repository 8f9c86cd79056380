// Retrying never resurrects what users did: jobs their owners cancelled (through the real
// cancel_generation) are left alone unless the operator ticks the box, jobs whose picture was deleted
// (through the real deleteGeneration) or is already made never run again, and every confirmation says
// how many of each kind it would touch. For all matching, the ticked rows, one job and a failure group.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { consoleActor } from '$lib/server/console/access';
import { changeJob, countBulk, runBulk } from '$lib/server/console/job-actions';
import { parseJobFilter } from '$lib/server/console/job-filter';
import { cancelGeneration } from '$lib/server/generations/cancel';
import { deleteGeneration, providerForModel } from '$lib/server/generations/delete';
import { claimJobs, failJob } from '$lib/server/queue';
import type { Services } from '$lib/server/runtime';
import { retrySentence } from '$lib/components/admin/retry-words';
import { actions as failureActions } from '$routes/admin/failures/+page.server';
import { actions as jobsActions } from '$routes/admin/jobs/+page.server';
import { actions as jobActions } from '$routes/admin/jobs/[id]/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { postForm } from '../../support/console-jobs';

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

type Made = { generation_id: string; job_id: string };
let jobs: Record<string, Made>;
const status = async (made: Made) =>
	(await db.sql`select j.status as job, g.status as generation from job_queue j left join image_generations g on g.id = ${made.generation_id} where j.id = ${made.job_id}`)[0];

async function start(prompt: string): Promise<Made> {
	const [row] = await db.sql<{ result: Made }[]>`select public.start_generation(${alice.id}, ${prompt}, 'local/preview', 512, 512, 7) as result`;
	return row!.result;
}
/** The job fails for good, as a worker's permanent failure leaves it (the trigger fails the generation). */
const fail = (made: Made, message = 'the provider exploded') =>
	db.sql`update job_queue set status = 'failed', attempts = 3, completed_at = now(), updated_at = now(), error_message = ${message} where id = ${made.job_id}`;
const providers = () => providerForModel(db.sql, services.providers);

beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from job_queue`;
	await db.sql`delete from admin_audit_log`;
	await db.sql`delete from user_limits`;
	await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${alice.id}, 1000, 1000)`;
	jobs = {};
	for (const name of ['failedA', 'failedB', 'failedC']) await fail((jobs[name] = await start(name)));
	for (const name of ['operatorA', 'operatorB']) {
		jobs[name] = await start(name);
		await changeJob(consoleActor(admin.user), db.sql, 'cancel', jobs[name]!.job_id);
	}
	for (const name of ['ownerA', 'ownerB']) {
		jobs[name] = await start(name);
		await cancelGeneration(db.sql, alice.user, jobs[name]!.generation_id, providers());
	}
	// Deleted while queued (cancelled first, then the row is gone), and deleted after failing.
	jobs.deletedQueued = await start('deleted while queued');
	await deleteGeneration(db.sql, alice.user, jobs.deletedQueued.generation_id, services);
	await fail((jobs.deletedFailed = await start('deleted after failing')));
	await deleteGeneration(db.sql, alice.user, jobs.deletedFailed.generation_id, services);
	// Failed although its picture was made (a late failure after complete_generation).
	jobs.made = await start('made');
	await db.sql`update image_generations set status = 'completed', image_path = 'x.png' where id = ${jobs.made.generation_id}`;
	await fail(jobs.made);
	jobs.waiting = await start('still waiting');
});

const KINDS = { failed: 3, operator_cancelled: 2, owner_cancelled: 2, deleted: 2, made: 1 };

describe('all matching the filter', () => {
	test('the count says what each kind is and what a retry would touch', async () => {
		const ask = await postForm(jobsActions.bulk, services, admin.user, { op: 'retry' });
		expect(ask.data.confirm).toMatchObject({ count: 5, kinds: KINDS, includeOwnerCancelled: false });
		expect(retrySentence(ask.data.confirm.kinds, false)).toBe(
			'3 failed and 2 cancelled by operators will be retried; 2 cancelled by their owners, 2 whose picture was deleted and 1 whose picture is already made are left alone.'
		);
		const asked = await postForm(jobsActions.bulk, services, admin.user, { op: 'retry', include_owner_cancelled: 'on' });
		expect(asked.data.confirm).toMatchObject({ count: 7, includeOwnerCancelled: true });
		expect(retrySentence(asked.data.confirm.kinds, true)).toMatch(/^3 failed, 2 cancelled by operators and 2 cancelled by their owners will be retried; 2 whose/);
	});

	test('a retry brings back failures and operators\' cancellations only; owners\' cancellations stay cancelled, generations included', async () => {
		const { asOf } = await countBulk(consoleActor(admin.user), db.sql, parseJobFilter(new URLSearchParams()), 'retry');
		const done = await postForm(jobsActions.bulk, services, admin.user, { op: 'retry', confirm: '1', count: '5', as_of: asOf });
		expect(done.data.done).toMatchObject({ affected: 5 });
		for (const name of ['failedA', 'failedB', 'failedC', 'operatorA', 'operatorB']) expect(await status(jobs[name]!), name).toEqual({ job: 'pending', generation: 'queued' });
		for (const name of ['ownerA', 'ownerB']) expect(await status(jobs[name]!), name).toEqual({ job: 'cancelled', generation: 'cancelled' });
		expect(await status(jobs.deletedQueued!)).toEqual({ job: 'cancelled', generation: null });
		expect(await status(jobs.deletedFailed!)).toEqual({ job: 'failed', generation: null });
		expect(await status(jobs.made!)).toEqual({ job: 'failed', generation: 'completed' });
		const [audit] = await db.sql`select action, affected_rows, details from admin_audit_log where action like 'jobs.%'`;
		expect(audit).toMatchObject({ action: 'jobs.bulk_retry', affected_rows: 5, details: { include_owner_cancelled: false } });
	});

	test('asked explicitly, owners\' cancellations are retried too; a deleted picture never is', async () => {
		const ask = await postForm(jobsActions.bulk, services, admin.user, { op: 'retry', include_owner_cancelled: 'on' });
		const done = await postForm(jobsActions.bulk, services, admin.user, {
			op: 'retry', include_owner_cancelled: 'on', confirm: '1', count: '7', as_of: ask.data.confirm.asOf
		});
		expect(done.data.done.affected).toBe(7);
		expect(await status(jobs.ownerA!)).toEqual({ job: 'pending', generation: 'queued' });
		expect(await status(jobs.deletedQueued!)).toEqual({ job: 'cancelled', generation: null });
		expect(await status(jobs.deletedFailed!)).toEqual({ job: 'failed', generation: null });
	});

	test('a job that fails after the count is not part of what was confirmed', async () => {
		const ask = await postForm(jobsActions.bulk, services, admin.user, { op: 'retry' });
		// It fails the way a worker fails it: claimed, then a permanent failure.
		const [claimed] = await claimJobs(db.sql, { workerId: 'late-worker', limit: 1 });
		expect(claimed!.id).toBe(jobs.waiting!.job_id);
		await failJob(db.sql, { jobId: claimed!.id, workerId: 'late-worker', claimCount: claimed!.claim_count }, { message: 'failed after the count', permanent: true });
		await runBulk(consoleActor(admin.user), db.sql, parseJobFilter(new URLSearchParams()), 'retry', { count: 5, asOf: ask.data.confirm.asOf });
		expect(await status(jobs.waiting!)).toEqual({ job: 'failed', generation: 'failed' });
		expect(await status(jobs.failedA!)).toEqual({ job: 'pending', generation: 'queued' });
	});
});

describe('the ticked rows', () => {
	const tick = (names: string[], extra: Record<string, string> = {}) =>
		postForm(jobsActions.selection, services, admin.user, { op: 'retry', id: names.map((n) => jobs[n]?.job_id ?? n), ...extra });

	test('the count names every kind, and what cannot be retried at all', async () => {
		const ask = await tick(['failedA', 'ownerA', 'deletedQueued', 'made', 'waiting', '00000000-0000-4000-8000-000000000000']);
		expect(ask.data.confirm).toMatchObject({
			scope: 'selection', selected: 6, count: 1, ineligible: 2,
			kinds: { failed: 1, operator_cancelled: 0, owner_cancelled: 1, deleted: 1, made: 1 }
		});
	});

	test('confirmed: only the ticked jobs a retry may touch, audited with their ids', async () => {
		const names = ['failedA', 'operatorA', 'ownerA', 'deletedFailed', 'waiting'];
		const done = await tick(names, { confirm: '1', count: '2' });
		expect(done.data.done).toMatchObject({ scope: 'selection', affected: 2, skipped: 3 });
		expect(await status(jobs.failedA!)).toMatchObject({ job: 'pending' });
		expect(await status(jobs.operatorA!)).toMatchObject({ job: 'pending' });
		expect(await status(jobs.failedB!)).toMatchObject({ job: 'failed' }); // not ticked
		expect(await status(jobs.ownerA!)).toMatchObject({ job: 'cancelled' });
		expect(await status(jobs.deletedFailed!)).toMatchObject({ job: 'failed' });
		const [audit] = await db.sql`select action, affected_rows, details from admin_audit_log where action like 'jobs.%'`;
		expect(audit).toMatchObject({ action: 'jobs.selection_retry', affected_rows: 2 });
		expect([...(audit!.details as { ids: string[] }).ids].sort()).toEqual(names.map((n) => jobs[n]!.job_id).sort());
	});

	test('with the box ticked, an owner\'s cancellation is retried; cancelling ticked rows stops only waiting and running ones', async () => {
		await tick(['ownerA', 'deletedQueued'], { include_owner_cancelled: 'on', confirm: '1', count: '1' });
		expect(await status(jobs.ownerA!)).toEqual({ job: 'pending', generation: 'queued' });
		expect(await status(jobs.deletedQueued!)).toEqual({ job: 'cancelled', generation: null });
		const cancel = await postForm(jobsActions.selection, services, admin.user, {
			op: 'cancel', id: [jobs.waiting!.job_id, jobs.failedA!.job_id, jobs.ownerA!.job_id], confirm: '1', count: '2'
		});
		expect(cancel.data.done).toMatchObject({ affected: 2, skipped: 1 });
		expect(await status(jobs.waiting!)).toEqual({ job: 'cancelled', generation: 'cancelled' });
		expect(await status(jobs.failedA!)).toMatchObject({ job: 'failed' });
	});
});

describe('one job', () => {
	const retry = (name: string, fields: Record<string, string> = {}) =>
		postForm(jobActions.retry, services, admin.user, { id: jobs[name]!.job_id, ...fields }, { params: { id: jobs[name]!.job_id } });

	test('a deleted picture or a made one is refused, saying why; nothing changes', async () => {
		for (const [name, message] of [['deletedQueued', /deleted by its owner/], ['deletedFailed', /deleted by its owner/], ['made', /already has its picture/]] as const) {
			const answer = await retry(name, { include_owner_cancelled: 'on' });
			expect(answer).toMatchObject({ status: 400, data: { error: expect.stringMatching(message) } });
		}
		expect(await status(jobs.made!)).toEqual({ job: 'failed', generation: 'completed' });
	});

	test("an owner's cancellation needs the box ticked", async () => {
		expect(await retry('ownerA')).toMatchObject({ status: 400, data: { field: 'include_owner_cancelled' } });
		expect(await status(jobs.ownerA!)).toEqual({ job: 'cancelled', generation: 'cancelled' });
		expect((await retry('ownerA', { include_owner_cancelled: 'on' })).status).toBe(200);
		expect(await status(jobs.ownerA!)).toEqual({ job: 'pending', generation: 'queued' });
		expect((await retry('operatorA')).status).toBe(200);
	});
});

test("a failure group's retry leaves a deleted picture's job alone and says so", async () => {
	const message = 'the provider exploded';
	const ask = await postForm(failureActions.retryGroup, services, admin.user, { message }, { path: '/admin/failures' });
	expect(ask.data.confirm).toMatchObject({ count: 3, deleted: 1, made: 1 });
	const done = await postForm(failureActions.retryGroup, services, admin.user, { message, confirm: '1', count: '3', as_of: ask.data.confirm.asOf }, { path: '/admin/failures' });
	expect(done.data.done.affected).toBe(3);
	expect(await status(jobs.deletedFailed!)).toEqual({ job: 'failed', generation: null });
	expect(await status(jobs.made!)).toEqual({ job: 'failed', generation: 'completed' });
});
