// A queued generation's place in line and its estimates (generations/positions.ts): carried by
// GET /api/generations/:id, the list, and the SSE stream (a `position` event whenever it moves);
// the estimates of a steady workload of the local model come true within 25%.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { claimJobs } from '$lib/server/queue';
import { ContinuousWorker } from '$lib/server/worker/continuous';
import { GET as getOne } from '$routes/api/generations/[id]/+server';
import { GET as list, POST as start } from '$routes/api/generations/+server';
import { GET as events } from '$routes/api/generations/[id]/events/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { eventually, testServices } from '../../support/services';
import { readSse, type SseEvent } from '../../support/sse';

const RENDER_MS = 1000;
let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	// Progress is written once a second, as the app does: a write per step would make the run time the database's.
	services = await testServices(db, 'app', { LOCAL_MODEL_MS_PER_IMAGE: String(RENDER_MS) }, { progressIntervalMs: 1000 });
	alice = await signedInUser(services);
	bob = await signedInUser(services);
	await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit)
		select id, 500, 500 from auth.users on conflict (user_id) do update set hourly_limit = 500, daily_limit = 500`;
	await db.sql`update models set max_concurrency = 2 where id = 'local/preview'`;
});
afterAll(async () => {
	services.positions.close();
	await services.events.close();
	await db.drop();
});
beforeEach(async () => {
	await db.sql`truncate job_queue, job_queue_lanes cascade`;
	await db.sql`delete from image_generations`;
});

interface Place {
	status: string;
	queue_position: number | null;
	estimated_start_at: string | null;
	estimated_done_at: string | null;
}

async function startOne(who: typeof alice, prompt = 'a lighthouse'): Promise<string> {
	const response = await call(start, services, {
		method: 'POST', user: who.user, body: { prompt, model_id: 'local/preview', width: 256, height: 256 }
	});
	expect(response.status).toBe(201);
	return ((await response.json()) as { generation_id: string }).generation_id;
}

async function viewOf(id: string, who = alice): Promise<Place> {
	const response = await call(getOne, services, { params: { id }, user: who.user });
	expect(response.status).toBe(200);
	return (await response.json()) as Place;
}

test('GET and the list say how many run before it; someone else\'s burst does not push a new user back', async () => {
	const burst: string[] = [];
	for (let i = 0; i < 7; i++) burst.push(await startOne(alice, `burst ${i}`));
	// A worker elsewhere takes alice's first: her lane has been served.
	const [taken] = await claimJobs(db.sql, { workerId: 'elsewhere' });
	expect(taken!.payload.generation_id).toBe(burst.shift());
	const mine = await startOne(bob, 'my one picture');
	// Fair share: bob's lane has never been served, so his first picture is next in line.
	expect((await viewOf(mine, bob)).queue_position).toBe(1);
	const places = await Promise.all(burst.map((id) => viewOf(id)));
	expect(places.map((p) => p.queue_position)).toEqual([2, 3, 4, 5, 6, 7]);
	for (const place of places) {
		expect(place.status).toBe('queued');
		expect(Date.parse(place.estimated_done_at!)).toBeGreaterThan(Date.parse(place.estimated_start_at!));
	}
	// Two at a time (the model's limit): the third waits for the first pair.
	const start3 = Date.parse(places[2]!.estimated_start_at!);
	expect(start3).toBeGreaterThanOrEqual(Date.parse(places[0]!.estimated_done_at!) - 5);

	const listed = await call(list, services, { user: alice.user, path: '/api/generations' });
	const items = ((await listed.json()) as { items: Array<Place & { id: string }> }).items;
	expect(items.find((item) => item.id === burst[0])?.queue_position).toBe(2);
	// Someone else's generation is none of alice's business.
	expect((await call(getOne, services, { params: { id: mine }, user: alice.user })).status).toBe(404);
});

test('the stream sends the place as it moves, and nothing once the generation runs', async () => {
	const burst: string[] = [];
	for (let i = 0; i < 4; i++) burst.push(await startOne(alice, `burst ${i}`));
	const last = burst[3]!;
	const stream = readSse(await call(events, services, { params: { id: last }, user: alice.user }));
	const seen: SseEvent[] = [];
	const until = async (check: (event: SseEvent) => boolean) => {
		for (;;) {
			const { value, done } = await stream.next();
			if (done) throw new Error('the stream ended early');
			seen.push(value);
			if (check(value)) return value;
		}
	};
	const positionIs = (n: number) => (event: SseEvent) => event.event === 'position' && JSON.parse(event.data).queue_position === n;
	await until(positionIs(4));
	// Two jobs ahead are claimed by a worker elsewhere: the place moves up without the row changing.
	await claimJobs(db.sql, { workerId: 'elsewhere', limit: 2 });
	await until(positionIs(2));
	const moved = seen.filter((event) => event.event === 'position').map((event) => JSON.parse(event.data) as Place & { id: string });
	expect(moved.every((place) => place.id === last && place.estimated_start_at !== null)).toBe(true);
	// The generation event carries the same fields.
	const first = seen.find((event) => event.event === 'generation')!;
	expect(JSON.parse(first.data)).toHaveProperty('queue_position');
	await call(getOne, services, { params: { id: last }, user: alice.user });
	expect(services.positions.watcherCount).toBe(1);
	await stream.return(undefined);
	await eventually(async () => services.positions.watcherCount === 0);
});

test('on a steady workload of the local model, estimates come true within 25%', async () => {
	// History first: the medians come from the last 50 completed runs.
	const worker = new ContinuousWorker({ sql: db.sql, handlers: services.handlers, concurrency: 2, leaseSeconds: 30, pollMs: 200, listen: true });
	await worker.start();
	try {
		const warm = await Promise.all([0, 1, 2, 3].map((i) => startOne(alice, `warm ${i}`)));
		await eventually(async () => {
			const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from image_generations where id = any(${warm}::uuid[]) and status = 'completed'`;
			return row!.n === 4;
		}, 30_000);
	} finally {
		await worker.stop(5_000);
	}
	const ids: string[] = [];
	for (let i = 0; i < 10; i++) ids.push(await startOne(i % 2 ? alice : bob, `steady ${i}`));
	const t0 = Date.now();
	const estimates = await Promise.all(ids.map((id, i) => viewOf(id, i % 2 ? alice : bob)));
	const second = new ContinuousWorker({ sql: db.sql, handlers: services.handlers, concurrency: 2, leaseSeconds: 30, pollMs: 200, listen: true });
	await second.start();
	try {
		await eventually(async () => {
			const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from image_generations where id = any(${ids}::uuid[]) and status = 'completed'`;
			return row!.n === 10;
		}, 60_000);
	} finally {
		await second.stop(5_000);
	}
	const actual = await db.sql<{ id: string; completed_at: Date }[]>`select id, completed_at from image_generations where id = any(${ids}::uuid[])`;
	const doneAt = new Map(actual.map((row) => [row.id, row.completed_at.getTime()]));
	const errors = ids.map((id, i) => {
		const estimated = Date.parse(estimates[i]!.estimated_done_at!) - t0;
		const real = doneAt.get(id)! - t0;
		return Math.abs(estimated - real) / real;
	});
	expect(Math.max(...errors)).toBeLessThanOrEqual(0.25);
	// Five rounds of two: the last pair is due about five times as far away as the first.
	const doneIn = (i: number) => Date.parse(estimates[i]!.estimated_done_at!) - t0;
	expect(doneIn(9)).toBeGreaterThan(4 * doneIn(0));
	expect(doneIn(1)).toBe(doneIn(0));
});
