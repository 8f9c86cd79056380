// Fair share (0025): at equal priority lanes (users, the system lane) take turns; priority still wins;
// lanes appear and disappear without losing a job, under concurrent claimers and enqueuers.
import { expect, test } from 'vitest';
import { claimJobs, pauseJobType, resumeJobType, type Job } from '$lib/server/queue';
import { createUser } from '../../support/db';
import { useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase({ max: 24 });

async function user(): Promise<string> {
	return (await createUser(q.sql)).id;
}

/** `count` jobs of one user (null: system), each older than the one after it. */
async function queue(owner: string | null, count: number, options: { type?: string; priority?: number; minutesAgo?: number } = {}) {
	await q.sql`
		insert into job_queue (job_type, created_by, priority, scheduled_at, payload)
		select ${options.type ?? 'fair'}, ${owner}::uuid, ${options.priority ?? 0},
			now() - make_interval(mins => ${options.minutesAgo ?? 60}) - make_interval(secs => ${count} + 1 - n), jsonb_build_object('n', n)
		from generate_series(1, ${count}) n`;
}

async function claim(limit = 1, jobTypes?: string[]): Promise<Job[]> {
	return claimJobs(q.sql, { workerId: 'w', limit, jobTypes });
}

async function lanes(): Promise<string[]> {
	const rows = await q.sql<{ lane: string }[]>`select lane::text from job_queue_lanes order by lane`;
	return rows.map((r) => r.lane);
}

const SYSTEM = '00000000-0000-0000-0000-000000000000';

test("a heavy user's 500 queued jobs delay a light user's one by at most one claim", async () => {
	const heavy = await user();
	const light = await user();
	await queue(heavy, 500, { minutesAgo: 120 });
	const [first] = await claim();
	expect(first!.created_by).toBe(heavy);
	await queue(light, 1, { minutesAgo: 0 }); // submitted after the heavy user's whole burst
	const [next] = await claim();
	expect(next!.created_by).toBe(light);
	const [after] = await claim();
	expect(after!.created_by).toBe(heavy);
});

test('users take turns, within a batch claim too, each in its own age order', async () => {
	const [a, b, c] = [await user(), await user(), await user()];
	await queue(a, 5, { minutesAgo: 30 });
	await queue(b, 2, { minutesAgo: 20 });
	await queue(c, 1, { minutesAgo: 10 });
	const batch = await claim(6);
	const owners = batch.map((j) => j.created_by);
	// One per lane per round: a, b, c, then a, b, then a (c is empty).
	expect(new Set(owners.slice(0, 3))).toEqual(new Set([a, b, c]));
	expect(new Set(owners.slice(3, 5))).toEqual(new Set([a, b]));
	expect(owners[5]).toBe(a);
	const ofA = batch.filter((j) => j.created_by === a).map((j) => j.payload.n);
	expect(ofA).toEqual([1, 2, 3]);
});

test('priority wins over fairness; the system lane is a lane of its own', async () => {
	const [a, b] = [await user(), await user()];
	await queue(a, 3, { priority: 5 });
	await queue(b, 3, { priority: 0 });
	await queue(null, 2, { priority: 0, minutesAgo: 600 });
	const order = (await claim(8)).map((j) => [j.created_by ?? 'system', j.priority]);
	expect(order.slice(0, 3)).toEqual([[a, 5], [a, 5], [a, 5]]);
	expect(order.slice(3).map(([, p]) => p)).toEqual([0, 0, 0, 0, 0]);
	const rest = order.slice(3).map(([owner]) => owner);
	expect(rest.filter((o) => o === 'system')).toHaveLength(2);
	expect(rest.filter((o) => o === b)).toHaveLength(3);
	// Alternating: neither lane gets two turns in a row while the other has work.
	expect(rest[0]).not.toBe(rest[1]);
	expect(rest[1]).not.toBe(rest[2]);
});

test('a lane whose work is not due, paused or filtered out is passed over and keeps its turn', async () => {
	const [a, b] = [await user(), await user()];
	await queue(a, 2, { minutesAgo: -30 }); // scheduled in the future
	await queue(b, 2);
	const [first] = await claim();
	expect(first!.created_by).toBe(b);
	await q.sql`update job_queue set scheduled_at = now() - interval '1 second' where created_by = ${a}`;
	const [second] = await claim();
	expect(second!.created_by).toBe(a); // never served: its turn comes before b's

	await queue(a, 2, { type: 'paused-type' });
	await queue(b, 2, { type: 'other' });
	await pauseJobType(q.sql, 'paused-type');
	const taken = await claim(10, ['paused-type', 'other']);
	expect(taken.every((j) => j.job_type === 'other')).toBe(true);
	await resumeJobType(q.sql, 'paused-type');
	const [resumed] = await claim(1, ['paused-type']);
	expect(resumed!.created_by).toBe(a);
});

test('lane rows: created with the work, dropped when a walk finds them empty, back with a retry', async () => {
	const [a, b] = [await user(), await user()];
	await queue(a, 1);
	await queue(null, 1);
	expect(await lanes()).toEqual([SYSTEM, a].sort());
	const jobs = await claim(2);
	expect(jobs).toHaveLength(2);
	await queue(b, 2);
	expect((await claim())[0]!.created_by).toBe(b); // never served: first
	// This walk passes the two emptied lanes (served longer ago) and drops their rows.
	expect((await claim(2)).map((j) => j.created_by)).toEqual([b]);
	expect(await lanes()).toEqual([b]);
	// Back to pending (a failed attempt with retries left): its lane comes back with it.
	const mine = jobs.find((j) => j.created_by === a)!;
	await q.sql`select complete_job(${mine.id}, false, 'boom', null, 'w', ${mine.claim_count}, false, 0)`;
	expect(await lanes()).toEqual([a, b].sort());
	const [again] = await claim();
	expect(again!.id).toBe(mine.id);
});

test('a batch from one lane is taken whole, in age order', async () => {
	const a = await user();
	await queue(a, 300);
	const batch = await claim(250);
	expect(batch.map((j) => j.payload.n).sort((x, y) => Number(x) - Number(y))).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
});

test('20 claimers and 5 enqueuers racing: every job claimed exactly once, no job left without its lane', async () => {
	const owners = [null, ...(await Promise.all(Array.from({ length: 6 }, () => user())))];
	const conns = await Promise.all(Array.from({ length: 20 }, () => q.sql.reserve()));
	const seen = new Map<string, number>();
	let enqueued = 0;
	try {
		const enqueuers = Array.from({ length: 5 }, async (_, e) => {
			for (let round = 0; round < 40; round++) {
				const owner = owners[(e + round) % owners.length]!;
				await q.sql`insert into job_queue (job_type, created_by) select 'race', ${owner}::uuid from generate_series(1, 5)`;
				enqueued += 5;
			}
		});
		let done = false;
		const claimers = conns.map(async (conn) => {
			for (;;) {
				const jobs = await claimJobs(conn, { workerId: 'race', limit: 3 });
				for (const job of jobs) seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
				if (jobs.length === 0 && done) return;
			}
		});
		await Promise.all(enqueuers);
		done = true;
		await Promise.all(claimers);
		// Whatever the claimers raced past (a lane held by another claimer at the last look) is still claimable.
		for (let jobs = await claim(100); jobs.length > 0; jobs = await claim(100)) {
			for (const job of jobs) seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
		}
	} finally {
		for (const conn of conns) conn.release();
	}
	expect(enqueued).toBe(1000);
	expect(seen.size).toBe(1000);
	expect([...seen.values()].every((n) => n === 1)).toBe(true);
	const [orphans] = await q.sql<{ n: number }[]>`
		select count(*)::int as n from job_queue j
		where status = 'pending'
		  and not exists (select 1 from job_queue_lanes l where l.lane = coalesce(j.created_by, ${SYSTEM}::uuid))`;
	expect(orphans!.n).toBe(0);
});

test("claim cost does not depend on one user's backlog: the plan probes lane heads by index", async () => {
	const heavy = await user();
	await queue(heavy, 20000);
	await queue(await user(), 5);
	await q.sql`analyze job_queue`;
	const started = await q.sql<{ id: string }[]>`
		explain (format json) select j.id from job_queue j
		where coalesce(j.created_by, ${SYSTEM}::uuid) = ${heavy}::uuid and j.status = 'pending' and j.priority = 0
		  and j.scheduled_at <= now()
		order by coalesce(j.created_by, ${SYSTEM}::uuid), j.priority desc, j.scheduled_at, j.id limit 1`;
	const plan = JSON.stringify(started);
	expect(plan).toContain('job_queue_lane_claim_idx');
	expect(plan).not.toContain('Sort');
	const batch = await claim(10);
	expect(batch.filter((j) => j.created_by !== heavy)).toHaveLength(5);
});

test('one lane (the fast path, 0031): 16 claimers at once take every job once, a lane appearing mid-race included; a new lane still goes first', async () => {
	await queue(null, 400);
	const conns = await Promise.all(Array.from({ length: 16 }, () => q.sql.reserve()));
	const seen = new Map<string, number>();
	const light = await user();
	try {
		let inserted = false;
		await Promise.all(
			conns.map(async (conn, i) => {
				for (;;) {
					const jobs = await claimJobs(conn, { workerId: `one-${i}`, limit: 1 + (i % 4) });
					for (const job of jobs) seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
					if (!inserted && seen.size >= 200) {
						inserted = true;
						await queue(light, 1, { minutesAgo: 0 });
					}
					if (jobs.length === 0) return;
				}
			})
		);
	} finally {
		for (const conn of conns) conn.release();
	}
	expect(seen.size).toBe(401);
	expect([...seen.values()].every((n) => n === 1)).toBe(true);
	// The system lane was marked served (by exactly the claims that found it fresh), so a new lane goes first.
	const [row] = await q.sql<{ served_seq: string }[]>`select served_seq::text from job_queue_lanes where lane = ${SYSTEM}::uuid`;
	expect(row === undefined || row.served_seq !== '0').toBe(true);
	await queue(null, 3);
	const fresh = await user();
	await queue(fresh, 1, { minutesAgo: 0 });
	expect((await claim())[0]!.created_by).toBe(fresh);
});
