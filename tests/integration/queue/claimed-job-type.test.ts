// 0043: claim_jobs returns claimed_job, a composite type of job_queue's columns without the table's
// constraints. The type must follow the table column for column, and a claim must still hand back
// every column of the row as the table holds it, through claim_jobs and the seed's claim_next_job.
import { describe, expect, test } from 'vitest';
import { withUser } from '$lib/server/db/with-user';
import { claimJobs, enqueueJob } from '$lib/server/queue';
import { createUser } from '../../support/db';
import { rejection, useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase();

type Column = { name: string; type: string };

async function columnsOf(relation: string): Promise<Column[]> {
	return q.sql<Column[]>`
		select a.attname as name, format_type(a.atttypid, a.atttypmod) as type
		from pg_attribute a
		where a.attrelid = ${relation}::regclass and a.attnum > 0 and not a.attisdropped
		order by a.attnum`;
}

/** Every column of the job as the table holds it now, as JSON (timestamps to the microsecond). */
async function tableRows(ids: string[]): Promise<Record<string, unknown>[]> {
	const rows = await q.sql<{ row: Record<string, unknown> }[]>`
		select to_jsonb(j) as row from public.job_queue j where j.id = any (${ids}::uuid[]) order by j.id`;
	return rows.map((r) => r.row);
}

describe('claimed_job', () => {
	test("has job_queue's columns, names and types, in the table's order", async () => {
		const table = await columnsOf('public.job_queue');
		expect(table.length).toBeGreaterThan(15);
		expect(await columnsOf('public.claimed_job')).toEqual(table);
	});

	test('is what claim_jobs returns; claim_next_job keeps the seed\'s setof job_queue', async () => {
		const rows = await q.sql<{ name: string; result: string; secdef: boolean; volatility: string; config: string[] }[]>`
			select p.proname as name, pg_get_function_result(p.oid) as result, p.prosecdef as secdef,
			       p.provolatile as volatility, coalesce(p.proconfig, '{}') as config
			from pg_proc p
			where p.pronamespace = 'public'::regnamespace and p.proname in ('claim_jobs', 'claim_next_job')
			order by 1`;
		expect(rows.map((r) => [r.name, r.result])).toEqual([
			['claim_jobs', 'SETOF claimed_job'],
			['claim_next_job', 'SETOF job_queue']
		]);
		const claim = rows[0]!;
		// Recreated with 0037's body and settings: the plan rules that keep the claim an index walk.
		expect(claim.secdef).toBe(false);
		expect(claim.volatility).toBe('v');
		expect([...claim.config].sort()).toEqual(
			[
				'enable_bitmapscan=off',
				'enable_incremental_sort=off',
				'enable_seqscan=off',
				'enable_sort=off',
				'plan_cache_mode=force_generic_plan',
				'search_path=public, pg_temp'
			].sort()
		);
	});
});

describe('a claim through claimed_job', () => {
	test('a claim of one hands back every column as the table holds it after the claim', async () => {
		const owner = await createUser(q.sql);
		const id = await enqueueJob(q.sql, 'generate-image', {
			createdBy: owner.id,
			payload: { prompt: 'a lighthouse', nested: { n: 1 } },
			priority: 7,
			maxAttempts: 5,
			dedupeKey: 'claimed-job-type'
		});
		const claimed = await q.sql<{ row: Record<string, unknown> }[]>`
			select to_jsonb(c) as row from public.claim_jobs('w-one', 1, 45, null) c`;
		expect(claimed.map((c) => c.row)).toEqual(await tableRows([id]));
		const row = claimed[0]!.row;
		expect(row).toMatchObject({ id, status: 'processing', locked_by: 'w-one', attempts: 1, claim_count: 1, priority: 7, max_attempts: 5 });
		expect(row.payload).toEqual({ prompt: 'a lighthouse', nested: { n: 1 } });
	});

	test('a batched claim returns its rows in claim order, each equal to the table row', async () => {
		const ids: string[] = [];
		for (let i = 0; i < 6; i++) ids.push(await enqueueJob(q.sql, 'bench', { priority: i % 3 }));
		const claimed = await q.sql<{ id: string; priority: number; row: Record<string, unknown> }[]>`
			select c.id, c.priority, to_jsonb(c) as row from public.claim_jobs('w-batch', 6, 30, '{bench}') c`;
		expect(claimed.map((c) => c.priority)).toEqual([2, 2, 1, 1, 0, 0]);
		const table = await tableRows(ids);
		expect([...claimed.map((c) => c.row)].sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual(table);
	});

	test('the TypeScript claim and the seed\'s claim_next_job read the same row', async () => {
		const first = await enqueueJob(q.sql, 'bench', { payload: { k: 'v' } });
		const [viaTs] = await claimJobs(q.sql, { workerId: 'w-ts', jobTypes: ['bench'] });
		expect(viaTs!.id).toBe(first);
		expect(viaTs!.payload).toEqual({ k: 'v' });
		expect(viaTs!.started_at).toBeInstanceOf(Date);
		expect(viaTs!.locked_until).toBeInstanceOf(Date);

		const second = await enqueueJob(q.sql, 'bench');
		const seed = await q.sql<{ row: Record<string, unknown> }[]>`select to_jsonb(c) as row from public.claim_next_job('w-seed') c`;
		expect(seed.map((s) => s.row)).toEqual(await tableRows([second]));
	});

	test('signed-in users and anon still cannot claim, and claim nothing trying', async () => {
		const user = await createUser(q.sql);
		await enqueueJob(q.sql, 'bench');
		const asUser = await rejection(withUser(q.sql, user.claims, (tx) => tx`select * from public.claim_jobs('evil', 5)`));
		expect(asUser.code).toBe('42501');
		const asAnon = await rejection(
			q.sql.begin(async (tx) => {
				await tx`select set_config('role', 'anon', true)`;
				return tx`select * from public.claim_jobs('evil', 5)`;
			})
		);
		expect(asAnon.code).toBe('42501');
		const [left] = await q.sql<{ n: number }[]>`select count(*)::int as n from public.job_queue where status = 'pending'`;
		expect(left!.n).toBe(1);
		const rights = await q.sql<{ role: string; allowed: boolean }[]>`
			select r as role, has_function_privilege(r, 'public.claim_jobs(text, integer, integer, text[])', 'execute') as allowed
			from unnest(array['anon', 'authenticated', 'service_role']) r order by 1`;
		expect(rights).toEqual([
			{ role: 'anon', allowed: false },
			{ role: 'authenticated', allowed: false },
			{ role: 'service_role', allowed: true }
		]);
	});
});
