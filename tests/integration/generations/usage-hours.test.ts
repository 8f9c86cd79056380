// The hourly counts behind the fast limit check (0042): whatever is done to generation_usage, in
// whatever order, by whoever, the counts of every hour a start still reads are never below the
// exact unrefunded uses, so the fast answer can only be a yes that the exact count also gives.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Sql } from '$lib/server/db/client';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
import { seededRandom } from '../../support/random';
import { tableRowsRead } from '../../support/table-reads';

let db: TestDatabase;
let users: string[];

beforeAll(async () => {
	db = await createTestDatabase({ max: 40 });
	users = [];
	for (let i = 0; i < 3; i++) users.push((await createUser(db.sql)).id);
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`truncate generation_usage`;
	await db.sql`delete from image_generations`;
	await db.sql`delete from job_queue`;
	await db.sql`delete from user_limits`;
});

/** For each user and window, the counted bound and the exact count, in one statement (one now()). */
async function bounds(sql: Sql) {
	return sql<{ user_id: string; hour_bound: number; hour_exact: number; day_bound: number; day_exact: number }[]>`
		select x.id as user_id,
		       (select coalesce(sum(uses), 0)::int from generation_usage_hours h
		        where h.user_id = x.id and h.hour >= usage_hour(now() - interval '1 hour')) as hour_bound,
		       (select count(*)::int from generation_usage u
		        where u.user_id = x.id and u.refunded_at is null and u.created_at > now() - interval '1 hour') as hour_exact,
		       (select coalesce(sum(uses), 0)::int from generation_usage_hours h
		        where h.user_id = x.id and h.hour >= usage_hour(now() - interval '1 day')) as day_bound,
		       (select count(*)::int from generation_usage u
		        where u.user_id = x.id and u.refunded_at is null and u.created_at > now() - interval '1 day') as day_exact
		from unnest(${users}::uuid[]) as x(id)`;
}

describe('the counts bound the uses from above', () => {
	test('under random inserts, refunds, charges again, moves in time and between users, deletes and truncates', async () => {
		const HOUR = 3600;
		let checks = 0;
		let tight = 0;
		for (let seed = 1; seed <= 25; seed++) {
			const rnd = seededRandom(seed);
			const age = () => (rnd.next() < 0.3 ? rnd.pick([HOUR, 86400, HOUR - 1, 86400 - 1, 0]) : rnd.next() * 3 * 86400);
			for (let step = 0; step < 12; step++) {
				const op = rnd.pick(['insert', 'insert', 'refund', 'charge', 'move', 'reassign', 'delete', 'truncate'] as const);
				const who = rnd.pick(users);
				if (op === 'insert') {
					const rows = Array.from({ length: 1 + Math.floor(rnd.next() * 8) }, () => ({ age: age(), refunded: rnd.next() < 0.2 }));
					await db.sql`
						insert into generation_usage (generation_id, user_id, created_at, refunded_at)
						select gen_random_uuid(), ${who}::uuid, now() - make_interval(secs => r.age), case when r.refunded then now() end
						from jsonb_to_recordset(${db.sql.json(rows)}) as r(age float8, refunded boolean)`;
				} else if (op === 'refund') {
					await db.sql`update generation_usage set refunded_at = now()
						where generation_id in (select generation_id from generation_usage where refunded_at is null order by random() limit 3)`;
				} else if (op === 'charge') {
					await db.sql`update generation_usage set refunded_at = null
						where generation_id in (select generation_id from generation_usage where refunded_at is not null order by random() limit 3)`;
				} else if (op === 'move') {
					await db.sql`update generation_usage set created_at = now() - make_interval(secs => ${age()})
						where generation_id in (select generation_id from generation_usage order by random() limit 3)`;
				} else if (op === 'reassign') {
					await db.sql`update generation_usage set user_id = ${who}
						where generation_id in (select generation_id from generation_usage order by random() limit 3)`;
				} else if (op === 'delete') {
					await db.sql`delete from generation_usage
						where generation_id in (select generation_id from generation_usage order by random() limit 3)`;
				} else if (rnd.next() < 0.3) {
					await db.sql`truncate generation_usage`;
				}
				for (const b of await bounds(db.sql)) {
					expect(b.hour_bound, `seed ${seed} step ${step} ${op}`).toBeGreaterThanOrEqual(b.hour_exact);
					expect(b.day_bound, `seed ${seed} step ${step} ${op}`).toBeGreaterThanOrEqual(b.day_exact);
					checks++;
					if (b.day_exact > 0 && b.day_bound === b.day_exact) tight++;
				}
			}
			await db.sql`truncate generation_usage`;
		}
		expect(checks).toBe(25 * 12 * 3);
		// Not a vacuous bound: often it is the exact count (refunds and the window's first hour,
		// counted whole, are what make it larger).
		expect(tight).toBeGreaterThan(20);
	});

	test('a truncate clears the counts, and a user deleted takes their counts along', async () => {
		const gone = (await createUser(db.sql)).id;
		await db.sql`insert into generation_usage (generation_id, user_id) values (gen_random_uuid(), ${gone}), (gen_random_uuid(), ${users[0]!})`;
		expect((await db.sql`select 1 from generation_usage_hours`).length).toBe(2);
		await db.sql`delete from auth.users where id = ${gone}`;
		expect((await db.sql`select 1 from generation_usage_hours where user_id = ${gone}`).length).toBe(0);
		await db.sql`truncate generation_usage`;
		expect((await db.sql`select 1 from generation_usage_hours`).length).toBe(0);
	});

	test('hours are UTC hours whatever the session time zone', async () => {
		const rows = await db.sql.begin(async (tx) => {
			await tx`set local time zone 'Asia/Kolkata'`;
			await tx`insert into generation_usage (generation_id, user_id, created_at)
				values (gen_random_uuid(), ${users[0]!}, '2026-12-04 10:59:59+00'), (gen_random_uuid(), ${users[0]!}, '2026-12-04 11:00:00+00')`;
			return tx<{ h: string }[]>`select to_char(hour at time zone 'UTC', 'HH24:MI') as h from generation_usage_hours
				where user_id = ${users[0]!} order by hour`;
		});
		// Both are older than two days by now only if the clock says so; then nothing is counted.
		const stale = (await db.sql<{ old: boolean }[]>`select timestamptz '2026-12-04 11:00+00' < now() - interval '2 days' as old`)[0]!.old;
		expect(rows.map((r) => r.h)).toEqual(stale ? [] : ['10:00', '11:00']);
	});
});

describe('the fast answer', () => {
	test('with a large limit and 10,000 uses today, a start reads no use at all', async () => {
		const [u] = users;
		await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${u!}, 1000000, 1000000)`;
		await db.sql`insert into generation_usage (generation_id, user_id, created_at)
			select gen_random_uuid(), ${u!}::uuid, now() - make_interval(secs => g) from generate_series(0, 9999) g`;
		await db.sql`analyze generation_usage`;
		const conn = await db.sql.reserve();
		try {
			const read = () => tableRowsRead(conn as unknown as Sql, 'generation_usage');
			await conn`select may_start_generation(${u!})`;
			await read();
			const before = await read();
			const [row] = await conn<{ ok: boolean }[]>`select may_start_generation(${u!}) as ok`;
			expect(row!.ok).toBe(true);
			expect((await read()) - before).toBe(0);
		} finally {
			conn.release();
		}
	});

	test('40 concurrent starts against an hourly limit of 5 with refunds racing them: exactly 5 are made', async () => {
		const [u] = users;
		await db.sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${u!}, 5, 100)`;
		// Three uses this hour, two of them refunded while the starts run: 5 - 1 = 4 ... 5 - 3 = 2 left.
		await db.sql`insert into generation_usage (generation_id, user_id, created_at)
			select gen_random_uuid(), ${u!}::uuid, now() - interval '10 minutes' from generate_series(1, 3)`;
		const refunds = db.sql`update generation_usage set refunded_at = now()
			where generation_id in (select generation_id from generation_usage where user_id = ${u!} limit 2)`;
		const starts = Array.from({ length: 40 }, async (_, n) => {
			const [row] = await db.sql<{ outcome: string }[]>`
				select public.start_generation(${u!}, ${`race ${n}`}, 'local/preview', 256, 256, 1) ->> 'outcome' as outcome`;
			return row!.outcome;
		});
		const [, ...outcomes] = await Promise.all([refunds, ...starts]);
		const made = outcomes.filter((o) => o === 'created').length;
		// However the refunds and the starts interleave, the hour never holds more than 5 uses.
		const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from generation_usage
			where user_id = ${u!} and refunded_at is null and created_at > now() - interval '1 hour'`;
		const n = row!.n;
		expect(n).toBeLessThanOrEqual(5);
		expect(made).toBeGreaterThanOrEqual(2);
		expect(made).toBeLessThanOrEqual(4);
		expect(made + 3 - 2).toBe(n);
	});
});

describe('who may touch the counts', () => {
	for (const role of ['anon', 'authenticated']) {
		for (const statement of [
			'select * from generation_usage_hours',
			`insert into generation_usage_hours (user_id, hour, uses) values ('00000000-0000-0000-0000-000000000000', now(), 1)`,
			'update generation_usage_hours set uses = 1',
			'delete from generation_usage_hours',
			'truncate generation_usage_hours'
		]) {
			test(`${role}: ${statement.split(' ').slice(0, 2).join(' ')} is refused`, async () => {
				const attempt = db.sql.begin(async (tx) => {
					await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub: users[0], role })}, true)`;
					await tx`select set_config('role', ${role}, true)`;
					return tx.unsafe(statement);
				});
				await expect(attempt).rejects.toMatchObject({ code: '42501' });
			});
		}
	}
});
