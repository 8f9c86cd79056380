// queue_health (0038) reads folded totals of settled history plus the live rows. It must answer exactly
// what the plain query over job_queue (0003's definition, OLD_VIEWS) answers: over random histories with
// folds interleaved with retries, purges, deletes, edits by hand and concurrent folds, for the owner
// and for each signed-in user (RLS), and with a writer in flight while the watermark moves.
import { beforeEach, describe, expect, test } from 'vitest';
import type { Sql } from '$lib/server/db/client';
import { withUser, type JwtClaims } from '$lib/server/db/with-user';
import { claimJobs, completeJob, enqueueJob, failJob, foldSettledJobs, purgeFinishedJobs, retryJob, retryJobs } from '$lib/server/queue';
import { consoleReader } from '$lib/server/console/access';
import { HISTORY_RANGES, historySeries, type HistoryQuery } from '$lib/server/console/history';
import { OLD_VIEWS } from '../../../bench/views';
import { createUser } from '../../support/db';
import { rejection, useQueueDatabase } from '../../support/queue';
import { eventually } from '../../support/services';

const q = useQueueDatabase({ max: 8 });
const SETTLED = ['completed', 'failed', 'cancelled'] as const;
const TYPES = ['generate-image', 'upscale', 'email'];
const MODELS = ['m/a', 'm/b'];
const reader = consoleReader({ id: '00000000-0000-4000-8000-0000000000ad', email: 'a@x.test', isAdmin: true, isOperator: false, sessionId: null,
	claims: { sub: '00000000-0000-4000-8000-0000000000ad', role: 'authenticated' } });

type User = { id: string; claims: JwtClaims };
let users: User[];

beforeEach(async () => {
	// The queue was just truncated (its trigger emptied the totals): a watermark from nothing is as valid.
	await q.sql`update public.job_queue_fold_state set folded_through = '-infinity', candidate_at = null, candidate_xmax = null`;
	users = [];
	for (let i = 0; i < 4; i++) users.push(await createUser(q.sql));
});

/** A small deterministic generator, so a failing history can be replayed from its seed. */
function prng(seed: number) {
	let s = seed >>> 0;
	const next = () => {
		s = (s + 0x6d2b79f5) >>> 0;
		let t = s;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

async function newAndOld(tx: Sql) {
	const order = 'order by job_type, status';
	const now = await tx.unsafe(`select * from public.queue_health ${order}`);
	const old = await tx.unsafe(`select * from (${OLD_VIEWS.queue_health}) o ${order}`);
	return { now: [...now], old: [...old] };
}

/** The view and the old definition agree: as the owner, as service_role and as every user. */
async function expectExact(sql: Sql, context: string) {
	const owner = await newAndOld(sql);
	expect(owner.now, context).toEqual(owner.old);
	const service = await sql.begin(async (tx) => {
		await tx`select set_config('role', 'service_role', true)`;
		return newAndOld(tx as unknown as Sql);
	});
	expect(service.now, `${context} (service_role)`).toEqual(owner.old);
	for (const user of users) {
		const mine = await withUser(sql, user.claims, (tx) => newAndOld(tx as unknown as Sql));
		expect(mine.now, `${context} (user ${user.id})`).toEqual(mine.old);
	}
}

/** The history chart's query before 0038 (every job created in the range, counted from job_queue). */
async function plainHistory(sql: Sql, query: HistoryQuery) {
	const { bucketSeconds: step, buckets } = HISTORY_RANGES[query.range];
	const rows = await sql<{ at: Date; total: number; completed: number; failed: number }[]>`
		with slots as (select generate_series(floor(date_part('epoch', now()) / ${step})::bigint - ${buckets - 1},
		                                      floor(date_part('epoch', now()) / ${step})::bigint) as b),
		created as (
			select floor(date_part('epoch', created_at) / ${step})::bigint as b, count(*)::int as total,
			       count(*) filter (where status = 'completed')::int as completed, count(*) filter (where status = 'failed')::int as failed
			from public.job_queue
			where created_at >= to_timestamp((floor(date_part('epoch', now()) / ${step}) - ${buckets - 1}) * ${step})
			  and (${query.type}::text is null or job_type = ${query.type}) and (${query.model}::text is null or payload ->> 'model_id' = ${query.model})
			group by 1
		)
		select to_timestamp(slots.b * ${step}) as at, coalesce(c.total, 0) as total, coalesce(c.completed, 0) as completed,
		       coalesce(c.failed, 0) as failed
		from slots left join created c on c.b = slots.b order by slots.b`;
	return rows.map((row) => ({ ...row, at: row.at.toISOString() }));
}

const HISTORY_QUERIES: HistoryQuery[] = [
	{ range: '30d', type: null, model: null },
	{ range: '24h', type: null, model: null },
	{ range: '7d', type: 'upscale', model: null },
	{ range: '30d', type: 'generate-image', model: 'm/a' },
	{ range: '30d', type: null, model: 'm/b' }
];

/** The history chart (folded by the hour, 0038) and its plain query agree, for each range and filter. */
async function expectHistoryExact(sql: Sql, context: string) {
	for (const query of HISTORY_QUERIES) {
		expect(await historySeries(reader, sql, query), `${context} (history ${JSON.stringify(query)})`).toEqual(await plainHistory(sql, query));
	}
}

/** Settled (and some pending) rows written as an import would: old times, microseconds, nulls. */
async function insertHistory(sql: Sql, rand: ReturnType<typeof prng>, n: number, minAgeSeconds = 60) {
	const rows = Array.from({ length: n }, () => {
		const status = rand.next() < 0.1 ? 'pending' : rand.pick(SETTLED);
		const age = minAgeSeconds + rand.next() * 30 * 86_400;
		const ran = rand.next() < 0.9;
		return {
			job_type: rand.pick(TYPES),
			model: rand.next() < 0.2 ? null : rand.pick(MODELS),
			status,
			created_by: rand.next() < 0.2 ? null : rand.pick(users).id,
			age,
			started: status !== 'pending' && ran ? rand.next() * 5 : null,
			completed: status === 'pending' || rand.next() < 0.03 ? null : 5 + rand.next() * 100
		};
	});
	await sql`
		insert into public.job_queue (job_type, payload, status, created_by, created_at, started_at, completed_at)
		select r.job_type, case when r.model is null then '{}' else jsonb_build_object('model_id', r.model) end, r.status, r.created_by::uuid, t.created_at,
		       t.created_at + make_interval(secs => r.started), t.created_at + make_interval(secs => r.completed)
		from jsonb_to_recordset(${sql.json(rows as never)}) as r(job_type text, model text, status text, created_by text, age float8, started float8, completed float8),
		     lateral (select now() - make_interval(secs => r.age) as created_at) t`;
}

async function folded(sql: Sql): Promise<Date> {
	const [row] = await sql<{ at: Date }[]>`select folded_through as at from public.job_queue_fold_state`;
	return row!.at;
}

/** Folds until the watermark stops moving (each call may spend the candidate the previous one recorded). */
async function foldAll(sql: Sql) {
	let before = await folded(sql);
	for (;;) {
		await foldSettledJobs(sql);
		const after = await folded(sql);
		if (after.getTime() === before.getTime()) return;
		before = after;
	}
}

async function someIds(sql: Sql, where: string, rand: ReturnType<typeof prng>, n: number): Promise<string[]> {
	const rows = await sql.unsafe<{ id: string }[]>(`select id::text from public.job_queue where ${where} order by id`);
	return Array.from({ length: Math.min(n, rows.length) }, () => rand.pick(rows).id);
}

/** Jobs through the real queue API: claimed, then completed or failed (completed_at = now(): live rows). */
async function runLive(sql: Sql, rand: ReturnType<typeof prng>, n: number) {
	for (let i = 0; i < n; i++) await enqueueJob(sql, rand.pick(TYPES), { createdBy: rand.pick(users).id, maxAttempts: 1 });
	const jobs = await claimJobs(sql, { workerId: 'w', limit: n });
	for (const job of jobs) {
		const claim = { jobId: job.id, workerId: 'w', claimCount: job.claim_count };
		if (rand.next() < 0.7) await completeJob(sql, claim);
		else await failJob(sql, claim, { message: 'boom', permanent: rand.next() < 0.5 });
	}
}

const STEPS: Record<string, (sql: Sql, rand: ReturnType<typeof prng>) => Promise<unknown>> = {
	fold: (sql, rand) => foldSettledJobs(sql, 1 + rand.int(400)),
	foldAll: (sql) => foldAll(sql),
	concurrentFolds: (sql, rand) => Promise.all([foldSettledJobs(sql, 1 + rand.int(300)), foldSettledJobs(sql), foldSettledJobs(sql, 50)]),
	retry: async (sql, rand) => {
		for (const id of await someIds(sql, "status in ('failed', 'cancelled')", rand, 3)) await retryJob(sql, id);
	},
	foldRacingRetry: async (sql, rand) => {
		const ids = await someIds(sql, "status in ('failed', 'cancelled')", rand, 5);
		await Promise.all([foldSettledJobs(sql), retryJobs(sql, ids), foldSettledJobs(sql, 20)]);
	},
	purge: (sql, rand) => purgeFinishedJobs(sql, { olderThanDays: 1 + rand.int(30), failedOlderThanDays: 1 + rand.int(30), batchSize: 1 + rand.int(60), maxMs: 0 }),
	foldRacingPurge: (sql, rand) =>
		Promise.all([purgeFinishedJobs(sql, { olderThanDays: 1 + rand.int(30), batchSize: 40, maxMs: 0 }), foldSettledJobs(sql), foldSettledJobs(sql, 7)]),
	deleteByHand: async (sql, rand) => {
		const ids = await someIds(sql, 'true', rand, 1 + rand.int(8));
		await sql`delete from public.job_queue where id = any (${ids}::uuid[])`;
	},
	editByHand: async (sql, rand) => {
		const [id] = await someIds(sql, "status in ('completed', 'failed', 'cancelled')", rand, 1);
		if (!id) return;
		const edits = [
			sql`update public.job_queue set started_at = started_at - interval '3.5 seconds' where id = ${id}`,
			sql`update public.job_queue set created_at = created_at - interval '40 days' where id = ${id}`,
			sql`update public.job_queue set created_at = now() where id = ${id}`,
			sql`update public.job_queue set job_type = ${rand.pick(TYPES)}, status = ${rand.pick(SETTLED)} where id = ${id}`,
			sql`update public.job_queue set completed_at = null where id = ${id}`,
			sql`update public.job_queue set completed_at = now() where id = ${id}`,
			sql`update public.job_queue set error_message = 'edited' where id = ${id}`,
			sql`update public.job_queue set payload = jsonb_build_object('model_id', ${rand.pick(MODELS)}::text) where id = ${id}`
		];
		await rand.pick(edits);
	},
	settleLateByHand: async (sql, rand) => {
		const ids = await someIds(sql, "status = 'pending'", rand, 2);
		await sql`
			update public.job_queue set status = ${rand.pick(SETTLED)}, started_at = created_at, completed_at = created_at + interval '2 seconds'
			where id = any (${ids}::uuid[])`;
	},
	importHistory: (sql, rand) => insertHistory(sql, rand, 1 + rand.int(20)),
	live: (sql, rand) => runLive(sql, rand, 1 + rand.int(5)),
	deleteUser: async (sql, rand) => {
		const user = rand.pick(users);
		await sql`delete from auth.users where id = ${user.id}`;
		users = users.filter((u) => u !== user);
		users.push(await createUser(q.sql));
	}
};

describe('queue_health', () => {
	test.each([1, 2, 3, 4])('answers what the plain query answers over a random history (seed %i)', async (seed) => {
		const rand = prng(seed);
		await insertHistory(q.sql, rand, 600);
		await expectExact(q.sql, 'before any fold');
		await foldAll(q.sql);
		const [totals] = await q.sql<{ n: number }[]>`select coalesce(sum(jobs), 0)::int as n from public.job_queue_settled_totals`;
		expect(totals!.n).toBeGreaterThan(400); // the history is folded, not read live
		await expectExact(q.sql, 'after folding');
		await expectHistoryExact(q.sql, 'after folding');
		const names = Object.keys(STEPS);
		for (let step = 0; step < 60; step++) {
			const name = rand.pick(names);
			await STEPS[name]!(q.sql, rand);
			await expectExact(q.sql, `seed ${seed}, step ${step}: ${name}`);
			await expectHistoryExact(q.sql, `seed ${seed}, step ${step}: ${name}`);
		}
	});

	test('a purge of everything, and a truncate, leave no totals behind', async () => {
		const rand = prng(9);
		await insertHistory(q.sql, rand, 300);
		await foldAll(q.sql);
		await purgeFinishedJobs(q.sql, { olderThanDays: 0, batchSize: 100_000 });
		await expectExact(q.sql, 'after purging all');
		const [left] = await q.sql<{ n: number }[]>`
			select ((select count(*) from public.job_queue_settled_totals) + (select count(*) from public.job_queue_settled_hourly))::int as n`;
		expect(left!.n).toBe(0);
		await insertHistory(q.sql, rand, 100);
		await foldAll(q.sql);
		await q.sql`truncate public.job_queue cascade`;
		const [after] = await q.sql<{ n: number }[]>`
			select ((select count(*) from public.job_queue_settled_totals) + (select count(*) from public.job_queue_settled_hourly))::int as n`;
		expect(after!.n).toBe(0);
		await expectExact(q.sql, 'after truncate');
	});

	test('the watermark does not pass a write still in flight, so the row is neither lost nor counted twice', async () => {
		await insertHistory(q.sql, prng(5), 50);
		await foldAll(q.sql);
		const [job] = await q.sql<{ id: string }[]>`
			insert into public.job_queue (job_type, status, created_by) values ('generate-image', 'processing', ${users[0]!.id}) returning id`;
		const writer = await q.sql.reserve();
		try {
			await writer`begin`;
			// Settled 4.99 s in the past: within the trigger's 5 s, so no trigger sees it; only the fold's wait can.
			const [written] = await writer<{ at: Date }[]>`
				update public.job_queue set status = 'completed', started_at = clock_timestamp() - interval '6 seconds',
				       completed_at = clock_timestamp() - interval '4.99 seconds'
				where id = ${job!.id} returning completed_at as at`;
			// A candidate recorded after the write, late enough that W = candidate - 5 s would pass it (a
			// candidate dropped is only re-recorded later: never unsafe).
			await eventually(async () => {
				await q.sql`update public.job_queue_fold_state set candidate_at = null, candidate_xmax = null`;
				await foldSettledJobs(q.sql);
				const [state] = await q.sql<{ ok: boolean }[]>`
					select candidate_at - interval '5 seconds' > ${written!.at} as ok from public.job_queue_fold_state`;
				return state!.ok;
			});
			for (let i = 0; i < 3; i++) await foldSettledJobs(q.sql);
			expect((await folded(q.sql)).getTime()).toBeLessThan(written!.at.getTime());
			await expectExact(q.sql, 'writer open');
			await writer`commit`;
		} finally {
			await writer`rollback`;
			writer.release();
		}
		await expectExact(q.sql, 'writer committed, not folded yet');
		await foldAll(q.sql);
		expect((await folded(q.sql)).getTime()).toBeGreaterThanOrEqual((await q.sql<{ at: Date }[]>`
			select completed_at as at from public.job_queue where id = ${job!.id}`)[0]!.at.getTime());
		await expectExact(q.sql, 'after the fold passed it');
	});

	test('a retry waits for a fold holding the watermark, and then subtracts what the fold added', async () => {
		const rand = prng(11);
		await insertHistory(q.sql, rand, 400);
		await foldSettledJobs(q.sql); // records a candidate; the held fold below spends it
		const ids = await someIds(q.sql, "status = 'failed'", rand, 10);
		const fold = await q.sql.reserve();
		try {
			await fold`begin`;
			const [moved] = await fold<{ n: number }[]>`select public.fold_settled_jobs() as n`;
			expect(moved!.n).toBeGreaterThan(0);
			const retry = retryJobs(q.sql, ids);
			await eventually(async () => {
				const [waiting] = await q.sql<{ n: number }[]>`
					select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%retry_jobs%'`;
				return waiting!.n > 0;
			});
			// A second fold meanwhile skips (the state is held) rather than queueing behind.
			expect(await foldSettledJobs(q.sql)).toBe(0);
			await fold`commit`;
			expect(await retry).toBeGreaterThan(0);
		} finally {
			await fold`rollback`;
			fold.release();
		}
		await expectExact(q.sql, 'after the retry behind the fold');
	});
});

describe('the queue hot path', () => {
	test('claims, completions, failures with retries left, final failures and cancels call no trigger', async () => {
		const calls = await q.sql.begin(async (tx) => {
			await tx`set local track_functions = 'all'`;
			for (let i = 0; i < 4; i++) await enqueueJob(tx, 'generate-image', { createdBy: users[0]!.id, maxAttempts: 2 });
			const jobs = await claimJobs(tx, { workerId: 'w', limit: 4 });
			const claims = jobs.map((j) => ({ jobId: j.id, workerId: 'w', claimCount: j.claim_count }));
			await completeJob(tx, claims[0]!);
			await failJob(tx, claims[1]!, { message: 'again' });
			await failJob(tx, claims[2]!, { message: 'no', permanent: true });
			await tx`select public.cancel_job(${claims[3]!.jobId})`;
			const [hot] = await tx<{ n: number | null }[]>`
				select pg_stat_get_xact_function_calls('public.track_settled_job_change'::regproc)::int as n`;
			// The contrast: an operator's retry of the failed job is the rare transition the trigger is for.
			await retryJob(tx, claims[2]!.jobId);
			const [rare] = await tx<{ n: number | null }[]>`
				select pg_stat_get_xact_function_calls('public.track_settled_job_change'::regproc)::int as n`;
			return { hot: hot!.n ?? 0, rare: rare!.n ?? 0 };
		});
		expect(calls).toEqual({ hot: 0, rare: 1 });
	});
});

describe('who may read and fold', () => {
	async function as<T>(role: string, fn: (tx: Sql) => Promise<T>, claims?: JwtClaims): Promise<T> {
		return q.sql.begin(async (tx) => {
			if (claims) await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
			await tx`select set_config('role', ${role}, true)`;
			return fn(tx as unknown as Sql);
		}) as Promise<T>;
	}

	beforeEach(async () => {
		await insertHistory(q.sql, prng(21), 100);
		await foldAll(q.sql);
	});

	test('anon reads neither the view nor its totals, and cannot fold', async () => {
		for (const statement of ['select * from public.queue_health', 'select * from public.job_queue_settled_totals',
			'select * from public.job_queue_fold_state', 'select public.fold_settled_jobs()']) {
			expect((await rejection(as('anon', (tx) => tx.unsafe(statement)))).code, statement).toBe('42501');
		}
	});

	test("a signed-in user reads only their own jobs' totals and can change neither them nor the watermark", async () => {
		const alice = users[0]!;
		const rows = await as('authenticated', (tx) => tx<{ created_by: string | null }[]>`select created_by from public.job_queue_settled_totals`, alice.claims);
		expect(rows.length).toBeGreaterThan(0);
		expect(rows.every((r) => r.created_by === alice.id)).toBe(true);
		for (const statement of [
			`update public.job_queue_settled_totals set jobs = jobs + 1`,
			`insert into public.job_queue_settled_totals (job_type, status, jobs, durations, oldest_created_at, newest_created_at) values ('x', 'failed', 1, 0, now(), now())`,
			`update public.job_queue_fold_state set folded_through = 'infinity'`,
			`select public.fold_settled_jobs()`,
			`select public.subtract_settled_totals('x', 'failed', null, 1, null, 0, now(), now(), now())`
		]) {
			expect((await rejection(as('authenticated', (tx) => tx.unsafe(statement), alice.claims))).code, statement).toBe('42501');
		}
	});

	test('service_role folds, and its answer is the whole queue', async () => {
		await insertHistory(q.sql, prng(22), 50);
		await as('service_role', async (tx) => {
			await tx`select public.fold_settled_jobs()`;
		});
		await expectExact(q.sql, 'after a service_role fold');
	});

	test('a fold outside read committed is refused (its steps must each see what committed before)', async () => {
		const error = await rejection(q.sql.begin('isolation level repeatable read', (tx) => tx`select public.fold_settled_jobs()`));
		expect(error.code).toBe('25000');
	});
});
