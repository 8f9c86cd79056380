// The overview's realtime chart and history: exact counts per bucket from jobs with chosen
// timestamps, the window's edges, the queue's depth, latency per type, the history's range and
// filters (and their refusals), and the endpoint as each caller sees it.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { HISTORY_RANGES, historyChoices, historySeries, parseHistoryQuery } from '$lib/server/console/history';
import { LIVE_BUCKETS, liveSeries, LiveTally, liveWindow } from '$lib/server/console/live';
import { ValidationError } from '$lib/server/errors';
import type { Services } from '$lib/server/runtime';
import { load } from '$routes/admin/+page.server';
import { GET as liveJson } from '$routes/admin/overview/live/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { adminAccess, call, signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { emptyTables } from '../../support/console-seed';

let db: TestDatabase;
let services: Services;
const access = adminAccess();
beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
});
afterAll(() => db.drop());
beforeEach(() => emptyTables(db.sql));

interface Row {
	status: 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
	type?: string;
	model?: string;
	created?: Date;
	scheduled?: Date;
	started?: Date | null;
	completed?: Date | null;
}

/** Jobs with exact timestamps (absolute, so the expected buckets are known before the query). */
async function insert(rows: Row[]) {
	for (const r of rows) {
		const created = r.created ?? new Date((r.started ?? r.completed ?? new Date()).getTime() - 1000);
		const processing = r.status === 'processing';
		await db.sql`
			insert into public.job_queue (job_type, payload, status, attempts, created_at, scheduled_at, started_at, completed_at, locked_by, locked_until)
			values (${r.type ?? 'generate-image'}, ${db.sql.json(r.model ? { model_id: r.model } : {})}, ${r.status}, ${r.started ? 1 : 0},
			        ${created}, ${r.scheduled ?? created}, ${r.started ?? null}, ${r.completed ?? null},
			        ${processing ? 'test-worker' : null}, ${processing ? new Date(Date.now() + 60_000) : null})`;
	}
}

// A window pinned half a bucket into "now": bucket i starts at first + 5 s * i.
const at = new Date(Math.floor(Date.now() / 5000) * 5000 + 2500);
const { start, end } = liveWindow(at);
const inBucket = (i: number, ms = 1000) => new Date(start.getTime() + i * 5000 + ms);

describe('the realtime series', () => {
	test('an empty queue: 180 zero buckets of 5 s ending with the current one, no depth, no latency', async () => {
		const live = await liveSeries(access, db.sql, at);
		expect(live.buckets).toHaveLength(LIVE_BUCKETS);
		expect(live.buckets.every((b) => b.started === 0 && b.completed === 0 && b.failed === 0)).toBe(true);
		expect(live.buckets[0]!.at).toBe(start.toISOString());
		expect(new Date(live.buckets.at(-1)!.at).getTime()).toBe(end.getTime() - 5000);
		expect(live.depth).toEqual({ pending: 0, due: 0, processing: 0 });
		expect(live.latency).toEqual([]);
	});

	test('exact counts per bucket: every status, each start by its latest claim, the edges of the window', async () => {
		await insert([
			{ status: 'completed', started: inBucket(179, 100), completed: inBucket(179, 2000) },
			{ status: 'completed', started: inBucket(10), completed: inBucket(12) },
			{ status: 'completed', started: inBucket(10, 4000), completed: inBucket(12, 10) },
			{ status: 'failed', started: inBucket(50), completed: inBucket(51) },
			// Cancelled while running: its start counts, its end is neither completed nor failed.
			{ status: 'cancelled', started: inBucket(60), completed: inBucket(61) },
			// Cancelled before it ever ran.
			{ status: 'cancelled', started: null, completed: inBucket(62) },
			{ status: 'processing', started: inBucket(100) },
			// Back in line after a failed try: its start stays on the row.
			{ status: 'pending', started: inBucket(120), scheduled: new Date(at.getTime() + 60_000) },
			// Started before the window, finished in its first bucket: only the completion counts.
			{ status: 'completed', started: new Date(start.getTime() - 10_000), completed: inBucket(0, 0) },
			// Exactly on a bucket's first millisecond: that bucket, not the one before.
			{ status: 'completed', started: inBucket(30, 0), completed: inBucket(31, 0) },
			// Entirely before the window, and one running job started before it.
			{ status: 'completed', started: new Date(start.getTime() - 60_000), completed: new Date(start.getTime() - 1) },
			{ status: 'processing', started: new Date(start.getTime() - 1) },
			// After the window's end (the clock pinned in the past): not counted.
			{ status: 'completed', started: new Date(end.getTime()), completed: new Date(end.getTime() + 1000) },
			// Never started, due: depth only.
			{ status: 'pending', scheduled: new Date(at.getTime() - 30_000), created: new Date(at.getTime() - 40_000) }
		]);
		const live = await liveSeries(access, db.sql, at);
		const expected = Array.from({ length: LIVE_BUCKETS }, () => ({ started: 0, completed: 0, failed: 0 }));
		const add = (i: number, key: 'started' | 'completed' | 'failed') => expected[i]![key]++;
		add(179, 'started'); add(179, 'completed');
		add(10, 'started'); add(10, 'started'); add(12, 'completed'); add(12, 'completed');
		add(50, 'started'); add(51, 'failed');
		add(60, 'started');
		add(100, 'started');
		add(120, 'started');
		add(0, 'completed');
		add(30, 'started'); add(31, 'completed');
		expect(live.buckets.map(({ started, completed, failed }) => ({ started, completed, failed }))).toEqual(expected);
		expect(live.depth).toEqual({ pending: 2, due: 1, processing: 2 });
	});

	test('latency per type: the longest wait to start per minute, and the oldest due job now', async () => {
		const minuteStart = new Date(end.getTime() - 15 * 60_000);
		const inMinute = (m: number, s = 10) => new Date(minuteStart.getTime() + m * 60_000 + s * 1000);
		await insert([
			{ status: 'completed', type: 'upscale-image', scheduled: new Date(inMinute(3).getTime() - 7000), started: inMinute(3), completed: inMinute(3, 20) },
			{ status: 'completed', type: 'upscale-image', scheduled: new Date(inMinute(3).getTime() - 2000), started: inMinute(3), completed: inMinute(3, 20) },
			{ status: 'processing', type: 'upscale-image', scheduled: new Date(inMinute(14, 1).getTime() - 500), started: inMinute(14, 1) },
			{ status: 'pending', type: 'send-email', scheduled: new Date(at.getTime() - 42_000) },
			{ status: 'pending', type: 'send-email', scheduled: new Date(at.getTime() + 42_000) }
		]);
		const live = await liveSeries(access, db.sql, at);
		const upscale = live.latency.find((l) => l.job_type === 'upscale-image')!;
		const minutes = Array<number | null>(15).fill(null);
		minutes[3] = 7;
		minutes[14] = 0.5;
		expect(upscale.minutes).toEqual(minutes);
		expect(upscale).toMatchObject({ oldest_waiting_seconds: null, pending: 0 });
		const email = live.latency.find((l) => l.job_type === 'send-email')!;
		expect(email.minutes.every((m) => m === null)).toBe(true);
		expect(email.oldest_waiting_seconds).toBeCloseTo(42, 3);
		expect(email.pending).toBe(2);
	});

	test('a process tally reads only the unsettled tail and agrees with a full reading', async () => {
		const tally = new LiveTally();
		const t1 = new Date(at.getTime() - 60_000);
		await insert([
			{ status: 'completed', started: inBucket(100), completed: inBucket(101) },
			{ status: 'failed', type: 'upscale-image', scheduled: new Date(inBucket(150).getTime() - 3000), started: inBucket(150), completed: inBucket(160) }
		]);
		expect(await tally.read(access, db.sql, t1)).toEqual(await liveSeries(access, db.sql, t1));
		// Later rows, some in buckets that were still unsettled at t1, then a reading at `at`.
		await insert([
			{ status: 'completed', started: inBucket(166), completed: inBucket(170) },
			{ status: 'completed', type: 'upscale-image', scheduled: new Date(inBucket(175).getTime() - 9000), started: inBucket(175), completed: inBucket(179) },
			{ status: 'processing', started: inBucket(178) }
		]);
		const incremental = await tally.read(access, db.sql, at);
		expect(incremental).toEqual(await liveSeries(access, db.sql, at));
		expect(incremental.buckets.reduce((n, b) => n + b.started, 0)).toBe(5);
		expect(incremental.latency.find((l) => l.job_type === 'upscale-image')!.minutes[14]).toBe(9);
		// Concurrent reads are served one at a time and agree.
		const [a, b] = await Promise.all([tally.read(access, db.sql, at), tally.read(access, db.sql, at)]);
		expect(a).toEqual(b);
		expect(a).toEqual(incremental);
	});

	test('the endpoint: JSON for administrators and operators, never cached by the browser; refused to users', async () => {
		await insert([{ status: 'completed', started: new Date(Date.now() - 3000), completed: new Date(Date.now() - 2000) }]);
		for (const who of [await signedInUser(services, { admin: true }), await signedInUser(services, { operator: true })]) {
			const response = await call(liveJson as never, services, { path: '/admin/overview/live', user: who.user });
			expect(response.status).toBe(200);
			expect(response.headers.get('cache-control')).toBe('no-store');
			const body = await response.json();
			expect(body.buckets).toHaveLength(LIVE_BUCKETS);
			expect(body.buckets.reduce((n: number, b: { completed: number }) => n + b.completed, 0)).toBe(1);
		}
		const user = await signedInUser(services);
		expect((await call(liveJson as never, services, { path: '/admin/overview/live', user: user.user })).status).toBe(403);
		expect((await call(liveJson as never, services, { path: '/admin/overview/live', user: null })).status).toBe(401);
	});
});

describe('the history', () => {
	const allowed = { types: ['generate-image', 'upscale-image'], models: ['local/detailed', 'local/preview'] };

	test('parameters are allowlisted: range, a registered job type, a catalogue model', () => {
		expect(parseHistoryQuery(new URLSearchParams(), allowed)).toEqual({ range: '24h', type: null, model: null });
		expect(parseHistoryQuery(new URLSearchParams('range=30d&type=upscale-image&model=local/preview'), allowed)).toEqual({
			range: '30d', type: 'upscale-image', model: 'local/preview'
		});
		expect(parseHistoryQuery(new URLSearchParams('type=&model='), allowed)).toEqual({ range: '24h', type: null, model: null });
		const refused = [
			'range=1y', 'range=24H', 'range=%2024h', 'range=7d&range=30d', 'range=constructor', 'range=__proto__', 'range=toString',
			'type=send-email', 'type=GENERATE-IMAGE', "type=generate-image'--", 'type=generate-image%00',
			'model=local/other', "model=local/preview' or '1'='1", 'model=%00', 'model=local/preview&model=local/detailed'
		];
		for (const query of refused) expect(() => parseHistoryQuery(new URLSearchParams(query), allowed), query).toThrow(ValidationError);
	});

	test('the choices: registered handlers and every catalogue model', async () => {
		const choices = await historyChoices(access, db.sql, ['b-type', 'a-type']);
		expect(choices.types).toEqual(['a-type', 'b-type']);
		expect(choices.models).toEqual(expect.arrayContaining(['local/preview', 'local/detailed']));
	});

	test('counts per bucket for each range, filtered by job type and by model', async () => {
		const now = (await db.sql<{ now: Date }[]>`select now() as now`)[0]!.now;
		const ago = (hours: number) => new Date(now.getTime() - hours * 3600_000);
		await insert([
			{ status: 'completed', type: 'generate-image', model: 'local/preview', created: ago(0.01), started: ago(0.01), completed: ago(0.005) },
			{ status: 'failed', type: 'generate-image', model: 'local/detailed', created: ago(50), started: ago(50), completed: ago(50) },
			{ status: 'completed', type: 'upscale-image', created: ago(24 * 20), started: ago(24 * 20), completed: ago(24 * 20) },
			{ status: 'pending', type: 'upscale-image', created: ago(24 * 40) }
		]);
		for (const [range, spec] of Object.entries(HISTORY_RANGES) as [keyof typeof HISTORY_RANGES, (typeof HISTORY_RANGES)['24h']][]) {
			const points = await historySeries(access, db.sql, { range, type: null, model: null });
			expect(points, range).toHaveLength(spec.buckets);
			const last = Date.parse(points.at(-1)!.at);
			expect(last % (spec.bucketSeconds * 1000), range).toBe(0);
			const indexOf = (d: Date) => spec.buckets - 1 - Math.round((last - Math.floor(d.getTime() / (spec.bucketSeconds * 1000)) * spec.bucketSeconds * 1000) / (spec.bucketSeconds * 1000));
			const total = points.reduce((n, p) => n + p.total, 0);
			expect(total, range).toBe(range === '24h' ? 1 : range === '7d' ? 2 : 3);
			expect(points[indexOf(ago(0.01))], range).toMatchObject({ total: 1, completed: 1, failed: 0 });
			if (range !== '24h') expect(points[indexOf(ago(50))], range).toMatchObject({ total: 1, completed: 0, failed: 1 });
		}
		const byType = await historySeries(access, db.sql, { range: '30d', type: 'upscale-image', model: null });
		expect(byType.reduce((n, p) => n + p.total, 0)).toBe(1);
		const byModel = await historySeries(access, db.sql, { range: '7d', type: null, model: 'local/detailed' });
		expect(byModel.reduce((n, p) => ({ total: n.total + p.total, failed: n.failed + p.failed }), { total: 0, failed: 0 })).toEqual({ total: 1, failed: 1 });
		const both = await historySeries(access, db.sql, { range: '30d', type: 'upscale-image', model: 'local/preview' });
		expect(both.every((p) => p.total === 0)).toBe(true);
	});

	test('the page: the range and filters from the URL; a bad value is a 400 and reads nothing', async () => {
		// The app's own handlers: generate-image is the one registered job type.
		const app = await testServices(db, 'app');
		const admin = await signedInUser(app, { admin: true });
		const page = (query: string) => {
			const url = new URL(`http://localhost/admin${query}`);
			return load({ locals: { services: app, user: admin.user }, url } as never) as Promise<{ history: { range: string; type: string | null } }>;
		};
		const type = 'generate-image';
		expect(Object.keys(app.handlers)).toEqual([type]);
		expect((await page(`?range=7d&type=${type}`)).history).toMatchObject({ range: '7d', type });
		expect((await page('?model=local/preview')).history).toMatchObject({ range: '24h', type: null, model: 'local/preview' });
		for (const query of ['?range=1y', '?type=upscale-image', '?type=%3Cscript%3E', '?model=..%2F..%2Fetc', '?range=%00']) {
			await expect(page(query), query).rejects.toMatchObject({ status: 400 });
		}
	});
});
