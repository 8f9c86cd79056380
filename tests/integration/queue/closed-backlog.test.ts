// A full model's backlog (0037): the claim reads around the pending jobs of a closed concurrency key
// instead of walking them, so what one claim reads does not grow with that backlog. Measured as the
// index entries the claim's scans return (pg_stat_user_indexes, flushed on demand), for the shapes a
// backlog takes: all in one lane (the one-lane claim), in one user's lane of eleven (the fair-share
// walk and its top-priority probe), and a lane whose own open jobs sit behind its closed ones. And
// the lock step of that path under concurrent claimers: every open job once, no closed one.
import { expect, test } from 'vitest';
import { claimJobs, type Job } from '$lib/server/queue';
import type { Sql } from '$lib/server/db/client';
import { createUser } from '../../support/db';
import { useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase({ max: 12 });

const FULL = 'full-model';
const OPEN = 'open-model';

async function insert(sql: Sql, owner: string | null, count: number, key: string | null, secondsAgo: number): Promise<void> {
	await sql`
		insert into job_queue (job_type, created_by, concurrency_key, scheduled_at)
		select 'backlog-test', ${owner}::uuid, ${key}, now() - make_interval(secs => ${secondsAgo}) + g * interval '1 microsecond'
		from generate_series(1, ${count}::int) g`;
}

/** Index entries job_queue's scans returned while `body` ran, on one backend (stats flushed on demand). */
async function entriesRead<T>(body: (conn: Sql) => Promise<T>): Promise<{ entries: number; result: T }> {
	const conn = await q.sql.reserve();
	try {
		const read = async () => {
			await conn`select pg_stat_force_next_flush()`;
			const [row] = await conn<{ n: string }[]>`
				select coalesce(sum(idx_tup_read), 0)::bigint::text as n from pg_stat_user_indexes where relname = 'job_queue'`;
			return Number(row!.n);
		};
		await read();
		const before = await read();
		const result = await body(conn as unknown as Sql);
		const after = await read();
		return { entries: after - before, result };
	} finally {
		conn.release();
	}
}

type Shape = 'one lane' | 'one user of eleven' | 'open jobs behind closed ones in the same lane';

/** A queue of `backlog` closed jobs ahead of 20 claimable ones, in the given shape. */
async function build(shape: Shape, backlog: number): Promise<void> {
	await q.sql`select set_concurrency_limit(${FULL}, 0)`;
	await q.sql`select set_concurrency_limit(${OPEN}, 100)`;
	if (shape === 'one lane') {
		await insert(q.sql, null, backlog, FULL, 3600);
		await insert(q.sql, null, 10, null, 60);
		await insert(q.sql, null, 10, OPEN, 60);
	} else {
		const heavy = (await createUser(q.sql)).id;
		await insert(q.sql, heavy, backlog, FULL, 3600);
		if (shape === 'open jobs behind closed ones in the same lane') {
			await insert(q.sql, heavy, 20, OPEN, 60);
		} else {
			for (let i = 0; i < 10; i++) await insert(q.sql, (await createUser(q.sql)).id, 2, i % 2 ? OPEN : null, 60 - i);
		}
	}
	await q.sql`analyze job_queue`;
}

const notFull = (jobs: Job[]) => jobs.every((job) => job.concurrency_key !== FULL);

for (const shape of ['one lane', 'one user of eleven', 'open jobs behind closed ones in the same lane'] as const) {
	test(`${shape}: a claim reads the same few entries past a closed backlog of 400 or of 8,000`, async () => {
		const reads: Record<number, { one: number; ten: number }> = {};
		for (const backlog of [400, 8000]) {
			await q.sql`truncate job_queue, job_queue_lanes cascade`;
			await build(shape, backlog);
			const one = await entriesRead((conn) => claimJobs(conn, { workerId: 'backlog', limit: 1 }));
			const ten = await entriesRead((conn) => claimJobs(conn, { workerId: 'backlog', limit: 10 }));
			expect(one.result).toHaveLength(1);
			expect(ten.result).toHaveLength(10);
			expect(notFull([...one.result, ...ten.result])).toBe(true);
			reads[backlog] = { one: one.entries, ten: ten.entries };
		}
		// 0032 walked the backlog (8,000+ entries here); reading around it costs a window and a few
		// descents per key, the same for both sizes.
		expect(reads[8000]!.one, JSON.stringify(reads)).toBeLessThan(200);
		expect(reads[8000]!.ten, JSON.stringify(reads)).toBeLessThan(400);
		expect(reads[8000]!.one).toBeLessThanOrEqual(reads[400]!.one + 20);
		expect(reads[8000]!.ten).toBeLessThanOrEqual(reads[400]!.ten + 40);
	});
}

test('the closed key opening mid-way: the next claim takes its oldest jobs first, in claim order', async () => {
	await build('one lane', 500);
	const [before] = await claimJobs(q.sql, { workerId: 'backlog', limit: 1 });
	expect(before!.concurrency_key).not.toBe(FULL);
	await q.sql`select set_concurrency_limit(${FULL}, 3)`;
	const opened = await claimJobs(q.sql, { workerId: 'backlog', limit: 5 });
	const oldest = await q.sql<{ id: string }[]>`
		select id from job_queue where concurrency_key = ${FULL} and status = 'processing' order by scheduled_at, id`;
	// Room 3: three of the full model's oldest, then the plain order goes on past it (now closed again).
	expect(opened.slice(0, 3).map((j) => j.concurrency_key)).toEqual([FULL, FULL, FULL]);
	expect(oldest).toHaveLength(3);
	const [first] = await q.sql<{ id: string }[]>`
		select id from job_queue where concurrency_key = ${FULL} order by scheduled_at, id limit 1`;
	expect(oldest[0]!.id).toBe(first!.id);
	expect(notFull(opened.slice(3))).toBe(true);
});

test('eight claimers at once on one lane behind a closed backlog: every open job once, none of the closed key, the open key to its room', async () => {
	await q.sql`select set_concurrency_limit(${FULL}, 0)`;
	await q.sql`select set_concurrency_limit(${OPEN}, 100)`;
	await insert(q.sql, null, 600, FULL, 3600);
	await insert(q.sql, null, 120, null, 60);
	await insert(q.sql, null, 120, OPEN, 60);
	const conns = await Promise.all(Array.from({ length: 8 }, () => q.sql.reserve()));
	const seen = new Map<string, number>();
	let closedTaken = 0;
	try {
		await Promise.all(
			conns.map(async (conn, i) => {
				for (;;) {
					const jobs = await claimJobs(conn as unknown as Sql, { workerId: `race-${i}`, limit: 1 + (i % 3) });
					for (const job of jobs) {
						seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
						if (job.concurrency_key === FULL) closedTaken++;
					}
					if (jobs.length === 0) return;
				}
			})
		);
	} finally {
		for (const conn of conns) conn.release();
	}
	expect(closedTaken).toBe(0);
	expect([...seen.values()].every((n) => n === 1)).toBe(true);
	// Its 100 slots fill while the claims race: the 120 jobs without a key, 100 of the open key.
	const rows = await q.sql<{ key: string | null; status: string; n: number }[]>`
		select concurrency_key as key, status, count(*)::int as n from job_queue group by 1, 2 order by 1 nulls first, 2`;
	expect(rows).toEqual([
		{ key: null, status: 'processing', n: 120 },
		{ key: FULL, status: 'pending', n: 600 },
		{ key: OPEN, status: 'pending', n: 20 },
		{ key: OPEN, status: 'processing', n: 100 }
	]);
	expect(seen.size).toBe(220);
});

test('no keyed job in line (the hot path): a claim reads a few entries, however many jobs without a key wait', async () => {
	await q.sql`select set_concurrency_limit(${FULL}, 0)`;
	await q.sql`select set_concurrency_limit(${OPEN}, 100)`;
	const reads: number[] = [];
	for (const count of [200, 5000]) {
		await q.sql`truncate job_queue, job_queue_lanes cascade`;
		await insert(q.sql, null, count, null, 60);
		await q.sql`analyze job_queue`;
		const one = await entriesRead((conn) => claimJobs(conn, { workerId: 'hot', limit: 1 }));
		expect(one.result).toHaveLength(1);
		reads.push(one.entries);
	}
	expect(reads[1], JSON.stringify(reads)).toBeLessThan(20);
	expect(reads[1]).toBeLessThanOrEqual(reads[0]! + 2);
});
