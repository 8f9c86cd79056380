// The fairness view and its alert on real rows: per-user queued/running/oldest wait from the active
// jobs, the median from recently finished ones, and the alert on and off around N x the median.
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { loadConfig } from '$lib/server/config';
import { evaluateAlerts } from '$lib/server/monitoring/alerts';
import { checkFairness, readFairness } from '$lib/server/monitoring/fairness';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
import { emptyTables, seedWorkerRun } from '../../support/console-seed';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase();
});
afterAll(() => db.drop());
beforeEach(() => emptyTables(db.sql));

const thresholds = loadConfig({}).alerts; // factor 5, at least 60 s

/** count jobs of a user: pending ones due `waited` seconds ago, or finished ones that waited `waited` s. */
async function jobs(userId: string | null, status: string, count: number, waited: number) {
	const finished = ['completed', 'failed', 'cancelled'].includes(status);
	await db.sql`
		insert into job_queue (job_type, status, created_by, created_at, scheduled_at, started_at, completed_at, locked_by, locked_until, attempts)
		select 'generate-image', ${status}, ${userId}, now() - make_interval(secs => ${waited + 20}), now() - make_interval(secs => ${waited + 20}),
		       case when ${status} <> 'pending' then now() - interval '20 seconds' end,
		       case when ${finished} then now() - interval '10 seconds' end,
		       case when ${status} = 'processing' then 'w' end, case when ${status} = 'processing' then now() + interval '30 seconds' end,
		       case when ${status} = 'pending' then 0 else 1 end
		from generate_series(1, ${count})`;
}

test('per user: queued, running and the oldest wait; the median from recent runs; the alert at N x the median', async () => {
	await seedWorkerRun(db.sql, 1, 'continuous');
	const heavy = await createUser(db.sql, 'heavy@example.test');
	const light = await createUser(db.sql, 'light@example.test');
	await jobs(null, 'completed', 50, 20); // recent runs waited 20 s between due and start
	await jobs(heavy.id, 'pending', 30, 100);
	await jobs(heavy.id, 'processing', 2, 0);
	await jobs(light.id, 'pending', 1, 150);

	const snapshot = await readFairness(db.sql);
	expect(snapshot.median_wait_seconds).toBeCloseTo(20, 0);
	expect(snapshot.users.map((u) => [u.email, u.queued, u.running])).toEqual([
		['light@example.test', 1, 0],
		['heavy@example.test', 30, 2]
	]);
	expect(snapshot.users[0]!.oldest_wait_seconds).toBeGreaterThanOrEqual(169);
	// 170 s > 5 x 20 s: firing, naming the user who waits.
	const check = checkFairness(snapshot, thresholds);
	expect(check).toMatchObject({ key: 'unfair_wait', firing: true, href: '/admin/costs#fairness' });
	expect(check.detail).toMatch(/^light@example.test's oldest queued job has waited 1[67]\d s; the median wait is 20 s \(alert above 100 s\)\.$/);
	// A factor of 10 puts the line at 200 s: quiet.
	expect(checkFairness(snapshot, { unfairWaitFactor: 10, unfairWaitMinSeconds: 60 }).firing).toBe(false);
	// The evaluation records it like every other alert.
	const evaluation = await evaluateAlerts(db.sql, { alerts: thresholds, publicBaseUrl: null });
	expect(evaluation.active.map((a) => a.key)).toContain('unfair_wait');
	const [state] = await db.sql`select active from alert_state where alert_key = 'unfair_wait'`;
	expect(state!.active).toBe(true);
});

test('quiet below the minimum wait, with nobody waiting, and before any job has run', async () => {
	const user = await createUser(db.sql, 'waiting@example.test');
	await jobs(user.id, 'pending', 1, 200);
	expect(checkFairness(await readFairness(db.sql), thresholds).firing).toBe(false); // no median yet
	await jobs(null, 'completed', 10, 0); // they started at once: median 0 s, so the minimum (300 s here) rules
	expect(checkFairness(await readFairness(db.sql), { unfairWaitFactor: 5, unfairWaitMinSeconds: 300 }).firing).toBe(false);
	await db.sql`delete from job_queue where status = 'pending'`;
	const empty = checkFairness(await readFairness(db.sql), thresholds);
	expect(empty).toMatchObject({ firing: false, detail: 'Nobody has a job waiting; the median wait is 0 s.' });
	// A job scheduled in the future is not waiting yet.
	await db.sql`insert into job_queue (job_type, status, created_by, scheduled_at) values ('generate-image', 'pending', ${user.id}, now() + interval '1 hour')`;
	const [row] = (await readFairness(db.sql)).users;
	expect(row).toMatchObject({ queued: 1, oldest_wait_seconds: null });
});
