// A job committed into a lane always has its lane row (0025's rule, 0040's row trigger). A claim
// drops an emptied lane's row under the exclusive form of the lane's lock; an enqueue takes the
// shared form and inserts the row `on conflict do nothing`. Each interleaving of the two is driven
// step by step, with the enqueue in a read committed and in a repeatable read transaction (whose
// snapshot can predate the claim's delete), then both race freely on many lanes.
import { expect, test } from 'vitest';
import type { Sql } from '$lib/server/db/client';
import { claimJobs } from '$lib/server/queue';
import { createUser } from '../../support/db';
import { eventually } from '../../support/services';
import { useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase({ max: 16 });
const SYSTEM = '00000000-0000-0000-0000-000000000000';
const ISOLATIONS = ['read committed', 'repeatable read'] as const;

const hasLane = async (lane: string) =>
	(await q.sql<{ n: number }[]>`select count(*)::int as n from job_queue_lanes where lane = ${lane}::uuid`)[0]!.n === 1;

/** Pending jobs whose lane has no row: such a job is never reached by a lane walk. */
const orphans = async () =>
	(await q.sql<{ n: number }[]>`
		select count(*)::int as n from job_queue j
		where j.status = 'pending' and not exists (select 1 from job_queue_lanes l where l.lane = coalesce(j.created_by, ${SYSTEM}::uuid))`)[0]!.n;

/**
 * Lane `empty` has a row and no work, first in turn; lane `busy` has one due job, behind it. The
 * next claim of 1 walks `empty` first, finds nothing and drops its row, then takes `busy`'s job.
 */
async function emptyLaneFirst(): Promise<{ empty: string; busy: string }> {
	const [empty, busy] = [(await createUser(q.sql)).id, (await createUser(q.sql)).id];
	await q.sql`insert into job_queue (job_type, created_by, scheduled_at) values ('race', ${busy}::uuid, now() - interval '1 minute')`;
	await q.sql`insert into job_queue_lanes (lane, served_seq) values (${empty}::uuid, 0) on conflict (lane) do update set served_seq = 0`;
	await q.sql`update job_queue_lanes set served_seq = 1000000 where lane = ${busy}::uuid`;
	return { empty, busy };
}

const insertInto = (conn: Sql, lane: string) =>
	conn<{ id: string }[]>`insert into job_queue (job_type, created_by) values ('race', ${lane}::uuid) returning id`;

for (const isolation of ISOLATIONS) {
	test(`${isolation}: an enqueue whose snapshot still shows the lane, inserting after a claim dropped it, brings the row back`, async () => {
		const { empty, busy } = await emptyLaneFirst();
		const enqueuer = await q.sql.reserve();
		try {
			await enqueuer.unsafe(`begin isolation level ${isolation}`);
			// The snapshot is taken here (at repeatable read it is the transaction's): the lane is there.
			expect((await enqueuer`select count(*)::int as n from job_queue_lanes where lane = ${empty}::uuid`)[0]!.n).toBe(1);
			const claimed = await claimJobs(q.sql, { workerId: 'w', limit: 1 });
			expect(claimed.map((j) => j.created_by)).toEqual([busy]);
			expect(await hasLane(empty)).toBe(false);
			const [job] = await insertInto(enqueuer, empty);
			await enqueuer`commit`;
			expect(await hasLane(empty)).toBe(true);
			expect((await claimJobs(q.sql, { workerId: 'w', limit: 5 })).map((j) => j.id)).toEqual([job!.id]);
		} finally {
			enqueuer.release();
		}
		expect(await orphans()).toBe(0);
	});

	test(`${isolation}: a claim walking past a lane whose job is not yet committed keeps the row and does not wait`, async () => {
		const { empty, busy } = await emptyLaneFirst();
		const enqueuer = await q.sql.reserve();
		try {
			await enqueuer.unsafe(`begin isolation level ${isolation}`);
			const [job] = await insertInto(enqueuer, empty);
			// The claim cannot see the job, finds the lane empty, and may not drop it: the enqueue holds
			// the lane's shared lock. It goes on to the next lane rather than waiting.
			const claimed = await claimJobs(q.sql, { workerId: 'w', limit: 1 });
			expect(claimed.map((j) => j.created_by)).toEqual([busy]);
			expect(await hasLane(empty)).toBe(true);
			await enqueuer`commit`;
			expect((await claimJobs(q.sql, { workerId: 'w', limit: 5 })).map((j) => j.id)).toEqual([job!.id]);
		} finally {
			enqueuer.release();
		}
		expect(await orphans()).toBe(0);
	});

	test(`${isolation}: an enqueue into a lane a claim is dropping waits for the claim, then puts the row back`, async () => {
		const { empty, busy } = await emptyLaneFirst();
		const claimer = await q.sql.reserve();
		const enqueuer = await q.sql.reserve();
		try {
			await claimer`begin`;
			expect((await claimJobs(claimer, { workerId: 'w', limit: 1 })).map((j) => j.created_by)).toEqual([busy]);
			// The claim has deleted the row and holds the exclusive lock until it commits.
			const pid = (await enqueuer<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
			await enqueuer.unsafe(`begin isolation level ${isolation}`);
			await enqueuer`select 1`;
			// execute(): a postgres.js query is sent when awaited, and this one must be on its way now.
			const inserting = insertInto(enqueuer, empty).execute();
			await eventually(async () => {
				const [row] = await q.sql<{ waiting: boolean }[]>`
					select exists (select 1 from pg_locks where pid = ${pid} and locktype = 'advisory' and not granted) as waiting`;
				return row!.waiting;
			});
			await claimer`commit`;
			const [job] = await inserting;
			await enqueuer`commit`;
			expect(await hasLane(empty)).toBe(true);
			expect((await claimJobs(q.sql, { workerId: 'w', limit: 5 })).map((j) => j.id)).toEqual([job!.id]);
		} finally {
			claimer.release();
			enqueuer.release();
		}
		expect(await orphans()).toBe(0);
	});
}

test('one insert of many rows: a row for every lane with a pending job among them, none for settled or system-less rows that are not pending', async () => {
	const users = await Promise.all(Array.from({ length: 4 }, async () => (await createUser(q.sql)).id));
	const owners = [users[0]!, users[1]!, users[1]!, null, users[2]!] as string[];
	await q.sql`
		insert into job_queue (job_type, created_by, status, completed_at)
		select 'race', u, s, case when s = 'pending' then null else now() end
		from unnest(${owners}::uuid[], ${['pending', 'pending', 'completed', 'pending', 'failed']}::text[]) as t(u, s)`;
	const rows = await q.sql<{ lane: string }[]>`select lane::text from job_queue_lanes order by lane`;
	expect(rows.map((r) => r.lane)).toEqual([users[0], users[1], SYSTEM].sort());
	expect(await hasLane(users[2]!)).toBe(false);
	expect(await hasLane(users[3]!)).toBe(false);
});

test('claimers emptying lanes and enqueuers refilling them, at both isolation levels: every job claimed once, no job without its lane', async () => {
	const lanes = await Promise.all(Array.from({ length: 5 }, async () => (await createUser(q.sql)).id));
	const seen = new Map<string, number>();
	let enqueued = 0;
	let done = false;
	const claimers = Array.from({ length: 6 }, async () => {
		for (;;) {
			const jobs = await claimJobs(q.sql, { workerId: 'race', limit: 1 });
			for (const job of jobs) seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
			if (jobs.length === 0 && done) return;
		}
	});
	// One job at a time per lane, so lanes keep emptying (and their rows being dropped) between enqueues.
	const enqueuers = Array.from({ length: 4 }, async (_, e) => {
		for (let round = 0; round < 60; round++) {
			const lane = lanes[(e + round) % lanes.length]!;
			await q.sql.begin(`isolation level ${ISOLATIONS[round % 2]!}`, async (tx) => {
				await tx`select count(*) from job_queue_lanes`;
				await insertInto(tx as unknown as Sql, lane);
			});
			enqueued++;
		}
	});
	try {
		await Promise.all(enqueuers);
	} finally {
		done = true;
		await Promise.all(claimers);
	}
	expect(await orphans()).toBe(0);
	for (let jobs = await claimJobs(q.sql, { workerId: 'w', limit: 100 }); jobs.length > 0; jobs = await claimJobs(q.sql, { workerId: 'w', limit: 100 })) {
		for (const job of jobs) seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
	}
	expect(enqueued).toBe(240);
	expect(seen.size).toBe(240);
	expect([...seen.values()].every((n) => n === 1)).toBe(true);
});
