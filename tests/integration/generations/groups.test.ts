// Generation groups through the API: the group form and its refusals, the limits and idempotency
// under concurrency (all or nothing), someone else's group, cancelling as one, the status rules,
// fencing of a member's job, the event stream and the ZIP of the pictures.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { groupStatusOf } from '$lib/picture-client';
import type { Services } from '$lib/server/runtime';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { POST as start } from '$routes/api/generations/+server';
import { DELETE as cancel, GET as getOne } from '$routes/api/groups/[id]/+server';
import { GET as events } from '$routes/api/groups/[id]/events/+server';
import { GET as zip } from '$routes/api/groups/[id]/zip/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { collectSse } from '../../support/sse';
import { testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase({ max: 30 });
	services = await testServices(db, 'app');
	alice = await signedInUser(services);
	bob = await signedInUser(services);
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_groups`;
	await db.sql`delete from generation_usage`;
	await db.sql`delete from job_queue`;
	await db.sql`delete from user_limits`;
});

const valid = { prompt: 'a lighthouse in a storm', models: ['local/preview', 'local/detailed'], variations: 2, width: 512, height: 512 };
const post = (body: unknown, user = alice.user, headers: Record<string, string> = {}) =>
	call(start, services, { method: 'POST', path: '/api/generations', body, user, headers });
const group = (id: string, user = alice.user) => call(getOne, services, { path: `/api/groups/${id}`, params: { id }, user });
const counts = async () => {
	const [row] = await db.sql`select (select count(*) from generation_groups)::int as groups, (select count(*) from image_generations)::int as generations, (select count(*) from job_queue)::int as jobs`;
	return row;
};
const work = () => runWorkerForBudget({ sql: db.sql, handlers: services.handlers, trigger: 'manual', budgetMs: 20_000, concurrency: 2, leaseSeconds: 30 });

describe('the group form of POST /api/generations', () => {
	test('makes one group of models x variations, each member with its own job, and answers with them', async () => {
		const response = await post({ ...valid, seed: 7 });
		expect(response.status).toBe(201);
		const body = await response.json();
		expect(body).toMatchObject({ success: true, group_id: expect.any(String), status: 'queued' });
		expect(body.group).toMatchObject({ id: body.group_id, status: 'queued', complete: false, counts: { members: 4, active: 4 } });
		const members = body.group.members as Array<{ model_id: string; seed: number; group_id: string; status: string }>;
		expect(members.map((m) => [m.model_id, m.seed])).toEqual([
			['local/preview', 7],
			['local/preview', 8],
			['local/detailed', 7],
			['local/detailed', 8]
		]);
		expect(members.every((m) => m.group_id === body.group_id && m.status === 'queued')).toBe(true);
		const jobs = await db.sql`
			select g.id, j.dedupe_key, j.created_by, j.payload from image_generations g join job_queue j on j.id = g.job_id where g.group_id = ${body.group_id}`;
		expect(jobs).toHaveLength(4);
		for (const job of jobs) {
			expect(job).toMatchObject({ dedupe_key: `generation:${job.id}`, created_by: alice.id });
			expect(job.payload).toMatchObject({ generation_id: job.id });
		}
		expect(await counts()).toEqual({ groups: 1, generations: 4, jobs: 4 });
	});

	test('variations alone (one model) and random seeds: distinct members of one model', async () => {
		const body = await (await post({ prompt: 'fog', model_id: 'local/preview', variations: 3, width: 512, height: 512 })).json();
		expect(body.group.members).toHaveLength(3);
		expect(new Set(body.group.members.map((m: { model_id: string }) => m.model_id))).toEqual(new Set(['local/preview']));
	});

	test('the single form answers exactly as before', async () => {
		const body = await (await post({ prompt: 'one', model_id: 'local/preview', width: 512, height: 512 })).json();
		expect(Object.keys(body).sort()).toEqual(['generation_id', 'job_id', 'status', 'success']);
	});

	const bad: Array<[string, unknown, string, RegExp]> = [
		['models that is not a list', { ...valid, models: 'local/preview' }, 'models', /1 to 4 models/],
		['no models', { ...valid, models: [] }, 'models', /1 to 4 models/],
		['five models', { ...valid, models: ['a', 'b', 'c', 'd', 'e'] }, 'models', /1 to 4 models/],
		['a model named twice', { ...valid, models: ['local/preview', 'local/preview'] }, 'models', /once/],
		['a model that is a number', { ...valid, models: [42] }, 'models', /name of a model/],
		['models and model_id both', { ...valid, model_id: 'local/preview' }, 'model_id', /not both/],
		['0 variations', { ...valid, variations: 0 }, 'variations', /from 1 to 4/],
		['5 variations', { ...valid, variations: 5 }, 'variations', /from 1 to 4/],
		['1.5 variations', { ...valid, variations: 1.5 }, 'variations', /whole number/],
		['variations as words', { ...valid, variations: 'many' }, 'variations', /whole number/],
		['variations alone with no model', { prompt: 'x', variations: 2, width: 512, height: 512 }, 'model_id', /Choose a model/],
		['one unknown model among good ones', { ...valid, models: ['local/preview', 'nope/never'] }, 'models', /no model called "nope\/never"/],
		['a Replicate model without a token', { ...valid, models: ['local/preview', 'black-forest-labs/flux-schnell'] }, 'models', /REPLICATE_API_TOKEN/],
		['a size one of the models does not make', { ...valid, width: 500 }, 'width', /multiple of 8/],
		['a blank prompt', { ...valid, prompt: '  ' }, 'prompt', /prompt/],
		['a bad idempotency key', { ...valid, idempotency_key: 'has spaces' }, 'idempotency_key', /idempotency key/]
	];
	test.each(bad)('400 for %s, naming the field, writing nothing (no member either)', async (_name, body, field, message) => {
		const response = await post(body);
		expect(response.status).toBe(400);
		const answer = await response.json();
		expect(answer).toMatchObject({ field, error: expect.stringMatching(message) });
		expect(await counts()).toEqual({ groups: 0, generations: 0, jobs: 0 });
	});

	test('a disabled model refuses the whole group', async () => {
		await db.sql`update models set enabled = false where id = 'local/detailed'`;
		try {
			expect((await post(valid)).status).toBe(400);
			expect(await counts()).toEqual({ groups: 0, generations: 0, jobs: 0 });
		} finally {
			await db.sql`update models set enabled = true where id = 'local/detailed'`;
		}
	});
});

describe('limits: every picture counts, a group is all or nothing', () => {
	test('50 concurrent group requests from a user with room for 5 pictures make exactly 5 pictures', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit) values (${alice.id}, 5)`;
		const responses = await Promise.all(
			Array.from({ length: 50 }, (_, i) => post({ prompt: `cat ${i}`, model_id: 'local/preview', variations: 1, width: 512, height: 512 }))
		);
		const statuses = responses.map((r) => r.status);
		expect(statuses.filter((s) => s === 201)).toHaveLength(5);
		expect(statuses.filter((s) => s === 429)).toHaveLength(45);
		expect(await counts()).toEqual({ groups: 5, generations: 5, jobs: 5 });
	});

	test('50 concurrent groups of 2 with room for 5 make 2 whole groups; none is cut short', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit) values (${alice.id}, 5)`;
		const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => post({ ...valid, variations: 1, prompt: `pair ${i}` })));
		expect(responses.filter((r) => r.status === 201)).toHaveLength(2);
		expect(await counts()).toEqual({ groups: 2, generations: 4, jobs: 4 });
		const sizes = await db.sql`select count(*)::int as n from image_generations group by group_id`;
		expect(sizes.map((r) => r.n)).toEqual([2, 2]);
		// One picture of room left: a group of 2 says so; a single still fits.
		const refused = await post({ ...valid, variations: 1 });
		expect(refused.status).toBe(429);
		expect((await refused.json()).error).toMatch(/makes 2 pictures and you have room for 1 more/);
		expect((await post({ prompt: 'one more', model_id: 'local/preview', width: 512, height: 512 })).status).toBe(201);
	});

	test('singles and groups racing share one count', async () => {
		await db.sql`insert into user_limits (user_id, daily_limit) values (${alice.id}, 6)`;
		await Promise.all(
			Array.from({ length: 30 }, (_, i) =>
				i % 2 ? post({ ...valid, variations: 1, prompt: `g${i}` }) : post({ prompt: `s${i}`, model_id: 'local/preview', width: 512, height: 512 })
			)
		);
		const [{ n }] = (await db.sql`select count(*)::int as n from image_generations`) as unknown as [{ n: number }];
		expect(n).toBeLessThanOrEqual(6);
		expect(n).toBeGreaterThanOrEqual(5);
	});

	test('a blocked account gets 403 and nothing', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit) values (${alice.id}, 0)`;
		expect((await post(valid)).status).toBe(403);
		expect(await counts()).toEqual({ groups: 0, generations: 0, jobs: 0 });
	});
});

describe('idempotency: one key, one group', () => {
	test('20 concurrent identical group requests with one key make one group', async () => {
		const responses = await Promise.all(Array.from({ length: 20 }, () => post({ ...valid, idempotency_key: 'burst' })));
		const ids = new Set(await Promise.all(responses.map(async (r) => (await r.json()).group_id)));
		expect(ids.size).toBe(1);
		expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
		expect(responses.filter((r) => r.status === 200)).toHaveLength(19);
		expect(await counts()).toEqual({ groups: 1, generations: 4, jobs: 4 });
	});

	test('the header works as the body does, and keys are per user', async () => {
		const first = await (await post(valid, alice.user, { 'idempotency-key': 'k-1' })).json();
		const again = await post({ ...valid, idempotency_key: 'k-1' });
		expect(again.status).toBe(200);
		expect((await again.json()).group_id).toBe(first.group_id);
		const bobs = await post({ ...valid, idempotency_key: 'k-1' }, bob.user);
		expect(bobs.status).toBe(201);
		expect((await bobs.json()).group_id).not.toBe(first.group_id);
	});
});

describe('reading, cancelling, status', () => {
	test("someone else's group is a 404 on every group route, as is an id that is not one", async () => {
		const { group_id: id } = await (await post(valid)).json();
		expect((await group(id)).status).toBe(200);
		expect((await group(id, bob.user)).status).toBe(404);
		expect((await call(cancel, services, { method: 'DELETE', path: `/api/groups/${id}`, params: { id }, user: bob.user })).status).toBe(404);
		expect((await call(events, services, { path: `/api/groups/${id}/events`, params: { id }, user: bob.user })).status).toBe(404);
		expect((await call(zip, services, { path: `/api/groups/${id}/zip`, params: { id }, user: bob.user })).status).toBe(404);
		expect((await group('not-a-uuid')).status).toBe(404);
		// Bob's cancel changed nothing.
		expect((await db.sql`select count(*)::int as n from image_generations where status = 'queued'`)[0]!.n).toBe(4);
	});

	test('cancel cancels every member and its job, refunds the unstarted ones, and completes the group', async () => {
		const { group_id: id } = await (await post(valid)).json();
		const response = await call(cancel, services, { method: 'DELETE', path: `/api/groups/${id}`, params: { id }, user: alice.user });
		expect(response.status).toBe(200);
		const body = await response.json();
		expect(body).toMatchObject({ status: 'cancelled', complete: true, counts: { cancelled: 4, active: 0 } });
		const jobs = await db.sql`select j.status from job_queue j join image_generations g on g.job_id = j.id where g.group_id = ${id}`;
		expect(jobs.map((j) => j.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
		const [limits] = await db.sql`select get_user_limits(${alice.id}) as l`;
		expect(limits!.l.hourly_used).toBe(0);
		// Again: nothing left to cancel, the same answer.
		expect((await (await call(cancel, services, { method: 'DELETE', path: `/api/groups/${id}`, params: { id }, user: alice.user })).json()).status).toBe('cancelled');
	});

	test('the status follows the members, and the SQL rule and the client module agree', async () => {
		const { group_id: id } = await (await post(valid)).json();
		const members = (await db.sql`select id from image_generations where group_id = ${id} order by group_position`).map((r) => r.id as string);
		const set = async (i: number, status: string) => {
			const done = status === 'completed';
			await db.sql`update image_generations set status = ${status}, image_path = ${done ? `${alice.id}/${members[i]}.png` : null},
				started_at = case when ${status} <> 'queued' then now() end where id = ${members[i]!}`;
		};
		const statusNow = async () => {
			const body = await (await group(id)).json();
			expect(groupStatusOf(body.members)).toEqual({ status: body.status, complete: body.complete });
			return [body.status, body.complete];
		};
		expect(await statusNow()).toEqual(['queued', false]);
		await set(0, 'processing');
		expect(await statusNow()).toEqual(['running', false]);
		await set(0, 'completed');
		expect(await statusNow()).toEqual(['running', false]);
		await set(1, 'failed');
		await set(2, 'cancelled');
		expect(await statusNow()).toEqual(['running', false]);
		await set(3, 'completed');
		expect(await statusNow()).toEqual(['partly_done', true]);
		await set(1, 'completed');
		await set(2, 'completed');
		expect(await statusNow()).toEqual(['done', true]);
		for (const i of [0, 1, 2, 3]) await set(i, i === 0 ? 'failed' : 'cancelled');
		expect(await statusNow()).toEqual(['failed', true]);
		await set(0, 'cancelled');
		expect(await statusNow()).toEqual(['cancelled', true]);
	});

	test("fencing still holds for a member: a run that lost its claim cannot complete it", async () => {
		const { group_id: id } = await (await post({ ...valid, models: ['local/preview'], variations: 1 })).json();
		const [member] = await db.sql`select id, job_id from image_generations where group_id = ${id}`;
		const [first] = await db.sql`select id, attempts from claim_jobs('stalled', 1, 30)`;
		expect(first!.id).toBe(member!.job_id);
		expect((await db.sql`select admit_generation(${member!.id}, ${member!.job_id}, 'stalled', ${first!.attempts}) as r`)[0]!.r).toBe('admitted');
		// The lease runs out; the reaper puts the job back and another worker claims it.
		await db.sql`update job_queue set locked_until = now() - interval '1 second' where id = ${member!.job_id}`;
		await db.sql`select reap_expired_jobs()`;
		const [second] = await db.sql`select id, attempts from claim_jobs('fresh', 1, 30)`;
		expect(second!.id).toBe(member!.job_id);
		const complete = (worker: string, attempt: number) => db.sql`
			select complete_generation(${member!.id}, ${member!.job_id}, ${worker}, ${attempt}, ${`${alice.id}/${member!.id}.png`}, null, 'image/png', 10, 1.0, null) as ok`;
		expect((await db.sql`select admit_generation(${member!.id}, ${member!.job_id}, 'fresh', ${second!.attempts}) as r`)[0]!.r).toBe('admitted');
		expect((await complete('stalled', first!.attempts))[0]!.ok).toBe(false);
		expect((await complete('fresh', second!.attempts))[0]!.ok).toBe(true);
	});
});

describe('following and downloading a group', () => {
	test('the event stream sends each member change and ends with the complete group', async () => {
		const { group_id: id } = await (await post({ ...valid, variations: 1 })).json();
		const response = await call(events, services, { path: `/api/groups/${id}/events`, params: { id }, user: alice.user });
		expect(response.status).toBe(200);
		const collected = collectSse(response);
		await work();
		const received = await collected;
		const last = received[received.length - 1]!;
		expect(last.event).toBe('group');
		expect(JSON.parse(last.data)).toMatchObject({ id, status: 'done', complete: true });
		const memberEvents = received.filter((e) => e.event === 'generation').map((e) => JSON.parse(e.data));
		expect(new Set(memberEvents.filter((g) => g.status === 'completed').map((g) => g.id)).size).toBe(2);
		// Ids only grow, so Last-Event-ID resumes; resuming at the end sends only the group.
		const ids = received.filter((e) => e.id).map((e) => Number(e.id));
		expect([...ids].sort((a, b) => a - b)).toEqual(ids);
		const resumed = await collectSse(
			await call(events, services, { path: `/api/groups/${id}/events`, params: { id }, user: alice.user, headers: { 'last-event-id': String(ids[ids.length - 1]) } })
		);
		expect(resumed.map((e) => e.event)).toEqual(['group']);
		// Resuming from before the end: every member's state again, then the group.
		const behind = await collectSse(
			await call(events, services, { path: `/api/groups/${id}/events`, params: { id }, user: alice.user, headers: { 'last-event-id': '1' } })
		);
		expect(behind.map((e) => e.event)).toEqual(['generation', 'generation', 'group']);
		expect(behind.slice(0, 2).map((e) => JSON.parse(e.data).status)).toEqual(['completed', 'completed']);
	});

	test('the ZIP holds every finished picture, byte for byte, and unzip accepts it', async () => {
		const { group_id: id } = await (await post({ ...valid, seed: 3 })).json();
		expect((await call(zip, services, { path: `/api/groups/${id}/zip`, params: { id }, user: alice.user })).status).toBe(404); // none finished yet
		await work();
		const response = await call(zip, services, { path: `/api/groups/${id}/zip`, params: { id }, user: alice.user });
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toBe('application/zip');
		expect(response.headers.get('content-disposition')).toBe(`attachment; filename="picture-group-${id}.zip"`);
		const archive = Buffer.from(await response.arrayBuffer());
		const entries = readZip(archive);
		expect(entries.map((e) => e.name)).toEqual([
			'1-local-preview-seed3.png',
			'2-local-preview-seed4.png',
			'3-local-detailed-seed3.png',
			'4-local-detailed-seed4.png'
		]);
		const rows = await db.sql`select image_path from image_generations where group_id = ${id} order by group_position`;
		for (const [i, entry] of entries.entries()) {
			const stored = await services.storage.get(rows[i]!.image_path);
			expect(entry.data.equals(stored!.data)).toBe(true);
			expect(entry.crc).toBe(zlibCrc32(entry.data));
			expect(entry.data.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
		}
		const dir = await mkdtemp(path.join(tmpdir(), 'group-zip-'));
		await writeFile(path.join(dir, 'g.zip'), archive);
		const { stdout } = await promisify(execFile)('unzip', ['-t', path.join(dir, 'g.zip')]);
		expect(stdout).toMatch(/No errors detected/);
	});
});

/** A small reader of what zip.ts writes: the central directory, then each local entry. */
function readZip(archive: Buffer): Array<{ name: string; crc: number; data: Buffer }> {
	const end = archive.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
	const count = archive.readUInt16LE(end + 10);
	let at = archive.readUInt32LE(end + 16);
	const entries = [];
	for (let i = 0; i < count; i++) {
		expect(archive.readUInt32LE(at)).toBe(0x02014b50);
		const crc = archive.readUInt32LE(at + 16);
		const size = archive.readUInt32LE(at + 20);
		const nameLength = archive.readUInt16LE(at + 28);
		const name = archive.toString('utf8', at + 46, at + 46 + nameLength);
		const local = archive.readUInt32LE(at + 42);
		expect(archive.readUInt32LE(local)).toBe(0x04034b50);
		const start = local + 30 + archive.readUInt16LE(local + 26) + archive.readUInt16LE(local + 28);
		entries.push({ name, crc, data: archive.subarray(start, start + size) });
		at += 46 + nameLength + archive.readUInt16LE(at + 30) + archive.readUInt16LE(at + 32);
	}
	return entries;
}
