// Claims pass over the jobs of a model with no free slot (0032): with real workers and a real
// Postgres, a job of a full model is claimed once, when a slot frees, and keeps its place meanwhile;
// polling Replicate predictions keep their slot and their job stays claimable; the console's limit
// and every way a running generation ends open and close the gate at once; racing claimers never run
// more than the limit.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { claimJobs, failJob, reapExpiredJobs, snoozeJob } from '$lib/server/queue';
import { admitGeneration } from '$lib/server/generations/run';
import { ContinuousWorker } from '$lib/server/worker/continuous';
import { QueuePositions } from '$lib/server/generations/positions';
import { actions } from '$routes/admin/models/+page.server';
import { POST as start } from '$routes/api/generations/+server';
import { DELETE as cancel, GET as getOne } from '$routes/api/generations/[id]/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { startFakeReplicate, type FakeReplicate } from '../../support/fake-replicate';
import { call, signedInUser } from '../../support/routes';
import { eventually, testServices } from '../../support/services';

const LOCAL = 'local/preview';
const FLUX = 'black-forest-labs/flux-schnell';
let db: TestDatabase;
let fake: FakeReplicate;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;
let carol: Awaited<ReturnType<typeof signedInUser>>;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	fake = await startFakeReplicate();
	services = await testServices(db, 'app', {
		LOCAL_MODEL_MS_PER_IMAGE: '300',
		REPLICATE_API_TOKEN: fake.token,
		REPLICATE_API_BASE_URL: fake.baseUrl,
		REPLICATE_POLL_INTERVAL_MS: '20',
		REPLICATE_MAX_WAIT_MS: '100'
	});
	// Places refreshed every 100 ms (the app's 1 s, stretched under load, let CI see only two of the
	// eleven places the watched generation passes through).
	services.positions.close();
	services.positions = new QueuePositions(db.sql, { refreshMs: 100 });
	[alice, bob, carol] = [await signedInUser(services), await signedInUser(services), await signedInUser(services)];
	admin = await signedInUser(services, { admin: true });
	await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit)
		select id, 500, 500 from auth.users on conflict (user_id) do update set hourly_limit = 500, daily_limit = 500`;
});
afterAll(async () => {
	services.positions.close();
	await services.events.close();
	await fake.close();
	await db.drop();
});
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`;
	await db.sql`truncate job_queue, job_queue_lanes cascade`;
	await db.sql`update models set max_concurrency = 1, enabled = true where id in (${LOCAL}, ${FLUX})`;
});

type User = typeof alice;

async function startOne(who: User, model = LOCAL, prompt = 'a lighthouse'): Promise<string> {
	const response = await call(start, services, {
		method: 'POST', user: who.user, body: { prompt, model_id: model, width: 256, height: 256 }
	});
	expect(response.status).toBe(201);
	return ((await response.json()) as { generation_id: string }).generation_id;
}

const jobOf = async (generationId: string) =>
	(await db.sql<{ id: string; status: string; claim_count: number; attempts: number; concurrency_key: string | null; attempt_log: unknown[] }[]>`
		select j.* from job_queue j join image_generations g on g.job_id = j.id where g.id = ${generationId}`)[0]!;
const statusOf = async (generationId: string) =>
	(await db.sql<{ status: string }[]>`select status from image_generations where id = ${generationId}`)[0]!.status;
const worker = (concurrency: number) =>
	new ContinuousWorker({ sql: db.sql, handlers: services.handlers, concurrency, leaseSeconds: 30, pollMs: 100, listen: true });

/** What a worker does up to running the model: claim one job and be admitted under its model's limit. */
async function claimAndAdmit(workerId: string) {
	const [job] = await claimJobs(db.sql, { workerId, limit: 1 });
	if (!job) return null;
	const run = { generationId: String(job.payload.generation_id), jobId: job.id, workerId, claimCount: job.claim_count };
	return { job, run, admission: await admitGeneration(db.sql, run) };
}

/** Run intervals of the given generations never overlap more than `limit` at a time. */
async function maxOverlap(ids: string[]): Promise<number> {
	const rows = await db.sql<{ s: Date; e: Date }[]>`
		select run_started_at as s, completed_at as e from image_generations where id = any(${ids}::uuid[])`;
	const edges = rows.flatMap((r) => [[r.s.getTime(), 1] as const, [r.e.getTime(), -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
	let now = 0;
	let max = 0;
	for (const [, step] of edges) max = Math.max(max, (now += step));
	return max;
}

test('limit 1, four worker slots: every job is claimed once, one runs at a time, the watched place never goes back', async () => {
	const ids: string[] = [];
	for (let i = 0; i < 10; i++) ids.push(await startOne(i % 2 ? alice : bob, LOCAL, `burst ${i}`));
	// Alice's sixth: last in line (her lane and bob's take turns), so its place has the whole line to count down.
	const watched = await startOne(alice, LOCAL, 'the watched one');
	const places: number[] = [];
	const stop = services.positions.watch(watched, (place) => {
		if (place && place !== 'starting') places.push(place.queue_position);
	});
	const viewed: number[] = [];
	const w = worker(4);
	await w.start();
	try {
		await eventually(async () => {
			// GET as the user would, while the line moves.
			const response = await call(getOne, services, { params: { id: watched }, user: alice.user });
			const body = (await response.json()) as { status: string; queue_position: number | null };
			if (body.queue_position !== null) viewed.push(body.queue_position);
			const [row] = await db.sql<{ n: number }[]>`
				select count(*)::int as n from image_generations where id = any(${[...ids, watched]}::uuid[]) and status = 'completed'`;
			return row!.n === 11;
		}, 60_000);
	} finally {
		stop();
		await w.stop(5_000);
	}
	for (const id of [...ids, watched]) {
		const job = await jobOf(id);
		expect({ status: job.status, claim_count: job.claim_count, attempts: job.attempts }, JSON.stringify(job.attempt_log)).toEqual({
			status: 'completed', claim_count: 1, attempts: 1
		});
		expect(JSON.stringify(job.attempt_log)).not.toMatch(/snooze|released/);
	}
	expect(await maxOverlap([...ids, watched])).toBe(1);
	// The place was seen several times, and never increased.
	expect(places[0]).toBe(11);
	expect(new Set([...places, ...viewed]).size).toBeGreaterThanOrEqual(3);
	for (const seen of [places, viewed]) {
		for (let i = 1; i < seen.length; i++) expect(seen[i], `places ${seen.join(',')}`).toBeLessThanOrEqual(seen[i - 1]!);
	}
});

test('a slot freed by the worker\'s own job is used at once, not at its next poll', async () => {
	const ids = [await startOne(alice), await startOne(alice), await startOne(alice)];
	// Polls every ten minutes, and no insert wakes it after the first: only its jobs ending can.
	const w = new ContinuousWorker({ sql: db.sql, handlers: services.handlers, concurrency: 4, leaseSeconds: 30, pollMs: 600_000, listen: true });
	await w.start();
	try {
		await eventually(async () => {
			const [row] = await db.sql<{ n: number }[]>`
				select count(*)::int as n from image_generations where id = any(${ids}::uuid[]) and status = 'completed'`;
			return row!.n === 3;
		}, 30_000);
	} finally {
		await w.stop(5_000);
	}
	expect(await maxOverlap(ids)).toBe(1);
});

test('a Replicate model with limit 1 and predictions that take several polls: no deadlock, all complete, one at a time', async () => {
	for (let i = 0; i < 3; i++) fake.scriptNext({ startingPolls: 1, processingPolls: 12, steps: 12 });
	const ids = [await startOne(alice, FLUX, 'fox 1'), await startOne(bob, FLUX, 'fox 2'), await startOne(alice, FLUX, 'fox 3')];
	const w = worker(4);
	await w.start();
	try {
		await eventually(async () => {
			// A snoozed prediction waits 5 s before it is checked again; bring it forward (the webhook's wake would).
			await db.sql`update job_queue set scheduled_at = now() where status = 'pending' and scheduled_at > now()`;
			const [row] = await db.sql<{ n: number }[]>`
				select count(*)::int as n from image_generations where id = any(${ids}::uuid[]) and status = 'completed'`;
			return row!.n === 3;
		}, 60_000);
	} finally {
		await w.stop(5_000);
	}
	expect(await maxOverlap(ids)).toBe(1);
	for (const id of ids) {
		const job = await jobOf(id);
		// Snoozed while it polled (claimed again each time, holding its slot), never failed or lost.
		expect(job.status).toBe('completed');
		expect(job.claim_count).toBeGreaterThan(1);
		expect(job.attempts).toBe(1);
	}
});

async function concurrency(model: string, value: number) {
	const form = new FormData();
	form.set('model_id', model);
	form.set('max_concurrency', String(value));
	const url = new URL('http://localhost/admin/models?/concurrency');
	const event = { request: new Request(url, { method: 'POST', body: form }), url, params: {}, locals: { services, user: admin.user } };
	await actions.concurrency!(event as never);
}

test('raising max_concurrency in the console opens the gate at once; lowering it closes it', async () => {
	// One lane, so the line is plain age order.
	const [a, b, c] = [await startOne(alice), await startOne(alice), await startOne(alice)];
	expect((await claimAndAdmit('w1'))?.admission).toBe('admitted');
	// Full: the next job is passed over, not claimed and found busy.
	expect(await claimAndAdmit('w2')).toBeNull();
	expect((await jobOf(b)).claim_count).toBe(0);

	await concurrency(LOCAL, 2);
	const second = await claimAndAdmit('w2');
	expect(second?.admission).toBe('admitted');
	expect(second!.run.generationId).toBe(b);
	expect(await claimAndAdmit('w3')).toBeNull();

	// Lowered below what runs: nothing more starts until the running count is under the new limit.
	await concurrency(LOCAL, 1);
	await concurrency(LOCAL, 3);
	await concurrency(LOCAL, 1);
	await db.sql`select complete_generation(${a}, (select job_id from image_generations where id = ${a}), 'w1', 1, 'x.png', 'x.webp', 'image/png', 1, 1, null, null)`;
	expect(await claimAndAdmit('w3')).toBeNull();
	await db.sql`select complete_generation(${b}, (select job_id from image_generations where id = ${b}), 'w2', 1, 'x.png', 'x.webp', 'image/png', 1, 1, null, null)`;
	const third = await claimAndAdmit('w3');
	expect(third?.run.generationId).toBe(c);
	expect(third?.admission).toBe('admitted');
	expect((await jobOf(c)).claim_count).toBe(1);

	// A disabled model has no gate: its jobs are claimed and end as unavailable, not stuck in line.
	const d = await startOne(alice);
	expect(await claimJobs(db.sql, { workerId: 'w4' })).toEqual([]);
	await db.sql`update models set enabled = false where id = ${LOCAL}`;
	const [taken] = await claimJobs(db.sql, { workerId: 'w4' });
	expect(taken?.payload.generation_id).toBe(d);
});

test('a cancelled, failed or reaped running generation frees its slot and opens the gate; a snoozed one keeps it', async () => {
	const [a, b] = [await startOne(alice), await startOne(alice)];
	const first = (await claimAndAdmit('w1'))!;
	expect(first.admission).toBe('admitted');
	expect((await jobOf(a)).concurrency_key).toBeNull();
	expect(await claimAndAdmit('w2')).toBeNull();

	// Snoozed (a prediction still running): it holds its slot, and its job is still claimable.
	await snoozeJob(db.sql, { jobId: first.job.id, workerId: 'w1', claimCount: first.job.claim_count }, 0);
	const resumed = (await claimAndAdmit('w1'))!;
	expect(resumed.run.generationId).toBe(a);
	expect(resumed.admission).toBe('admitted');
	expect(await claimAndAdmit('w2')).toBeNull();

	// Cancelled by its user while running: b is claimable at once.
	expect((await call(cancel, services, { method: 'DELETE', params: { id: a }, user: alice.user })).status).toBe(200);
	const second = (await claimAndAdmit('w2'))!;
	expect(second.run.generationId).toBe(b);
	expect(second.admission).toBe('admitted');

	// Failed for good: the next one is claimable at once.
	const c = await startOne(alice);
	expect(await claimAndAdmit('w3')).toBeNull();
	await failJob(db.sql, { jobId: second.job.id, workerId: 'w2', claimCount: second.job.claim_count }, { message: 'boom', permanent: true });
	expect(await statusOf(b)).toBe('failed');
	const third = (await claimAndAdmit('w3'))!;
	expect(third.run.generationId).toBe(c);
	expect(third.admission).toBe('admitted');

	// Reaped (its worker vanished): its generation goes back in line needing a slot, and its key with it.
	const d = await startOne(alice);
	await db.sql`update job_queue set locked_until = now() - interval '1 second' where id = ${third.job.id}`;
	expect(await reapExpiredJobs(db.sql)).toBe(1);
	expect(await statusOf(c)).toBe('queued');
	expect((await jobOf(c)).concurrency_key).toBe(LOCAL);
	// One slot, two waiting (the reaped job is due now, behind d): one is claimed, then the gate is closed again.
	const again = (await claimAndAdmit('w4'))!;
	expect(again.run.generationId).toBe(d);
	expect(again.admission).toBe('admitted');
	expect(await claimAndAdmit('w5')).toBeNull();
	expect((await jobOf(c)).claim_count).toBe(1);
});

test('a lost race for the last slot hands the job back in its place, attempt refunded', async () => {
	const [a, b] = [await startOne(alice), await startOne(alice)];
	// Two claimers read the one free slot before either is admitted (as two workers at once can).
	const jobs = await claimJobs(db.sql, { workerId: 'w1', limit: 1 });
	await db.sql`select set_concurrency_limit(${LOCAL}, 2)`; // what a stale read of the room would allow
	const more = await claimJobs(db.sql, { workerId: 'w2', limit: 1 });
	const before = (await jobOf(b)).attempt_log.length;
	const scheduledBefore = (await db.sql<{ s: Date }[]>`select scheduled_at as s from job_queue where id = ${more[0]!.id}`)[0]!.s;
	const run = (job: (typeof jobs)[number], workerId: string) =>
		admitGeneration(db.sql, { generationId: String(job.payload.generation_id), jobId: job.id, workerId, claimCount: job.claim_count });
	expect(await run(jobs[0]!, 'w1')).toBe('admitted');
	expect(await run(more[0]!, 'w2')).toBe('busy');
	const back = await jobOf(b);
	expect(back).toMatchObject({ status: 'pending', attempts: 0, claim_count: 1, concurrency_key: LOCAL });
	expect(back.attempt_log.length).toBe(before + 1);
	const [row] = await db.sql<{ s: Date }[]>`select scheduled_at as s from job_queue where id = ${more[0]!.id}`;
	expect(row!.s.getTime()).toBe(scheduledBefore.getTime());
	// The gate is closed by the admission's own transaction: nobody takes b until a's slot frees.
	expect(await claimAndAdmit('w3')).toBeNull();
	expect(await statusOf(a)).toBe('processing');
});

test('claims racing for a key\'s free slots take exactly that many of its jobs, whatever their batch sizes', async () => {
	for (const limit of [1, 3]) {
		await db.sql`truncate job_queue, job_queue_lanes cascade`;
		await db.sql`delete from image_generations`;
		await db.sql`update models set max_concurrency = ${limit} where id = ${LOCAL}`;
		const users = [alice, bob, carol];
		for (let i = 0; i < 12; i++) await startOne(users[i % 3]!, LOCAL, `rush ${i}`);
		// A system job too: claimers that find the key full still take other work.
		await db.sql`insert into job_queue (job_type) values ('other'), ('other')`;
		const claims = await Promise.all(
			Array.from({ length: 16 }, (_, i) => claimJobs(db.sql, { workerId: `rush-${i}`, limit: 1 + (i % 3), jobTypes: ['generate-image', 'other'] }))
		);
		const taken = claims.flat();
		expect(taken.filter((job) => job.job_type === 'generate-image').length, `limit ${limit}`).toBe(limit);
		expect(taken.filter((job) => job.job_type === 'other').length).toBe(2);
		expect(new Set(taken.map((job) => job.id)).size).toBe(taken.length);
	}
});

test('many workers racing on a model with two slots: never more than the limit at once, none lost, none twice', async () => {
	await db.sql`update models set max_concurrency = 2 where id = ${LOCAL}`;
	const users = [alice, bob, carol];
	const ids: string[] = [];
	for (let i = 0; i < 24; i++) ids.push(await startOne(users[i % 3]!, LOCAL, `race ${i}`));
	const workers = Array.from({ length: 6 }, () => worker(3));
	await Promise.all(workers.map((w) => w.start()));
	try {
		await eventually(async () => {
			const [row] = await db.sql<{ n: number }[]>`
				select count(*)::int as n from image_generations where id = any(${ids}::uuid[]) and status = 'completed'`;
			return row!.n === ids.length;
		}, 90_000);
	} finally {
		await Promise.all(workers.map((w) => w.stop(5_000)));
	}
	expect(await maxOverlap(ids)).toBeLessThanOrEqual(2);
	const jobs = await Promise.all(ids.map(jobOf));
	for (const job of jobs) {
		expect(job.status).toBe('completed');
		// A lost race hands the job back unspent, so every job ran exactly one counted attempt.
		expect(job.attempts).toBe(1);
		const tries = (job.attempt_log as Array<{ kind: string; outcome?: string }>).filter((e) => e.kind === 'attempt' && e.outcome !== 'released');
		expect(tries.length).toBeLessThanOrEqual(1);
	}
	const [images] = await db.sql<{ n: number }[]>`select count(distinct image_path)::int as n from image_generations where id = any(${ids}::uuid[])`;
	expect(images!.n).toBe(ids.length);
});
