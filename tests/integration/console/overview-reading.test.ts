// The overview reads the last day of settled jobs once (readQueue) where it read it three times. Its
// numbers must be exactly those of the three queries it replaced, kept here as the definitions: on a
// randomised history (every status, several types, run times with ties and without a start, jobs
// around the 24-hour and hour boundaries, some folded by 0038's watermark), in one transaction so
// that both read the same now().
import { afterAll, beforeAll, expect, test } from 'vitest';
import { hourlyStats, queueCounts, queueNow, readQueue } from '$lib/server/console/overview';
import type { Queryable } from '$lib/server/db/client';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { adminAccess } from '../../support/routes';
import { seededRandom } from '../../support/random';

const access = adminAccess();
let db: TestDatabase;

const SEED = Number(process.env.OVERVIEW_SEED ?? Date.now() % 100_000);

/** The definitions before the merge (console/overview.ts until 0039's change): counts, now, hourly run times. */
const OLD = {
	counts: (sql: Queryable) => sql`
		with live as (
			select job_type, status, completed_at, started_at, created_at from public.job_queue where status = 'pending'
			union all
			select job_type, status, completed_at, started_at, created_at from public.job_queue where status = 'processing'
			union all
			select job_type, status, completed_at, started_at, created_at from public.job_queue
			where status in ('completed', 'failed', 'cancelled') and completed_at > now() - interval '24 hours'
		)
		select job_type, status, count(*)::int as count,
		       round(avg(date_part('epoch', completed_at - started_at))::numeric, 3)::float8 as avg_duration_seconds,
		       min(created_at) as oldest_created_at, max(created_at) as newest_created_at
		from live group by job_type, status order by job_type, status`,
	now: (sql: Queryable) => sql`
		select
			(select count(*)::int from public.job_queue where status = 'pending') as pending,
			(select count(*)::int from public.job_queue where status = 'processing') as processing,
			(select date_part('epoch', now() - min(scheduled_at)) from public.job_queue
			  where status = 'pending' and scheduled_at <= now()) as oldest_pending_seconds,
			d.completed_24h, d.failed_24h, d.avg_duration_seconds, d.p95_duration_seconds
		from (
			select count(*) filter (where status = 'completed')::int as completed_24h,
			       count(*) filter (where status = 'failed')::int as failed_24h,
			       avg(run_seconds) filter (where status = 'completed')::float8 as avg_duration_seconds,
			       (percentile_cont(0.95) within group (order by run_seconds) filter (where status = 'completed'))::float8
			         as p95_duration_seconds
			from (
				select status, date_part('epoch', completed_at - started_at) as run_seconds from public.job_queue
				where status in ('completed', 'failed', 'cancelled') and completed_at > now() - interval '24 hours'
			) finished
		) d`,
	hours: (sql: Queryable) => sql<{ hour: Date; avg_duration_seconds: number | null; p95_duration_seconds: number | null }[]>`
		select to_timestamp(h * 3600) as hour, avg(run_seconds)::float8 as avg_duration_seconds,
		       (percentile_cont(0.95) within group (order by run_seconds))::float8 as p95_duration_seconds
		from (
			select floor(date_part('epoch', completed_at) / 3600)::int as h, date_part('epoch', completed_at - started_at) as run_seconds
			from public.job_queue
			where status = 'completed' and completed_at >= date_trunc('hour', now(), 'UTC') - interval '23 hours'
		) done
		group by h`
};

beforeAll(async () => {
	db = await createTestDatabase();
	const { next, pick } = seededRandom(SEED);
	const jobs = Array.from({ length: 1500 }, () => {
		const status = pick(['completed', 'completed', 'completed', 'failed', 'cancelled', 'pending', 'processing'] as const);
		// Seconds ago the job settled: mostly inside the day, some just either side of 24 h, some on the hour.
		const settledAgo = pick([() => next() * 90_000, () => 86_400 + (next() - 0.5) * 4, () => Math.round(next() * 30) * 3600]);
		const run = pick([() => 2.5, () => Math.round(next() * 40_000) / 1000, () => null]);
		return {
			job_type: pick(['generate-image', 'upscale-image', 'send-email', 'cleanup-storage']),
			status,
			settled_ago: status === 'pending' || status === 'processing' ? null : settledAgo(),
			run_seconds: status === 'pending' ? null : run(),
			created_extra: Math.round(next() * 600),
			scheduled_ahead: status === 'pending' ? pick([-30, -5, 0, 60]) : 0
		};
	});
	await db.sql`
		insert into job_queue (job_type, status, attempts, created_at, scheduled_at, started_at, completed_at, locked_by, locked_until)
		select r.job_type, r.status, case when r.status = 'pending' then 0 else 1 end, c.created, c.created + make_interval(secs => r.scheduled_ahead),
		       case when r.run_seconds is null then null
		            else coalesce(c.completed, now()) - make_interval(secs => r.run_seconds) end,
		       c.completed,
		       case when r.status = 'processing' then 'w' end, case when r.status = 'processing' then now() + interval '30 seconds' end
		from jsonb_to_recordset(${db.sql.json(jobs)}::jsonb)
		     as r(job_type text, status text, settled_ago float8, run_seconds float8, created_extra int, scheduled_ahead int),
		     lateral (select case when r.settled_ago is null then null else now() - make_interval(secs => r.settled_ago) end as completed) s,
		     lateral (select coalesce(s.completed, now()) - make_interval(secs => coalesce(r.run_seconds, 0) + r.created_extra) as created,
		                     s.completed) c`;
	// Fold part of the history (0038), as the workers do: the overview reads job_queue, not the folds.
	for (let i = 0; i < 3; i++) await db.sql`select public.fold_settled_jobs(100000)`;
	await db.sql`analyze job_queue`;
}, 120_000);
afterAll(() => db.drop());

test(`one reading of the day gives the three old queries' numbers exactly (seed ${SEED})`, async () => {
	await db.sql.begin(async (tx) => {
		const reading = await readQueue(access, tx);
		const [oldNow] = await OLD.now(tx);
		expect(reading.now).toEqual(oldNow);
		expect(reading.counts).toEqual(await OLD.counts(tx));
		const byHour = (rows: { hour: Date }[]) => [...rows].sort((a, b) => a.hour.getTime() - b.hour.getTime());
		expect(byHour(reading.hours)).toEqual(byHour(await OLD.hours(tx)));
		expect(reading.hours.length).toBeGreaterThan(10);
		expect(reading.counts.filter((row) => ['completed', 'failed', 'cancelled'].includes(row.status)).length).toBeGreaterThan(8);

		// The exported readers are the same reading, cut up.
		expect(await queueNow(access, tx)).toEqual(reading.now);
		expect(await queueCounts(access, tx)).toEqual(reading.counts);
		const hourly = await hourlyStats(access, tx);
		const old = new Map((await OLD.hours(tx)).map((row) => [row.hour.getTime(), row]));
		for (const point of hourly) {
			const before = old.get(point.hour.getTime());
			expect([point.avg_duration_seconds, point.p95_duration_seconds]).toEqual([before?.avg_duration_seconds ?? null, before?.p95_duration_seconds ?? null]);
		}
	});
});
