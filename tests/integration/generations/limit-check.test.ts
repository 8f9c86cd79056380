// The start's limit check (0041): may_start_generation must answer exactly what get_user_limits'
// can_generate answers, for any limits and any history, while reading no more of the history than
// the daily limit. A start that is refused still answers with get_user_limits' whole body.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Sql } from '$lib/server/db/client';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
import { seededRandom } from '../../support/random';
import { tableRowsRead } from '../../support/table-reads';

let db: TestDatabase;
let user: string;

beforeAll(async () => {
	db = await createTestDatabase({ max: 20 });
	user = (await createUser(db.sql)).id;
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from generation_usage`;
	await db.sql`delete from image_generations`;
	await db.sql`delete from job_queue`;
	await db.sql`delete from user_limits`;
});

/** Both answers in one statement, so they share one now() and one snapshot. */
async function answers(sql: Sql, id = user) {
	const [row] = await sql<{ lean: boolean; full: boolean }[]>`
		select may_start_generation(${id}) as lean, (get_user_limits(${id}) ->> 'can_generate')::boolean as full`;
	return row!;
}

/** Usage rows at the given ages (seconds before this transaction's now()), refunded or not. */
async function addUsage(sql: Sql, id: string, rows: { ageSeconds: number; refunded: boolean }[]) {
	if (rows.length === 0) return;
	await sql`
		insert into generation_usage (generation_id, user_id, created_at, refunded_at)
		select gen_random_uuid(), ${id}::uuid, now() - make_interval(secs => r.age), case when r.refunded then now() end
		from jsonb_to_recordset(${sql.json(rows.map((r) => ({ age: r.ageSeconds, refunded: r.refunded })))}) as r(age float8, refunded boolean)`;
}

describe('may_start_generation answers what get_user_limits answers', () => {
	test('over random limits and histories, including the window edges, limits of 0 and refunds', async () => {
		const HOUR = 3600;
		const DAY = 86400;
		let compared = 0;
		let refused = 0;
		for (let seed = 1; seed <= 60; seed++) {
			const rnd = seededRandom(seed);
			const int = (n: number) => Math.floor(rnd.next() * n);
			const result = await db.sql.begin(async (tx) => {
				const limits = rnd.pick(['none', 'hourly', 'daily', 'both', 'zero'] as const);
				if (limits !== 'none') {
					const hourly = limits === 'zero' ? rnd.pick([0, 3]) : limits === 'daily' ? null : int(8);
					const daily = limits === 'zero' ? rnd.pick([0, 5]) : limits === 'hourly' ? null : int(15);
					await tx`insert into user_limits (user_id, hourly_limit, daily_limit) values (${user}, ${hourly}, ${daily})`;
				}
				// Ages spread over two days, with rows exactly on and beside both edges of the window.
				const edges = [HOUR, DAY, HOUR - 0.001, HOUR + 0.001, DAY - 0.001, DAY + 0.001, 0];
				const rows = Array.from({ length: int(40) }, () => ({
					ageSeconds: rnd.next() < 0.3 ? rnd.pick(edges) : rnd.next() * 2 * DAY,
					refunded: rnd.next() < 0.2
				}));
				await addUsage(tx as unknown as Sql, user, rows);
				return answers(tx as unknown as Sql);
			});
			expect(result.lean, `seed ${seed}`).toBe(result.full);
			compared++;
			if (!result.full) refused++;
			await db.sql`delete from generation_usage`;
			await db.sql`delete from user_limits`;
		}
		expect(compared).toBe(60);
		// The seeds reach both answers, so the comparison means something either way.
		expect(refused).toBeGreaterThan(10);
		expect(compared - refused).toBeGreaterThan(10);
	});

	test('at the daily limit exactly, one under it, and with the hour full but the day not', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${user}, 4, 10)`;
		// Nine uses of the day outside the hour, then the tenth inside it: at the daily limit.
		await addUsage(db.sql, user, Array.from({ length: 9 }, (_, i) => ({ ageSeconds: 7200 + i, refunded: false })));
		expect(await answers(db.sql)).toEqual({ lean: true, full: true });
		await addUsage(db.sql, user, [{ ageSeconds: 10, refunded: false }]);
		expect(await answers(db.sql)).toEqual({ lean: false, full: false });
		// A refund frees the slot again; many refunded rows do not count against it.
		await db.sql`update generation_usage set refunded_at = now() where created_at > now() - interval '1 minute'`;
		await addUsage(db.sql, user, Array.from({ length: 30 }, () => ({ ageSeconds: 5, refunded: true })));
		expect(await answers(db.sql)).toEqual({ lean: true, full: true });

		await db.sql`delete from generation_usage`;
		await addUsage(db.sql, user, Array.from({ length: 4 }, (_, i) => ({ ageSeconds: 60 + i, refunded: false })));
		expect(await answers(db.sql)).toEqual({ lean: false, full: false });
	});

	test('with a budget set, the money decides as in get_user_limits', async () => {
		await db.sql`update models set cost_per_second = 0.01 where id = 'local/preview'`;
		try {
			await db.sql`insert into user_limits (user_id, monthly_budget_usd) values (${user}, 0.15)`;
			const start = (n: number) => db.sql`
				select public.start_generation(${user}, ${`budget ${n}`}, 'local/preview', 256, 256, 1) ->> 'outcome' as outcome`;
			// The estimate with no history is the price x 10 s = $0.10: one start fits, the second does not.
			expect((await start(1))[0]!.outcome).toBe('created');
			expect(await answers(db.sql)).toEqual({ lean: true, full: true });
			expect((await start(2))[0]!.outcome).toBe('created');
			expect(await answers(db.sql)).toEqual({ lean: false, full: false });
			expect((await start(3))[0]!.outcome).toBe('rate_limited');
		} finally {
			await db.sql`update models set cost_per_second = null where id = 'local/preview'`;
		}
	});
});

describe('a start', () => {
	test('refused, answers with the whole of get_user_limits', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${user}, 2, 50)`;
		await addUsage(db.sql, user, [{ ageSeconds: 30, refunded: false }, { ageSeconds: 20, refunded: false }]);
		const [row] = await db.sql<{ r: { outcome: string; limits: Record<string, unknown> } }[]>`
			select public.start_generation(${user}, 'refused', 'local/preview', 256, 256, 1) as r`;
		expect(row!.r.outcome).toBe('rate_limited');
		const [full] = await db.sql<{ l: Record<string, unknown> }[]>`select get_user_limits(${user}) as l`;
		expect(row!.r.limits).toEqual(full!.l);
		expect(row!.r.limits).toMatchObject({ can_generate: false, hourly_used: 2, hourly_limit: 2, daily_used: 2 });
		expect(Number(row!.r.limits.retry_after_seconds)).toBeGreaterThan(3500);
	});

	test('30 concurrent starts of a user one short of the daily limit, with a long refunded history: exactly one is made', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${user}, 100, 20)`;
		await addUsage(db.sql, user, [
			...Array.from({ length: 19 }, (_, i) => ({ ageSeconds: 5000 + i, refunded: false })),
			...Array.from({ length: 200 }, (_, i) => ({ ageSeconds: 100 + i, refunded: true })),
			...Array.from({ length: 50 }, (_, i) => ({ ageSeconds: 90000 + i, refunded: false }))
		]);
		const outcomes = await Promise.all(
			Array.from({ length: 30 }, async (_, n) => {
				const [row] = await db.sql<{ outcome: string }[]>`
					select public.start_generation(${user}, ${`race ${n}`}, 'local/preview', 256, 256, 1) ->> 'outcome' as outcome`;
				return row!.outcome;
			})
		);
		expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
		expect(outcomes.filter((o) => o === 'rate_limited')).toHaveLength(29);
		expect((await db.sql`select 1 from image_generations where user_id = ${user}`).length).toBe(1);
	});

	test('reads no more of the day than the daily limit, however long the history', async () => {
		await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${user}, 1000, 100)`;
		await db.sql`
			insert into generation_usage (generation_id, user_id, created_at)
			select gen_random_uuid(), ${user}::uuid, now() - make_interval(secs => g) from generate_series(7200, 7200 + 9999) g`;
		await db.sql`analyze generation_usage`;
		const conn = await db.sql.reserve();
		try {
			const read = () => tableRowsRead(conn as unknown as Sql, 'generation_usage');
			// Once each first, so the session has planned both (planning probes the index's ends).
			await conn`select may_start_generation(${user}), get_user_limits(${user})`;
			await read();
			const before = await read();
			const [lean] = await conn<{ ok: boolean }[]>`select may_start_generation(${user}) as ok`;
			const leanRead = (await read()) - before;
			const [full] = await conn<{ ok: boolean }[]>`select (get_user_limits(${user}) ->> 'can_generate')::boolean as ok`;
			const fullRead = (await read()) - before - leanRead;
			expect(lean!.ok).toBe(false);
			expect(full!.ok).toBe(false);
			// 10,000 uses of the day against a limit of 100: the full reading counts them all.
			expect(fullRead).toBeGreaterThanOrEqual(10_000);
			// The limit's 100 entries, plus the few the planner reads at the index's end while it
			// still makes custom plans (the first five calls of a PL/pgSQL statement).
			expect(leanRead).toBeLessThan(150);
		} finally {
			conn.release();
		}
	});
});

describe('who may call it', () => {
	for (const role of ['anon', 'authenticated']) {
		test(`${role} may not call may_start_generation`, async () => {
			const attempt = db.sql.begin(async (tx) => {
				await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub: user, role })}, true)`;
				await tx`select set_config('role', ${role}, true)`;
				return tx`select may_start_generation(${user})`;
			});
			await expect(attempt).rejects.toMatchObject({ code: '42501' });
		});
	}
});
