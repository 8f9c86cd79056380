// The lane walk's race (0037): a claim reads the lanes in turn order from its snapshot and locks them
// one by one; a lane that another claim served and committed in between is locked in its old place.
// Served twice in a row, one user got two jobs ahead of another's first. Driven step by step here:
// claim A serves bob and holds its transaction open; claim B takes its snapshot, is made to wait on a
// key's row (held by a third session) while at an earlier lane; A commits; B goes on, and must pass
// bob's lane over (its turn is now behind everyone's), as a claim that started after A would.
import { expect, test } from 'vitest';
import type { Sql } from '$lib/server/db/client';
import { claimJobs } from '$lib/server/queue';
import { createUser } from '../../support/db';
import { eventually } from '../../support/services';
import { useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase({ max: 6 });

async function insert(owner: string, label: string, key: string | null = null): Promise<string> {
	const [row] = await q.sql<{ id: string }[]>`
		insert into job_queue (job_type, created_by, concurrency_key, payload, scheduled_at)
		values ('race', ${owner}::uuid, ${key}, jsonb_build_object('label', ${label}::text), now() - interval '1 minute')
		returning id`;
	return row!.id;
}

test('a lane served by a claim that commits mid-walk is not served again by that walk', async () => {
	// Twelve users whose lanes, all unserved, take turns in uuid order: ten early ones, bob, alice. The
	// walk fetches its lanes ten at a time (PL/pgSQL's cursor), so bob and alice are read after the
	// early ones, from the walk's first snapshot.
	const ids = (await Promise.all(Array.from({ length: 12 }, () => createUser(q.sql)))).map((u) => u.id).sort();
	const early = ids.slice(0, 10);
	const [bob, alice] = ids.slice(10);
	const bob1 = await insert(bob!, 'bob 1');
	const bob2 = await insert(bob!, 'bob 2');
	const alice1 = await insert(alice!, 'alice 1');
	await q.sql`select set_concurrency_limit('race-key', 20)`;

	const a = await q.sql.reserve();
	const b = await q.sql.reserve();
	const holder = await q.sql.reserve();
	try {
		await a`begin`;
		const [byA] = await a<{ id: string }[]>`select id from claim_jobs('claim-a', 1, 30, null)`;
		expect(byA!.id).toBe(bob1);

		// The early lanes appear now, each with a job of a limited key; a third session holds its row.
		const earlyJobs: string[] = [];
		for (const owner of early) earlyJobs.push(await insert(owner, 'early', 'race-key'));
		await holder`begin`;
		await holder`select 1 from job_queue_concurrency_limits where concurrency_key = 'race-key' for update`;

		const bPid = (await b<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
		const byB = (b as unknown as Sql)<{ id: string }[]>`select id from claim_jobs('claim-b', 12, 30, null)`.then((rows) => rows.map((r) => r.id));
		// B has its snapshot and waits at the first early lane, for the key's row.
		await eventually(async () => {
			const [row] = await q.sql<{ waiting: boolean }[]>`
				select wait_event_type = 'Lock' as waiting from pg_stat_activity where pid = ${bPid}`;
			return row?.waiting;
		});
		await a`commit`;
		await holder`commit`;

		// As if B had started after A: the early lanes and alice in its first pass; bob, just served by
		// A, only in its second.
		expect(await byB).toEqual([...earlyJobs, alice1, bob2]);
	} finally {
		a.release();
		b.release();
		holder.release();
	}
});

test('a claim holds only the lane it serves: a concurrent claim serves the next lane, not the oldest job', async () => {
	const [heavy, light] = (await Promise.all([createUser(q.sql), createUser(q.sql)])).map((u) => u.id).sort();
	const heavyJobs: string[] = [];
	for (let i = 0; i < 5; i++) heavyJobs.push(await insert(heavy!, `heavy ${i}`));
	const lightJob = await insert(light!, 'light');
	const a = await q.sql.reserve();
	try {
		await a`begin`;
		const [byA] = await a<{ id: string }[]>`select id from claim_jobs('claim-a', 1, 30, null)`;
		expect(byA!.id).toBe(heavyJobs[0]);
		// A is still open, holding the heavy lane: B takes the light user's turn. (A walk that locked
		// every lane it fetched left B none, and B fell back to the oldest job: heavy's second.)
		const byB = await claimJobs(q.sql, { workerId: 'claim-b', limit: 1 });
		expect(byB.map((j) => j.id)).toEqual([lightJob]);
		await a`commit`;
	} finally {
		a.release();
	}
});
