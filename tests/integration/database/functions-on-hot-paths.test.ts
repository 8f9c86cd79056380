// Every function a start, a claim or a running job calls on each step is PL/pgSQL, or SQL that the
// planner can inline (no `set` clause, not security definer). Postgres plans a SQL function it cannot
// inline afresh on every call (0041, 0044); PL/pgSQL keeps its plans for the session.
import { describe, expect, test } from 'vitest';
import { withUser } from '$lib/server/db/with-user';
import { completeJobs, enqueueJob } from '$lib/server/queue';
import { createUser } from '../../support/db';
import { rejection, useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase();

/** Called on every POST /api/generations, every claim and completion, every step of a running generation. */
const HOT = [
	'start_generation',
	'may_start_generation',
	'get_user_limits',
	'default_user_limits',
	'generation_cost_estimate',
	'enqueue_job',
	'claim_jobs',
	'complete_jobs',
	'complete_job',
	'heartbeat_jobs',
	'release_jobs',
	'snooze_job',
	'admit_generation',
	'generation_run_holds',
	'record_generation_progress',
	'complete_generation'
];

describe('functions on the hot paths', () => {
	test('are PL/pgSQL, or SQL the planner can inline', async () => {
		const rows = await q.sql<{ name: string; language: string; config: boolean; secdef: boolean }[]>`
			select p.proname as name, l.lanname as language, p.proconfig is not null as config, p.prosecdef as secdef
			from pg_proc p join pg_language l on l.oid = p.prolang
			where p.pronamespace = 'public'::regnamespace and p.proname = any (${HOT})`;
		expect(rows.map((r) => r.name).sort()).toEqual([...new Set(HOT)].sort());
		const planned = rows.filter((r) => r.language === 'sql' && (r.config || r.secdef)).map((r) => r.name);
		expect(planned, 'SQL functions Postgres would plan on every call').toEqual([]);
		expect(rows.filter((r) => !['plpgsql', 'sql'].includes(r.language))).toEqual([]);
	});
});

describe('default_user_limits (0044)', () => {
	test('answers 20 an hour and 100 a day, and is immutable', async () => {
		const [row] = await q.sql<{ hourly: number; daily: number }[]>`select * from public.default_user_limits()`;
		expect(row).toEqual({ hourly: 20, daily: 100 });
		const [fn] = await q.sql<{ volatility: string; result: string }[]>`
			select provolatile as volatility, pg_get_function_result(oid) as result
			from pg_proc where oid = 'public.default_user_limits()'::regprocedure`;
		expect(fn).toEqual({ volatility: 'i', result: 'record' });
	});

	test('is what a user without an override is limited to', async () => {
		const user = await createUser(q.sql);
		const [row] = await q.sql<{ limits: { hourly_limit: number; daily_limit: number; can_generate: boolean } }[]>`
			select public.get_user_limits(${user.id}) as limits`;
		expect(row!.limits).toMatchObject({ hourly_limit: 20, daily_limit: 100, can_generate: true });
	});
});

describe('generation_run_holds (0044)', () => {
	async function holds(jobId: string, worker: string, claimCount: number): Promise<boolean> {
		const [row] = await q.sql<{ holds: boolean }[]>`select public.generation_run_holds(${jobId}, ${worker}, ${claimCount}) as holds`;
		return row!.holds;
	}

	test('is true only for the worker and claim that hold the running job', async () => {
		const id = await enqueueJob(q.sql, 'bench');
		expect(await holds(id, 'w1', 1)).toBe(false); // pending: nobody holds it
		const [claimed] = await q.sql<{ claim_count: number }[]>`select claim_count from public.claim_jobs('w1', 1, 30, '{bench}')`;
		expect(claimed!.claim_count).toBe(1);
		expect(await holds(id, 'w1', 1)).toBe(true);
		expect(await holds(id, 'w2', 1)).toBe(false);
		expect(await holds(id, 'w1', 2)).toBe(false);
		expect(await holds(id, 'w1', 0)).toBe(false);
		expect(await holds('00000000-0000-0000-0000-000000000000', 'w1', 1)).toBe(false);
		await completeJobs(q.sql, 'w1', [{ jobId: id, claimCount: 1 }]);
		expect(await holds(id, 'w1', 1)).toBe(false); // completed: the run no longer holds it
	});

	test('a reclaimed job is held by the new claim only', async () => {
		const id = await enqueueJob(q.sql, 'bench');
		await q.sql`select * from public.claim_jobs('w1', 1, 30, '{bench}')`;
		await q.sql`update public.job_queue set locked_until = now() - interval '1 second' where id = ${id}`;
		await q.sql`select public.reap_expired_jobs()`;
		await q.sql`update public.job_queue set scheduled_at = now() where id = ${id}`;
		const [again] = await q.sql<{ claim_count: number }[]>`select claim_count from public.claim_jobs('w2', 1, 30, '{bench}')`;
		expect(again!.claim_count).toBe(2);
		expect(await holds(id, 'w1', 1)).toBe(false);
		expect(await holds(id, 'w2', 2)).toBe(true);
	});

	test('signed-in users cannot call it', async () => {
		const user = await createUser(q.sql);
		const error = await rejection(withUser(q.sql, user.claims, (tx) => tx`select public.generation_run_holds(gen_random_uuid(), 'w', 1)`));
		expect(error.code).toBe('42501');
	});
});
