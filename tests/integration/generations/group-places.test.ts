// A group's members in line (generations/positions.ts through GET /api/groups/:id and the group's
// event stream): every queued member carries its place, in the order the claim really takes them;
// a member whose job a worker has claimed is "starting", with no place; the stream sends a member's
// place as a `position` event (no id) only when it changes; every view and frame carries server_time.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { claimJobs } from '$lib/server/queue';
import { POST as start } from '$routes/api/generations/+server';
import { GET as getGeneration } from '$routes/api/generations/[id]/+server';
import { GET as generationEvents } from '$routes/api/generations/[id]/events/+server';
import { GET as getGroup } from '$routes/api/groups/[id]/+server';
import { GET as groupEvents } from '$routes/api/groups/[id]/events/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { eventually, testServices } from '../../support/services';
import { recordSse as record, type SseEvent } from '../../support/sse';

let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, 'app');
	alice = await signedInUser(services);
	bob = await signedInUser(services);
	await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit)
		select id, 500, 500 from auth.users on conflict (user_id) do update set hourly_limit = 500, daily_limit = 500`;
	// Room for every claim these tests make by hand (a claim no worker admits holds its model's slot
	// under 0032's gate): the places follow the claim order here; the gate has model-gate.test.ts.
	await db.sql`update models set max_concurrency = 10 where id = 'local/preview'`;
});
afterAll(async () => {
	services.positions.close();
	await services.events.close();
	await db.drop();
});
beforeEach(async () => {
	await db.sql`truncate job_queue, job_queue_lanes cascade`;
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_groups`;
});

interface Standing {
	id: string;
	status: string;
	queue_position: number | null;
	estimated_start_at: string | null;
	estimated_done_at: string | null;
	starting: boolean;
	server_time: string;
}
type Who = typeof alice;

async function burst(who: Who, count: number): Promise<void> {
	for (let i = 0; i < count; i++) {
		const response = await call(start, services, { method: 'POST', user: who.user, body: { prompt: `burst ${i}`, model_id: 'local/preview', width: 256, height: 256 } });
		expect(response.status).toBe(201);
	}
}

async function startGroup(who: Who, variations: number): Promise<string> {
	const response = await call(start, services, {
		method: 'POST', user: who.user, body: { prompt: 'a harbour at dusk', models: ['local/preview'], variations, width: 256, height: 256 }
	});
	expect(response.status).toBe(201);
	return ((await response.json()) as { group_id: string }).group_id;
}

async function membersOf(id: string, who = alice): Promise<Standing[]> {
	const response = await call(getGroup, services, { path: `/api/groups/${id}`, params: { id }, user: who.user });
	expect(response.status).toBe(200);
	return ((await response.json()) as { members: Standing[] }).members;
}

/** Where each member should stand after `claims` more jobs are claimed, from its place before them. */
const expected = (places: Map<string, number>, claims: number) =>
	new Map([...places].map(([id, p]) => [id, p > claims ? { queue_position: p - claims, starting: false } : { queue_position: null, starting: true }]));

const nearNow = (iso: string) => Math.abs(Date.parse(iso) - Date.now()) < 5000;

test('GET /api/groups/:id places every queued member where the claim takes it; a claimed member is starting', async () => {
	await burst(bob, 4);
	// Bob's lane has been served once, by a worker elsewhere: alice's lane comes before his next.
	await claimJobs(db.sql, { workerId: 'elsewhere' });
	const id = await startGroup(alice, 3);
	const members = await membersOf(id);
	expect(members).toHaveLength(3);
	for (const m of members) {
		expect(m).toMatchObject({ status: 'queued', starting: false, queue_position: expect.any(Number) });
		expect(Date.parse(m.estimated_done_at!)).toBeGreaterThan(Date.parse(m.estimated_start_at!));
		expect(nearNow(m.server_time)).toBe(true);
		// The member's own answer says the same.
		const own = await call(getGeneration, services, { params: { id: m.id }, user: alice.user });
		expect(((await own.json()) as Standing).queue_position).toBe(m.queue_position);
	}
	// Fair share: alice's and bob's lanes take turns, alice first, so her members are 1st, 3rd and 5th.
	expect(members.map((m) => m.queue_position).sort()).toEqual([1, 3, 5]);
	// Someone else's group is not to be read, places or not.
	expect((await call(getGroup, services, { path: `/api/groups/${id}`, params: { id }, user: bob.user })).status).toBe(404);

	// Claim one job at a time: the place each member was given is the claim that takes it.
	const places = new Map(members.map((m) => [m.id, m.queue_position!]));
	for (let claims = 1; claims <= 5; claims++) {
		const [job] = await claimJobs(db.sql, { workerId: 'elsewhere' });
		const claimed = job!.payload.generation_id as string;
		if (places.has(claimed)) expect(places.get(claimed)).toBe(claims);
		const want = expected(places, claims);
		await eventually(async () => {
			const now = await membersOf(id);
			return now.every((m) => m.status === 'queued' && m.queue_position === want.get(m.id)!.queue_position && m.starting === want.get(m.id)!.starting);
		});
	}
	const starting = await membersOf(id);
	expect(starting.every((m) => m.starting && m.estimated_start_at === null && m.estimated_done_at === null)).toBe(true);
});

/** Each member's standing as the client would hold it: its generation events, then the position events merged in. */
function told(events: SseEvent[]): Map<string, Standing> {
	const latest = new Map<string, Standing>();
	for (const event of events) {
		if (event.event !== 'generation' && event.event !== 'position') continue;
		const data = JSON.parse(event.data) as Standing;
		latest.set(data.id, { ...latest.get(data.id), ...data });
	}
	return latest;
}

test('the group stream sends each member\'s place as it moves, without an id, and only when it changes', async () => {
	await burst(bob, 3);
	await claimJobs(db.sql, { workerId: 'elsewhere' });
	const id = await startGroup(alice, 3);
	const open = (headers: Record<string, string> = {}) =>
		call(groupEvents, services, { path: `/api/groups/${id}/events`, params: { id }, user: alice.user, headers });
	const live = record(await open());
	const initial = await eventually(async () => {
		const now = told(live.events);
		return now.size === 3 && [...now.values()].every((m) => m.queue_position !== null) ? now : null;
	});
	// The first states carry their places already (a fresh read before they are sent).
	const firsts = live.events.filter((e) => e.event === 'generation').map((e) => JSON.parse(e.data) as Standing);
	expect(firsts.map((m) => m.queue_position).sort()).toEqual([1, 3, 5]);
	expect(firsts.every((m) => nearNow(m.server_time))).toBe(true);

	const places = new Map([...initial].map(([member, m]) => [member, m.queue_position!]));
	for (let claims = 1; claims <= 5; claims++) {
		await claimJobs(db.sql, { workerId: 'elsewhere' });
		const want = expected(places, claims);
		await eventually(async () =>
			[...told(live.events)].every(([member, m]) => m.queue_position === want.get(member)!.queue_position && m.starting === want.get(member)!.starting)
		);
	}
	const frames = live.events.filter((e) => e.event === 'position');
	expect(frames.length).toBeGreaterThanOrEqual(5);
	// Position events have no id: Last-Event-ID still names the members' states only.
	expect(frames.every((e) => e.id === null)).toBe(true);
	// Only on change: every frame moves the place, the starting flag, or an estimate by more than 2 s
	// from what that member was last told (by a frame or its generation event).
	const last = new Map<string, Standing>();
	for (const event of live.events) {
		if (event.event !== 'generation' && event.event !== 'position') continue;
		const data = JSON.parse(event.data) as Standing;
		const before = last.get(data.id);
		if (event.event === 'position') {
			expect(nearNow(data.server_time)).toBe(true);
			const slid = (a: string | null, b: string | null) => a !== b && (a === null || b === null || Math.abs(Date.parse(a) - Date.parse(b)) > 2000);
			const moved = before!.queue_position !== data.queue_position || before!.starting !== data.starting ||
				slid(before!.estimated_start_at, data.estimated_start_at) || slid(before!.estimated_done_at, data.estimated_done_at);
			expect(moved, `a frame for ${data.id} that changes nothing`).toBe(true);
		}
		last.set(data.id, { ...before, ...data });
	}

	// A reconnect that has seen every state gets no generation events, but each waiting member's place again.
	const lastId = live.events.filter((e) => e.id !== null).at(-1)!.id!;
	const resumed = record(await open({ 'last-event-id': lastId }));
	await eventually(async () => told(resumed.events).size === 3);
	expect(resumed.events.every((e) => e.event === 'position' && e.id === null)).toBe(true);
	expect([...told(resumed.events).values()].every((m) => m.starting)).toBe(true);
	await live.close();
	await resumed.close();
	await eventually(async () => services.positions.watcherCount === 0);
});

test('a generation\'s own stream says "starting" once a worker claims its job', async () => {
	await burst(bob, 1);
	const mine = await call(start, services, { method: 'POST', user: alice.user, body: { prompt: 'mine', model_id: 'local/preview', width: 256, height: 256 } });
	const id = ((await mine.json()) as { generation_id: string }).generation_id;
	const live = record(await call(generationEvents, services, { params: { id }, user: alice.user }));
	// Two new lanes, neither served yet: they take turns in uuid order (0025), so bob's earlier job
	// is first only if his lane sorts first.
	const place = bob.id < alice.id ? 2 : 1;
	await eventually(async () => told(live.events).get(id)?.queue_position === place);
	await claimJobs(db.sql, { workerId: 'elsewhere', limit: 2 });
	const now = await eventually(async () => (told(live.events).get(id)?.starting ? told(live.events).get(id) : null));
	expect(now).toMatchObject({ status: 'queued', queue_position: null, estimated_start_at: null });
	const view = (await (await call(getGeneration, services, { params: { id }, user: alice.user })).json()) as Standing;
	expect(view).toMatchObject({ starting: true, queue_position: null });
	await live.close();
});
