// The overview's queries on jobs seeded with chosen timestamps, and the page's load and live refresh.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
	cachedHourlyStats,
	cachedModelTimes,
	consoleOverview,
	hourlyStats,
	lastWorkerRun,
	loadOverview,
	modelTimes,
	queueCounts,
	queueNow
} from '$lib/server/console/overview';
import type { Services } from '$lib/server/runtime';
import { load } from '$routes/admin/+page.server';
import { GET as overviewJson } from '$routes/admin/overview/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { adminAccess, call, signedInUser } from '../../support/routes';
import { eventually, testServices } from '../../support/services';
import { emptyTables, seedGenerations, seedJobs, seedWorkerRun } from '../../support/console-seed';
import { ReadCache } from '$lib/server/read-cache';

let db: TestDatabase;
let services: Services;
const access = adminAccess();
beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
});
afterAll(() => db.drop());
beforeEach(() => emptyTables(db.sql));

/** Seconds since the current UTC hour began, by the database's clock. */
async function intoHour(): Promise<number> {
	const [row] = await db.sql<{ s: number }[]>`select date_part('epoch', now() - date_trunc('hour', now(), 'UTC')) as s`;
	return row!.s;
}

describe('an empty queue', () => {
	test('zeros, 24 empty hours ending with the current one, no models, no worker', async () => {
		const overview = await loadOverview(access, db.sql, { cacheMaxAgeMs: 0 });
		expect(overview.now).toEqual({
			pending: 0,
			processing: 0,
			oldest_pending_seconds: null,
			completed_24h: 0,
			failed_24h: 0,
			avg_duration_seconds: null,
			p95_duration_seconds: null
		});
		expect(overview.counts).toEqual([]);
		expect(overview.hourly).toHaveLength(24);
		expect(overview.hourly.every((p) => p.total === 0 && p.avg_duration_seconds === null)).toBe(true);
		const [current] = await db.sql<{ hour: Date }[]>`select date_trunc('hour', now(), 'UTC') as hour`;
		expect(overview.hourly.at(-1)!.hour.getTime()).toBe(current!.hour.getTime());
		expect(overview.hourly[0]!.hour.getTime()).toBe(current!.hour.getTime() - 23 * 3600_000);
		expect(overview.models).toEqual([]);
		expect(overview.lastWorkerRun).toBeNull();
	});
});

describe('on seeded jobs', () => {
	test('live counts, the oldest due wait, and 24-hour run times with p95', async () => {
		await seedJobs(db.sql, { status: 'pending', scheduledAgo: 120 });
		await seedJobs(db.sql, { status: 'pending', scheduledAgo: 30 });
		await seedJobs(db.sql, { status: 'pending', createdAgo: 5000, scheduledAgo: -60 }); // in backoff: not due, not "waiting"
		await seedJobs(db.sql, { status: 'processing', count: 2 });
		for (let run = 1; run <= 10; run++) await seedJobs(db.sql, { status: 'completed', completedAgo: 1800, runSeconds: run });
		await seedJobs(db.sql, { status: 'completed', completedAgo: 30 * 3600, runSeconds: 500 }); // older than 24 h
		await seedJobs(db.sql, { status: 'failed', completedAgo: 600, runSeconds: 3 });
		await seedJobs(db.sql, { status: 'cancelled', completedAgo: 600 });

		const now = await queueNow(access, db.sql);
		expect(now).toMatchObject({ pending: 3, processing: 2, completed_24h: 10, failed_24h: 1 });
		expect(now.oldest_pending_seconds).toBeGreaterThanOrEqual(120);
		expect(now.oldest_pending_seconds).toBeLessThan(125);
		expect(now.avg_duration_seconds).toBeCloseTo(5.5, 6);
		expect(now.p95_duration_seconds).toBeCloseTo(9.55, 6); // percentile_cont(0.95) of 1..10
	});

	test("counts per type and status in queue_health's shape: live ones all, finished ones of the last 24 hours", async () => {
		await seedJobs(db.sql, { status: 'pending', count: 2, createdAgo: 40 * 3600 });
		await seedJobs(db.sql, { job_type: 'send-email', status: 'processing' });
		await seedJobs(db.sql, { status: 'completed', completedAgo: 60, runSeconds: 2, count: 3 });
		await seedJobs(db.sql, { status: 'completed', completedAgo: 25 * 3600, runSeconds: 2, count: 4 });
		await seedJobs(db.sql, { job_type: 'send-email', status: 'failed', completedAgo: 60 });

		const counts = await queueCounts(access, db.sql);
		expect(counts.map(({ job_type, status, count }) => [job_type, status, count])).toEqual([
			['generate-image', 'completed', 3],
			['generate-image', 'pending', 2],
			['send-email', 'failed', 1],
			['send-email', 'processing', 1]
		]);
		expect(counts[0]!.avg_duration_seconds).toBeCloseTo(2, 3);
		expect(counts[1]!.oldest_created_at).toBeInstanceOf(Date);
	});

	test('jobs per hour by creation time (empty hours included), run time per hour by completion', async () => {
		const s = await intoHour();
		const threeHoursBack = s + 3 * 3600 - 600; // ten minutes into the hour three hours back
		await seedJobs(db.sql, { status: 'completed', createdAgo: threeHoursBack, completedAgo: threeHoursBack - 10, runSeconds: 2 });
		await seedJobs(db.sql, { status: 'completed', createdAgo: threeHoursBack, completedAgo: threeHoursBack - 10, runSeconds: 4 });
		await seedJobs(db.sql, { status: 'failed', createdAgo: threeHoursBack, completedAgo: threeHoursBack - 10, runSeconds: 1 });
		await seedJobs(db.sql, { status: 'pending', createdAgo: threeHoursBack });
		await seedJobs(db.sql, { status: 'completed', createdAgo: s + 30 * 3600, completedAgo: s + 30 * 3600 - 5 }); // before the window

		const hourly = await hourlyStats(access, db.sql);
		expect(hourly).toHaveLength(24);
		const bucket = hourly[hourly.length - 1 - 3]!;
		expect(bucket).toMatchObject({ total: 4, completed: 2, failed: 1 });
		expect(bucket.avg_duration_seconds).toBeCloseTo(3, 6);
		expect(bucket.p95_duration_seconds).toBeCloseTo(3.9, 6);
		const others = hourly.filter((p) => p !== bucket);
		expect(others.every((p) => p.total === 0 && p.p95_duration_seconds === null)).toBe(true);
	});

	test("time to image per model over 7 days, in the seed's 6.4 shape, leaving out pictures a retry delayed", async () => {
		await seedGenerations(db.sql, { model: 'local/preview', createdAgo: 100, completedAgo: 96 });
		await seedGenerations(db.sql, { model: 'local/preview', createdAgo: 100, completedAgo: 94 });
		await seedGenerations(db.sql, { model: 'local/detailed', createdAgo: 100, completedAgo: 40 });
		await seedGenerations(db.sql, { model: 'local/detailed', createdAgo: 8 * 86400, completedAgo: 8 * 86400 - 999 });
		await seedGenerations(db.sql, { model: 'local/detailed', createdAgo: 100, completedAgo: 1, status: 'failed' });
		// Cancelled and retried by an operator an hour later: two minutes of clock, but not two minutes of waiting for a picture.
		await seedGenerations(db.sql, { model: 'local/preview', createdAgo: 3700, completedAgo: 90, retriedAgo: 95 });

		expect(await modelTimes(access, db.sql)).toEqual([
			{ model: 'local/detailed', total_generations: 1, avg_time_seconds: 60, min_time_seconds: 60, max_time_seconds: 60 },
			{ model: 'local/preview', total_generations: 2, avg_time_seconds: 5, min_time_seconds: 4, max_time_seconds: 6 }
		]);
	});

	test('the slow series are served from memory while fresh, recomputed in the background when stale', async () => {
		const cache = new ReadCache();
		expect(await cachedModelTimes(access, db.sql, cache, 60_000)).toEqual([]);
		const hourly = await cachedHourlyStats(access, db.sql, cache, 60_000);
		await seedJobs(db.sql, { status: 'completed', model: 'local/preview', createdAgo: 10, completedAgo: 0 });
		await seedGenerations(db.sql, { model: 'local/preview', createdAgo: 10, completedAgo: 0 });
		expect(await cachedModelTimes(access, db.sql, cache, 60_000)).toEqual([]); // fresh: the remembered answer
		expect(await cachedHourlyStats(access, db.sql, cache, 60_000)).toBe(hourly);
		expect(await cachedModelTimes(access, db.sql, cache, 1)).toEqual([]); // stale: still the old answer, recomputing meanwhile
		const recomputed = await eventually(async () => {
			const value = await cachedModelTimes(access, db.sql, cache, 60_000);
			return value.length > 0 && value;
		});
		expect(recomputed).toMatchObject([{ model: 'local/preview', total_generations: 1 }]);
		const afresh = await cachedHourlyStats(access, db.sql, cache, 0); // 0: always computed afresh
		expect(afresh.reduce((sum, p) => sum + p.completed, 0)).toBe(1);
	});

	test('the last worker run is the one seen most recently', async () => {
		await seedWorkerRun(db.sql, 300, 'cron');
		await seedWorkerRun(db.sql, 20, 'continuous');
		const run = await lastWorkerRun(access, db.sql);
		expect(run).toMatchObject({ trigger: 'continuous', finished_at: null });
		expect(run!.seen_seconds_ago).toBeGreaterThanOrEqual(20);
		expect(run!.seen_seconds_ago).toBeLessThan(25);
	});
});

describe('the page and its live refresh', () => {
	test('the load and /admin/overview answer the same plain-JSON overview, alerts included', async () => {
		await seedJobs(db.sql, { status: 'processing', leaseLeft: -5 }); // a stuck job
		await seedWorkerRun(db.sql, 5);
		const admin = await signedInUser(services, { admin: true });
		const loaded = (await load({ locals: { services, user: admin.user }, url: new URL('http://localhost/admin') } as never)) as { overview: Awaited<ReturnType<typeof consoleOverview>> };
		expect(loaded.overview.now.processing).toBe(1);
		expect(loaded.overview.alerts.map((a) => a.key)).toEqual(['stuck_jobs']);
		expect(typeof loaded.overview.generatedAt).toBe('string');
		expect(typeof loaded.overview.hourly[0]!.hour).toBe('string');

		const response = await call(overviewJson as never, services, { path: '/admin/overview', user: admin.user });
		expect(response.status).toBe(200);
		expect(response.headers.get('cache-control')).toBe('no-store');
		const body = await response.json();
		expect(Object.keys(body).sort()).toEqual(Object.keys(loaded.overview).sort());
		expect(body.alerts[0]).toMatchObject({ key: 'stuck_jobs', href: '/admin/stuck' });
		expect(body.thresholds).toEqual({ pendingMax: 100, failureRate: 0.1, noCompletionSeconds: 300, noWorkerSeconds: 120 });
	});
});
