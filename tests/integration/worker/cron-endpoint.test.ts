// POST /api/worker, called as SvelteKit calls it, against a real database.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { enqueueJob } from '$lib/server/queue';
import type { Services } from '$lib/server/runtime';
import { GET, POST } from '$routes/api/worker/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { testServices } from '../../support/services';

const SECRET = 'a-cron-secret-of-decent-length';
let db: TestDatabase;
let services: Services;
beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, { noop: async () => {} }, { CRON_SECRET: SECRET, WORKER_BUDGET_SECONDS: '10' });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from job_queue`;
});

function call(headers: Record<string, string> = {}, query = '') {
	const url = new URL(`http://localhost/api/worker${query}`);
	const request = new Request(url, { method: 'POST', headers });
	return POST({ request, url, locals: { services } } as unknown as Parameters<typeof POST>[0]);
}

async function untouched(id: string) {
	const [row] = await db.sql`select status, attempts from job_queue where id = ${id}`;
	return row;
}

test.each([
	['no header', {}],
	['a wrong secret', { authorization: `Bearer ${SECRET}x` }],
	['a prefix of the secret', { authorization: `Bearer ${SECRET.slice(0, 10)}` }],
	['the secret without Bearer', { authorization: SECRET }]
])('401 with %s, and no job is claimed', async (_name, headers) => {
	const id = await enqueueJob(db.sql, 'noop');
	const response = await call(headers);
	expect(response.status).toBe(401);
	expect((await response.json()).success).toBe(false);
	expect(await untouched(id)).toEqual({ status: 'pending', attempts: 0 });
	expect((await db.sql`select count(*)::int as n from worker_runs`)[0]!.n).toBe(0);
});

test("the right secret works the queue and answers in the seed's shape", async () => {
	await Promise.all([enqueueJob(db.sql, 'noop'), enqueueJob(db.sql, 'noop')]);
	const response = await call({ authorization: `Bearer ${SECRET}` });
	expect(response.status).toBe(200);
	const body = await response.json();
	expect(body).toMatchObject({ success: true, processed: 2, errors: 0, message: 'Processed 2 job(s) with 0 error(s)' });
	const [run] = await db.sql`select trigger, processed from worker_runs where id = ${body.run_id}`;
	expect(run).toEqual({ trigger: 'cron', processed: 2 });
});

test('a budget outside the allowed range is a 400 that runs nothing', async () => {
	const id = await enqueueJob(db.sql, 'noop');
	const response = await call({ authorization: `Bearer ${SECRET}` }, '?budget_seconds=999');
	expect(response.status).toBe(400);
	expect((await response.json()).error).toMatch(/budget_seconds/);
	expect(await untouched(id)).toEqual({ status: 'pending', attempts: 0 });
});

test('without CRON_SECRET configured the endpoint refuses everyone', async () => {
	const open = await testServices(db, { noop: async () => {} });
	const url = new URL('http://localhost/api/worker');
	const response = await POST({
		request: new Request(url, { method: 'POST', headers: { authorization: 'Bearer ' } }),
		url,
		locals: { services: open }
	} as unknown as Parameters<typeof POST>[0]);
	expect(response.status).toBe(401);
	expect((await response.json()).error).toMatch(/CRON_SECRET/);
});

test('GET, as Vercel Cron sends it, needs the same secret and then does the same work', async () => {
	const id = await enqueueJob(db.sql, 'noop');
	const get = (headers: Record<string, string>) => {
		const url = new URL('http://localhost/api/worker');
		return GET({ request: new Request(url, { headers }), url, locals: { services } } as unknown as Parameters<typeof GET>[0]);
	};
	const refused = await get({ 'user-agent': 'vercel-cron/1.0' });
	expect(refused.status).toBe(401);
	expect(await untouched(id)).toEqual({ status: 'pending', attempts: 0 });

	const response = await get({ authorization: `Bearer ${SECRET}`, 'user-agent': 'vercel-cron/1.0' });
	expect(response.status).toBe(200);
	expect(await response.json()).toMatchObject({ success: true, processed: 1, errors: 0 });
	expect((await untouched(id))!.status).toBe('completed');
});
