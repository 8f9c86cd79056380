// The claim order worked out from one read of the queue (queue/claim-order.ts) against the claim
// itself: random queues of mixed lanes, priorities, ties, not-due jobs and a paused type are claimed
// one job at a time by claim_jobs inside a transaction that is rolled back, and the two orders must
// be the same job for job. Lane turns are first stirred by real claims, and a lane appears mid-way.
// Concurrency keys (0032) have small rooms (the stirring claims hold some): the replay claims what is
// claimable now; then, in the same transaction, the keys lose their limits and the claims go on,
// which must take the jobs that waited for a slot in exactly the order worked out for them.
import { expect, test } from 'vitest';
import { claimJobs, pauseJobType } from '$lib/server/queue';
import { claimLine, claimOrder, readQueueLine, SYSTEM_LANE } from '$lib/server/queue/claim-order';
import type { Sql } from '$lib/server/db/client';
import { createUser } from '../../support/db';
import { useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase({ max: 8 });

/** A small seeded generator, so a failing queue can be rebuilt from its seed. */
function random(seed: number) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

interface Spec {
	owner: string | null;
	type: string;
	priority: number;
	/** Seconds ago; negative: not due for an hour. Few distinct values, so ties break by id. */
	age: number;
	model: string;
	/** A key of its own for a job that is not a generation (generations are keyed by their model). */
	key?: string | null;
}

async function insert(sql: Sql, specs: Spec[]) {
	for (const s of specs) {
		await sql`
			insert into job_queue (job_type, created_by, priority, scheduled_at, concurrency_key, payload)
			values (${s.type}, ${s.owner}::uuid, ${s.priority},
				${s.age < 0 ? sql`now() + interval '1 hour'` : sql`date_trunc('second', now()) - make_interval(secs => ${s.age})`},
				${s.key ?? null}, jsonb_build_object('generation_id', gen_random_uuid(), 'model_id', ${s.model}::text))`;
	}
}

function specs(next: () => number, owners: Array<string | null>, count: number): Spec[] {
	const pick = <T>(list: T[]) => list[Math.floor(next() * list.length)]!;
	return Array.from({ length: count }, () => ({
		// One heavy lane holds about half of the jobs.
		owner: next() < 0.5 ? owners[0]! : pick(owners),
		type: pick(['generate-image', 'generate-image', 'generate-image', 'other', 'held']),
		priority: pick([0, 0, 0, 0, 5, -2]),
		age: next() < 0.1 ? -1 : pick([10, 20, 20, 30, 60]),
		model: pick(['local/preview', 'stability-ai/sdxl']),
		key: pick([null, null, 'batch-export'])
	}));
}

/**
 * What claim_jobs takes, one job at a time, until nothing more is claimable; then (opened) what it takes
 * once no key has a limit any more. Inside a transaction rolled back.
 */
async function replay(sql: Sql): Promise<string[]>;
async function replay(sql: Sql, opened: string[]): Promise<string[]>;
async function replay(sql: Sql, opened?: string[]): Promise<string[]> {
	const claimed: string[] = [];
	const drain = async (tx: Sql, into: string[]) => {
		for (;;) {
			const [job] = await claimJobs(tx, { workerId: 'replay', limit: 1 });
			if (!job) break;
			into.push(job.id);
		}
	};
	await sql
		.begin(async (tx) => {
			await drain(tx as unknown as Sql, claimed);
			if (opened) {
				await tx`select set_concurrency_limit(concurrency_key, null) from job_queue_concurrency_limits`;
				await drain(tx as unknown as Sql, opened);
			}
			throw new Error('rollback');
		})
		.catch((error: Error) => {
			if (error.message !== 'rollback') throw error;
		});
	return claimed;
}

for (const seed of [1, 2, 3, 4, 5, 6]) {
	test(`a random queue (seed ${seed}) is claimed in exactly the order worked out from one read`, async () => {
		const next = random(seed);
		const users = await Promise.all(Array.from({ length: 6 }, () => createUser(q.sql)));
		const owners: Array<string | null> = [...users.map((u) => u.id), null];
		await pauseJobType(q.sql, 'held');
		// Small rooms, different per seed; one key is closed from the start in some seeds.
		await q.sql`select set_concurrency_limit('local/preview', ${seed % 3})`;
		await q.sql`select set_concurrency_limit('stability-ai/sdxl', ${15 + seed})`;
		await q.sql`select set_concurrency_limit('batch-export', ${1 + (seed % 2)})`;
		await insert(q.sql, specs(next, owners, 120));
		// Stir the lane turns with real claims (single and batched), then a lane appears mid-way.
		for (let i = 0; i < 5; i++) await claimJobs(q.sql, { workerId: 'stir', limit: 1 + Math.floor(next() * 4) });
		const late = await createUser(q.sql);
		await insert(q.sql, specs(next, [late.id], 8));

		const line = await readQueueLine(q.sql);
		const order = claimOrder(line);
		const parts = claimLine(line);
		const opened: string[] = [];
		const claimed = await replay(q.sql, opened);
		expect(claimed.length).toBeGreaterThan(15);
		expect(parts.now.map((job) => job.id)).toEqual(claimed);
		// Some jobs waited for a slot, and they come next, in the order the claims then take them.
		expect(parts.waiting.length).toBeGreaterThan(10);
		expect(parts.waiting.map((job) => job.id)).toEqual(opened);
		expect(order.map((job) => job.id)).toEqual([...parts.now, ...parts.waiting, ...parts.later].map((job) => job.id));
		// No key was given more than its room.
		for (const [key, room] of line.rooms) {
			expect(parts.now.filter((job) => job.concurrency_key === key).length).toBeLessThanOrEqual(Math.max(room, 0));
		}
		const due = [...claimed, ...opened];
		// Not-due jobs come after every due one; paused ones are not in line at all.
		expect(order.slice(due.length).every((job) => job.scheduled_us > line.now_us)).toBe(true);
		const [paused] = await q.sql<{ held: number }[]>`select count(*)::int as held from job_queue where job_type = 'held' and status = 'pending'`;
		expect(paused!.held).toBeGreaterThan(0);
		expect(order.some((job) => job.job_type === 'held')).toBe(false);
		expect(order.filter((job) => job.lane === SYSTEM_LANE).length).toBeGreaterThan(0);
	});
}

test('a lane that was served goes behind one that was not, and an empty queue has no line', async () => {
	expect(claimOrder(await readQueueLine(q.sql))).toEqual([]);
	const [a, b] = [await createUser(q.sql), await createUser(q.sql)];
	await insert(q.sql, [
		{ owner: a.id, type: 'x', priority: 0, age: 30, model: 'm' },
		{ owner: a.id, type: 'x', priority: 0, age: 20, model: 'm' },
		{ owner: a.id, type: 'x', priority: 0, age: 10, model: 'm' }
	]);
	const [first] = await claimJobs(q.sql, { workerId: 'w' });
	expect(first!.created_by).toBe(a.id);
	await insert(q.sql, [{ owner: b.id, type: 'x', priority: 0, age: 0, model: 'm' }]);
	const owners = claimOrder(await readQueueLine(q.sql)).map((job) => job.lane);
	expect(owners).toEqual([b.id, a.id, a.id]);
	expect(await replay(q.sql)).toEqual(claimOrder(await readQueueLine(q.sql)).map((job) => job.id));
});
