// GET /api/metrics: who may read it, and that the answer is valid Prometheus text with the right numbers.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { ReadCache } from '$lib/server/read-cache';
import { DURATION_BUCKETS, escapeLabelValue, readMetrics, renderMetrics } from '$lib/server/monitoring/metrics';
import { createSql } from '$lib/server/db/client';
import type { Services } from '$lib/server/runtime';
import { GET } from '$routes/api/metrics/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { emptyTables, seedJobs, seedWorkerRun } from '../../support/console-seed';

const TOKEN = 'a-metrics-token-of-decent-length';
let db: TestDatabase;
let services: Services;
beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, {}, { METRICS_TOKEN: TOKEN });
});
afterAll(() => db.drop());
beforeEach(() => emptyTables(db.sql));

const scrape = (options: Parameters<typeof call>[2] = {}) => call(GET as never, services, { path: '/api/metrics', ...options });

interface Sample {
	name: string;
	labels: Record<string, string>;
	value: number;
}

/** A strict reader of the text format: every sample belongs to a family announced by HELP and TYPE. */
function parse(text: string) {
	expect(text.endsWith('\n')).toBe(true);
	const families = new Map<string, { help: string; type: string }>();
	const samples: Sample[] = [];
	for (const line of text.slice(0, -1).split('\n')) {
		const meta = /^# (HELP|TYPE) (\w+) (.*)$/.exec(line);
		if (meta) {
			const family = families.get(meta[2]!) ?? { help: '', type: '' };
			if (meta[1] === 'HELP') family.help = meta[3]!;
			else family.type = meta[3]!;
			families.set(meta[2]!, family);
			continue;
		}
		const sample = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
		expect(sample, `not a sample line: ${line}`).not.toBeNull();
		const labels: Record<string, string> = {};
		for (const [, key, raw] of (sample![2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"(?:,|$)/g)) {
			labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
		}
		const name = sample![1]!;
		const family = [...families.keys()].find((f) => name === f || (families.get(f)!.type === 'histogram' && /^_(bucket|sum|count)$/.test(name.slice(f.length))));
		expect(family, `${name} has no HELP/TYPE before it`).toBeDefined();
		samples.push({ name, labels, value: sample![3] === '+Inf' ? Infinity : Number(sample![3]) });
	}
	const value = (name: string, labels: Record<string, string> = {}) =>
		samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
	return { families, samples, value };
}

describe('access', () => {
	test('an admin session may read it, as Prometheus text', async () => {
		const admin = await signedInUser(services, { admin: true });
		const response = await scrape({ user: admin.user });
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
		expect(await response.text()).toContain('# TYPE picture_queue_jobs gauge');
	});

	test('a scraper with Authorization: Bearer METRICS_TOKEN may read it', async () => {
		const response = await scrape({ headers: { authorization: `Bearer ${TOKEN}` } });
		expect(response.status).toBe(200);
	});

	test.each([
		['no credentials', {}],
		['a wrong token', { authorization: `Bearer ${TOKEN}x` }],
		['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, 12)}` }],
		['the token without Bearer', { authorization: TOKEN }]
	])('401 with %s', async (_name, headers) => {
		const response = await scrape({ headers });
		expect(response.status).toBe(401);
		expect(response.headers.get('www-authenticate')).toBe('Bearer');
	});

	test('403 for a signed-in user who is not an admin; the token still works for anyone', async () => {
		const user = await signedInUser(services);
		expect((await scrape({ user: user.user })).status).toBe(403);
		expect((await scrape({ user: user.user, headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
	});

	test('without METRICS_TOKEN configured no bearer token is accepted', async () => {
		const open = await testServices(db);
		const response = await call(GET as never, open, { path: '/api/metrics', headers: { authorization: 'Bearer ' } });
		expect(response.status).toBe(401);
	});
});

describe('the exposition', () => {
	test('gauges, counters, a cumulative histogram and worker runs, from the table', async () => {
		await seedJobs(db.sql, { status: 'pending', count: 2, scheduledAgo: 42 });
		await seedJobs(db.sql, { status: 'processing' });
		await seedJobs(db.sql, { status: 'completed', runSeconds: 0.3, completedAgo: 10 });
		await seedJobs(db.sql, { status: 'completed', runSeconds: 2, completedAgo: 10 }); // exactly on a bound: counted in le="2"
		await seedJobs(db.sql, { status: 'completed', runSeconds: 45, completedAgo: 40 * 86400 }); // old, still retained
		await seedJobs(db.sql, { status: 'completed', runSeconds: 5000, completedAgo: 10 }); // beyond the last bound
		await seedJobs(db.sql, { status: 'failed', runSeconds: 1, completedAgo: 10 });
		await seedJobs(db.sql, { job_type: 'send-email', status: 'cancelled', completedAgo: 10 });
		await seedWorkerRun(db.sql, 7, 'cron');
		await seedWorkerRun(db.sql, 90, 'cron');
		await seedWorkerRun(db.sql, 30, 'manual');

		// A cache of its own: the watermark count is kept per Services, and this one has not counted yet.
		const sql = createSql(db.url, { max: 4 });
		const response = await call(GET as never, { ...services, sql, readCache: new ReadCache() }, { path: '/api/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
		await sql.end();
		const { families, value, samples } = parse(await response.text());
		expect(Object.fromEntries([...families].map(([name, f]) => [name, f.type]))).toEqual({
			picture_queue_jobs: 'gauge',
			picture_queue_oldest_pending_seconds: 'gauge',
			picture_jobs_completed_total: 'counter',
			picture_jobs_failed_total: 'counter',
			picture_job_duration_seconds: 'histogram',
			picture_worker_runs_total: 'counter',
			picture_worker_last_seen_seconds: 'gauge',
			picture_alert_active: 'gauge',
			process_resident_memory_bytes: 'gauge',
			nodejs_heap_size_used_bytes: 'gauge',
			picture_sse_subscribers: 'gauge'
		});
		expect([...families.values()].every((f) => f.help.length > 10)).toBe(true);

		const image = { job_type: 'generate-image' };
		expect(value('picture_queue_jobs', { ...image, status: 'pending' })).toBe(2);
		expect(value('picture_queue_jobs', { ...image, status: 'processing' })).toBe(1);
		expect(value('picture_queue_jobs', { ...image, status: 'completed' })).toBe(4);
		expect(value('picture_queue_jobs', { ...image, status: 'cancelled' })).toBe(0); // every status, zeros included
		expect(value('picture_queue_jobs', { job_type: 'send-email', status: 'cancelled' })).toBe(1);
		expect(value('picture_queue_oldest_pending_seconds')).toBeGreaterThanOrEqual(42);
		expect(value('picture_jobs_completed_total', image)).toBe(4);
		expect(value('picture_jobs_failed_total', image)).toBe(1);
		expect(value('picture_worker_runs_total', { trigger: 'cron' })).toBe(2);
		expect(value('picture_worker_runs_total', { trigger: 'continuous' })).toBe(0);
		expect(value('picture_worker_last_seen_seconds')).toBeGreaterThanOrEqual(7);
		expect(value('picture_worker_last_seen_seconds')).toBeLessThan(15);

		const buckets = samples.filter((s) => s.name === 'picture_job_duration_seconds_bucket' && s.labels.job_type === 'generate-image');
		expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS.map(String), '+Inf']);
		const counts = buckets.map((b) => b.value);
		expect(counts).toEqual([...counts].sort((a, b) => a - b)); // cumulative: never decreasing
		expect(value('picture_job_duration_seconds_bucket', { ...image, le: '0.5' })).toBe(1);
		expect(value('picture_job_duration_seconds_bucket', { ...image, le: '2' })).toBe(2);
		expect(value('picture_job_duration_seconds_bucket', { ...image, le: '60' })).toBe(3);
		expect(value('picture_job_duration_seconds_bucket', { ...image, le: '600' })).toBe(3);
		expect(value('picture_job_duration_seconds_bucket', { ...image, le: '+Inf' })).toBe(4);
		expect(value('picture_job_duration_seconds_count', image)).toBe(4);
		expect(value('picture_job_duration_seconds_sum', image)).toBeCloseTo(5047.3, 6);
	});

	test('label values are escaped (backslash, double quote, line feed) and read back intact', async () => {
		const nasty = 'say "hi"\\now\nplease';
		expect(escapeLabelValue(nasty)).toBe('say \\"hi\\"\\\\now\\nplease');
		await seedJobs(db.sql, { job_type: nasty, status: 'pending' });
		const { value } = parse(renderMetrics(await readMetrics(db.sql)));
		expect(value('picture_queue_jobs', { job_type: nasty, status: 'pending' })).toBe(1);
	});

	test('finished jobs are counted once up to a watermark, then only the new tail per scrape', async () => {
		await seedJobs(db.sql, { status: 'completed', runSeconds: 1, completedAgo: 3600, count: 3 });
		const cache = new ReadCache();
		const first = parse(renderMetrics(await readMetrics(db.sql, { cache, baseMaxAgeMs: 60_000 })));
		expect(first.value('picture_jobs_completed_total', { job_type: 'generate-image' })).toBe(3);
		await seedJobs(db.sql, { status: 'completed', runSeconds: 1, completedAgo: 0, count: 2 }); // the live tail
		await db.sql`delete from public.job_queue where completed_at < now() - interval '30 minutes'`; // a purge
		const cached = parse(renderMetrics(await readMetrics(db.sql, { cache, baseMaxAgeMs: 60_000 })));
		expect(cached.value('picture_jobs_completed_total', { job_type: 'generate-image' })).toBe(5); // purge not seen yet
		const recounted = parse(renderMetrics(await readMetrics(db.sql, { cache, baseMaxAgeMs: 0 })));
		expect(recounted.value('picture_jobs_completed_total', { job_type: 'generate-image' })).toBe(2); // purge lowers it
	});

	test('an empty database: no job types, zero waits, and a worker never seen is +Inf', async () => {
		const { value, samples } = parse(renderMetrics(await readMetrics(db.sql, { baseMaxAgeMs: 0 })));
		expect(samples.filter((s) => s.name === 'picture_queue_jobs')).toEqual([]);
		expect(value('picture_queue_oldest_pending_seconds')).toBe(0);
		expect(value('picture_worker_last_seen_seconds')).toBe(Infinity);
		expect(value('picture_alert_active', { alert: 'no_worker' })).toBe(0); // not evaluated yet
	});
});

describe('process figures', () => {
	test('memory and the open SSE subscriptions of the answering process, counted live', async () => {
		const before = parse(await (await scrape({ headers: { authorization: `Bearer ${TOKEN}` } })).text());
		expect(before.families.get('process_resident_memory_bytes')?.type).toBe('gauge');
		expect(before.value('process_resident_memory_bytes')).toBeGreaterThan(1_000_000);
		expect(before.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(1_000_000);
		const idle = before.value('picture_sse_subscribers')!;

		const unsubscribe = await Promise.all([1, 2, 3].map(() => services.events.subscribe('00000000-0000-4000-8000-000000000001', () => {})));
		const during = parse(await (await scrape({ headers: { authorization: `Bearer ${TOKEN}` } })).text());
		expect(during.value('picture_sse_subscribers')).toBe(idle + 3);

		unsubscribe.forEach((stop) => stop());
		const after = parse(await (await scrape({ headers: { authorization: `Bearer ${TOKEN}` } })).text());
		expect(after.value('picture_sse_subscribers')).toBe(idle);
	});
});
