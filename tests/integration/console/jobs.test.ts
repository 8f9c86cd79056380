// /admin/jobs: every filter, the sort allowlist, keyset paging over ties, and bad input.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { load } from '$routes/admin/jobs/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { insertJob, loadPage, minutesAgo } from '../../support/console-jobs';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

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
});

interface Page {
	page: { jobs: { id: string; priority: number; attempts: number; created_at: Date; scheduled_at: Date }[]; next: string | null; prev: string | null };
	problem: { error: string; field: string } | null;
	query: string;
	sort: { key: string; dir: string };
}
const list = (query: string) => loadPage<Page>(load, services, admin.user, `/admin/jobs?${query}`);
const ids = async (query: string) => (await list(query)).page.jobs.map((job) => job.id).sort();

describe('filters', () => {
	let j: Record<string, string>;
	beforeEach(async () => {
		j = {
			failed: await insertJob(db.sql, {
				status: 'failed', created_by: alice.id, created_at: minutesAgo(3 * 1440), error_message: 'Replicate said 100%_done',
				payload: { model_id: 'local/preview', generation_id: 'x' }
			}),
			wildcard: await insertJob(db.sql, { status: 'failed', created_by: bob.id, created_at: minutesAgo(2 * 1440), error_message: 'Replicate said 1000 done' }),
			completed: await insertJob(db.sql, { status: 'completed', created_by: bob.id, created_at: minutesAgo(1440), payload: { model_id: 'black-forest-labs/flux-schnell' } }),
			cleanup: await insertJob(db.sql, { job_type: 'cleanup', created_by: alice.id, payload: { note: 'hello_world' } }),
			lookalike: await insertJob(db.sql, { job_type: 'cleanup', payload: { note: 'helloXworld' } }),
			running: await insertJob(db.sql, { status: 'processing', created_at: minutesAgo(120), payload: { model_id: 'local/preview' } })
		};
	});
	const expectIds = async (query: string, names: string[]) => expect(await ids(query)).toEqual(names.map((name) => j[name]).sort());

	test('no filter lists every job, newest first', async () => {
		const { page } = await list('');
		expect(page.jobs.map((job) => job.id)).toEqual(['lookalike', 'cleanup', 'running', 'completed', 'wildcard', 'failed'].map((name) => j[name]));
	});
	test('by status', () => expectIds('status=failed', ['failed', 'wildcard']));
	test('by job type', () => expectIds('type=cleanup', ['cleanup', 'lookalike']));
	test('by user email, in any case', async () => {
		await expectIds(`user=${encodeURIComponent(alice.email.toUpperCase())}`, ['failed', 'cleanup']);
		await expectIds('user=nobody%40example.test', []);
	});
	test('by user id', () => expectIds(`user=${bob.id}`, ['wildcard', 'completed']));
	test('by model', () => expectIds('model=local%2Fpreview', ['failed', 'running']));
	test('by creation time range (from inclusive, a date-only "to" covers that day)', async () => {
		const day = (n: number) => minutesAgo(n * 1440).toISOString().slice(0, 10);
		await expectIds(`from=${encodeURIComponent(minutesAgo(1500).toISOString())}`, ['completed', 'cleanup', 'lookalike', 'running']);
		await expectIds(`from=${day(3)}&to=${day(2)}`, ['failed', 'wildcard']);
		await expectIds(`to=${encodeURIComponent(minutesAgo(60).toISOString().slice(0, 16))}`, ['failed', 'wildcard', 'completed', 'running']);
	});
	test('by text in the error, with % and _ matched literally; a payload is matched by the ids it holds, not as text', async () => {
		await expectIds('q=100%25_', ['failed']);
		await expectIds('q=REPLICATE', ['failed', 'wildcard']);
		// Payload text has no index (it would cost a write on every claim and completion): see 0019.
		await expectIds('q=hello_world', []);
		await expectIds(`q=${j.cleanup}`, ['cleanup']);
	});
	test('filters combine', () => expectIds(`status=failed&user=${alice.id}&q=replicate`, ['failed']));
});

describe('sort', () => {
	beforeEach(async () => {
		for (let i = 0; i < 12; i++) {
			await insertJob(db.sql, { priority: i % 4, attempts: i % 3, scheduled_at: minutesAgo(i), created_at: minutesAgo(100 - i) });
		}
	});
	test.each([
		['priority', 'asc'],
		['priority', 'desc'],
		['attempts', 'asc'],
		['scheduled_at', 'desc'],
		['created_at', 'asc']
	])('by %s %s, ties broken by id', async (key, dir) => {
		const { page, sort } = await list(`sort=${key}&dir=${dir}`);
		expect(sort).toEqual({ key, dir });
		const value = (job: Record<string, unknown>) => (job[key] instanceof Date ? (job[key] as Date).getTime() : Number(job[key]));
		const sign = dir === 'asc' ? 1 : -1;
		for (let i = 1; i < page.jobs.length; i++) {
			const [a, b] = [page.jobs[i - 1]!, page.jobs[i]!] as unknown as Record<string, unknown>[];
			const order = Math.sign(value(b!) - value(a!)) * sign || (String(b!.id) > String(a!.id) ? sign : -sign);
			expect(order).toBe(1);
		}
	});
	test('an unknown sort key or direction is ignored: newest first, and nothing reaches the SQL', async () => {
		const { page, sort, problem } = await list(`sort=${encodeURIComponent('id; drop table job_queue; --')}&dir=${encodeURIComponent('desc; select 1')}`);
		expect(problem).toBeNull();
		expect(sort).toEqual({ key: 'created_at', dir: 'desc' });
		expect(page.jobs).toHaveLength(12);
		const count = (await db.sql`select count(*)::int as count from job_queue`)[0]!.count;
		expect(count).toBe(12);
	});
});

describe('keyset paging', () => {
	test.each([
		['created_at', 'desc'],
		['created_at', 'asc'],
		['priority', 'desc'],
		['attempts', 'asc'],
		['scheduled_at', 'asc']
	])('by %s %s: forward pages cover every row exactly once, and backward pages are the same pages', async (key, dir) => {
		// 137 rows in few distinct values, so whole pages sit on ties that only the id breaks.
		const same = new Date();
		for (let i = 0; i < 137; i++) {
			await insertJob(db.sql, { priority: i % 3, attempts: i % 2, created_at: i % 2 ? same : minutesAgo(i % 5), scheduled_at: same });
		}
		const pages: string[][] = [];
		let cursor: string | null = null;
		let last: Page | null = null;
		do {
			last = await list(`sort=${key}&dir=${dir}${cursor ? `&cursor=${cursor}` : ''}`);
			pages.push(last.page.jobs.map((job) => job.id));
			cursor = last.page.next;
		} while (cursor && pages.length < 10);
		expect(pages.map((p) => p.length)).toEqual([50, 50, 37]);
		const seen = pages.flat();
		expect(new Set(seen).size).toBe(137);
		const count = (await db.sql`select count(*)::int as count from job_queue`)[0]!.count;
		expect(seen).toHaveLength(count);

		const back = await list(`sort=${key}&dir=${dir}&cursor=${last.page.prev}`);
		expect(back.page.jobs.map((job) => job.id)).toEqual(pages[1]);
		const first = await list(`sort=${key}&dir=${dir}&cursor=${back.page.prev}`);
		expect(first.page.jobs.map((job) => job.id)).toEqual(pages[0]);
		expect(first.page.prev).toBeNull();
	});
});

describe('bad input is reported, not run', () => {
	test.each([
		['status=exploded', 'status'],
		['user=not-a-uuid-or-email', 'user'],
		['user=1234abcd-0000-0000-0000', 'user'],
		['from=2024-13-45', 'from'],
		['to=yesterday', 'to'],
		[`from=2025-02-02&to=2025-01-01`, 'to'],
		['from=2025-02-31', 'from'],
		['cursor=bm9wZQ', 'cursor'],
		[`sort=priority&cursor=${Buffer.from(JSON.stringify(['n', '99999999999', '00000000-0000-4000-8000-000000000000'])).toString('base64url')}`, 'cursor'],
		[`cursor=${Buffer.from(JSON.stringify(['n', '2025-13-01T00:00:00Z', '00000000-0000-4000-8000-000000000000'])).toString('base64url')}`, 'cursor'],
		[`q=${'x'.repeat(201)}`, 'q']
	])('%s', async (query, field) => {
		await insertJob(db.sql);
		const result = await list(query);
		expect(result.problem).toMatchObject({ field });
		expect(result.page.jobs).toEqual([]);
	});
});
