// Row level security: users see only their own jobs; anon sees nothing; only trusted code drives the queue.
import { beforeEach, describe, expect, test } from 'vitest';
import type { Sql } from '$lib/server/db/client';
import { withUser, type JwtClaims } from '$lib/server/db/with-user';
import { enqueueJob } from '$lib/server/queue';
import { createUser } from '../../support/db';
import { enqueueAndClaim, expireLease, rejection, useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase();

let alice: { id: string; claims: JwtClaims };
let bob: { id: string; claims: JwtClaims };
let aliceJobs: string[];

beforeEach(async () => {
	alice = await createUser(q.sql);
	bob = await createUser(q.sql);
	aliceJobs = [
		await enqueueJob(q.sql, 'generate-image', { createdBy: alice.id, payload: { prompt: 'a cat' } }),
		await enqueueJob(q.sql, 'upscale', { createdBy: alice.id })
	];
	await enqueueJob(q.sql, 'generate-image', { createdBy: bob.id, payload: { prompt: 'a dog' } });
	await enqueueJob(q.sql, 'generate-image', { createdBy: bob.id });
	await enqueueJob(q.sql, 'generate-image', { createdBy: bob.id });
	await enqueueJob(q.sql, 'maintenance'); // a system job, no owner
});

/** Runs fn in a transaction as role anon, with no JWT claims, as PostgREST does for the anon key. */
function asAnon<T>(sql: Sql, fn: (tx: Sql) => Promise<T>): Promise<T> {
	return sql.begin(async (tx) => {
		await tx`select set_config('role', 'anon', true)`;
		return fn(tx as unknown as Sql);
	}) as Promise<T>;
}

describe('an authenticated user', () => {
	test('sees only their own jobs in job_queue', async () => {
		const rows = await withUser(q.sql, alice.claims, (tx) => tx`select id, created_by, current_user as role from job_queue`);
		expect(rows.map((r) => r.id).sort()).toEqual([...aliceJobs].sort());
		expect(rows.every((r) => r.created_by === alice.id && r.role === 'authenticated')).toBe(true);
		const bobs = await withUser(q.sql, bob.claims, (tx) => tx`select count(*)::int as n from job_queue`);
		expect(bobs[0]!.n).toBe(3);
		const [all] = await q.sql`select count(*)::int as n from job_queue`;
		expect(all!.n).toBe(6); // the owner (service) sees everything
	});

	test('with a sub that owns nothing, or no claims at all, sees no jobs', async () => {
		const stranger = await createUser(q.sql);
		const rows = await withUser(q.sql, stranger.claims, (tx) => tx`select id from job_queue`);
		expect(rows).toHaveLength(0);
		const noClaims = await q.sql.begin(async (tx) => {
			await tx`select set_config('role', 'authenticated', true)`;
			return tx`select id from job_queue`;
		});
		expect(noClaims).toHaveLength(0);
	});

	test('sees only their own jobs in queue_health, failed_jobs_recent and stuck_jobs', async () => {
		const health = await withUser(q.sql, alice.claims, (tx) =>
			tx`select job_type, status, count::int as count from queue_health order by job_type`);
		expect(health).toEqual([
			{ job_type: 'generate-image', status: 'pending', count: 1 },
			{ job_type: 'upscale', status: 'pending', count: 1 }
		]);
		// Bob's stuck and failed jobs are invisible to Alice and visible to Bob.
		const bobJob = await enqueueAndClaim(q.sql, 'bob-stuck', 'w', { createdBy: bob.id });
		await expireLease(q.sql, bobJob.id);
		await q.sql`update job_queue set status = 'failed', completed_at = now()
			where created_by = ${bob.id} and status = 'pending' and payload ? 'prompt'`;
		const seen = async (claims: JwtClaims) =>
			withUser(q.sql, claims, async (tx) => ({
				stuck: (await tx`select count(*)::int as n from stuck_jobs`)[0]!.n,
				failed: (await tx`select count(*)::int as n from failed_jobs_recent`)[0]!.n
			}));
		expect(await seen(alice.claims)).toEqual({ stuck: 0, failed: 0 });
		expect(await seen(bob.claims)).toEqual({ stuck: 1, failed: 1 });
	});

	test('cannot write job_queue directly', async () => {
		for (const statement of [
			(tx: Sql) => tx`insert into job_queue (job_type, created_by) values ('x', ${alice.id})`,
			(tx: Sql) => tx`update job_queue set priority = 1000 where created_by = ${alice.id}`,
			(tx: Sql) => tx`delete from job_queue where created_by = ${alice.id}`,
			(tx: Sql) => tx`insert into job_queue_paused_types (job_type) values ('generate-image')`
		]) {
			const error = await rejection(withUser(q.sql, alice.claims, (tx) => statement(tx as unknown as Sql)));
			expect(error.message).toMatch(/permission denied for table (job_queue|job_queue_paused_types)/);
		}
		const [after] = await q.sql`select count(*)::int as n, max(priority) as p from job_queue`;
		expect(after).toEqual({ n: 6, p: 0 });
	});

	test.each([
		['enqueue_job', (tx: Sql) => tx`select enqueue_job('generate-image', '{}'::jsonb)`],
		['enqueue_job (seed form)', (tx: Sql) => tx`select enqueue_job('generate-image'::text, '{}'::jsonb, 0, now(), 3)`],
		['claim_jobs', (tx: Sql) => tx`select * from claim_jobs('evil-worker', 10)`],
		['claim_next_job', (tx: Sql) => tx`select * from claim_next_job()`],
		['complete_job', (tx: Sql) => tx`select complete_job(gen_random_uuid(), true)`],
		['cancel_job', (tx: Sql) => tx`select cancel_job(gen_random_uuid())`],
		['retry_job', (tx: Sql) => tx`select retry_job(gen_random_uuid())`],
		['reap_expired_jobs', (tx: Sql) => tx`select reap_expired_jobs()`],
		['purge_finished_jobs', (tx: Sql) => tx`select purge_finished_jobs()`]
	])('cannot call %s (permission denied)', async (name, call) => {
		const before = await q.sql`select to_jsonb(j) as row from job_queue j order by id`;
		const error = await rejection(withUser(q.sql, alice.claims, (tx) => call(tx as unknown as Sql)));
		expect(error.message).toContain(`permission denied for function ${name.split(' ')[0]}`);
		expect(await q.sql`select to_jsonb(j) as row from job_queue j order by id`).toEqual(before);
	});
});

describe('the anon role', () => {
	test.each(['job_queue', 'queue_health', 'failed_jobs_recent', 'stuck_jobs', 'job_queue_paused_types'])(
		'is denied %s',
		async (relation) => {
			const error = await rejection(asAnon(q.sql, (tx) => tx`select count(*) from ${tx(relation)}`));
			expect(error.message).toMatch(new RegExp(`permission denied for (table|view) ${relation}`));
		}
	);

	test('even with a user id in its claims, sees none of that user\'s jobs', async () => {
		const error = await rejection(
			q.sql.begin(async (tx) => {
				await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub: alice.id, role: 'anon' })}, true),
				                set_config('role', 'anon', true)`;
				return tx`select id from job_queue`;
			})
		);
		expect(error.message).toMatch(/permission denied for table job_queue/);
	});

	test('cannot enqueue', async () => {
		const error = await rejection(asAnon(q.sql, (tx) => tx`select enqueue_job('generate-image', '{}'::jsonb)`));
		expect(error.message).toContain('permission denied for function enqueue_job');
	});
});

test('the service_role sees and drives every job', async () => {
	const result = await q.sql.begin(async (tx) => {
		await tx`select set_config('role', 'service_role', true)`;
		const [seen] = await tx`select count(*)::int as n from job_queue`;
		const claimed = await tx`select id from claim_jobs('svc', 10)`;
		return { seen: seen!.n, claimed: claimed.length };
	});
	expect(result).toEqual({ seen: 6, claimed: 6 });
});
