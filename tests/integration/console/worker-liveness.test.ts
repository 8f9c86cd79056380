// One rule for whether a worker run is alive, on the Worker page and the overview alike: a run not
// finished and not heard from within its allowance (four 15 s reports, never longer than the "no
// worker seen" alert's threshold) has stopped responding. A SIGKILLed worker leaves exactly such a
// row, so neither page may call it running while the overview's alert says no worker is seen.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { consoleReader } from '$lib/server/console/access';
import { consoleOverview } from '$lib/server/console/overview';
import { enqueueJob } from '$lib/server/queue';
import type { Services } from '$lib/server/runtime';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { runAllowanceSeconds } from '$lib/server/worker/runs';
import { load as workerLoad } from '$routes/admin/worker/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { deferred, eventually, testServices } from '../../support/services';
import { loadPage } from '../../support/console-jobs';

let db: TestDatabase;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	admin = await signedInUser(await testServices(db), { admin: true });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from worker_runs`;
	await db.sql`delete from alert_state`;
});

/** A run row as a worker leaves it: seen `seenAgo` seconds ago, finished or not. */
const run = (trigger: string, seenAgo: number, finished = false) => db.sql`
	insert into worker_runs (worker_id, trigger, started_at, last_seen_at, finished_at)
	values (${`w-${trigger}-${seenAgo}`}, ${trigger}, now() - make_interval(secs => ${seenAgo + 5}), now() - make_interval(secs => ${seenAgo}),
	        case when ${finished} then now() - make_interval(secs => ${seenAgo}) end)`;

async function both(services: Services) {
	const worker = await loadPage<any>(workerLoad, services, admin.user, '/admin/worker');
	const overview = await consoleOverview(consoleReader(admin.user), db.sql, services.config);
	return { worker, overview };
}

test('the allowance: four reports, or the alert threshold when that is sooner', () => {
	expect(runAllowanceSeconds(120)).toBe(60);
	expect(runAllowanceSeconds(30)).toBe(30);
});

describe.each([
	['the default alert (120 s)', {}, 60],
	['an alert at 30 s', { ALERT_NO_WORKER_SECONDS: '30' }, 30]
])('with %s', (_label, env, allowance) => {
	let services: Services;
	beforeAll(async () => {
		services = await testServices(db, {}, env);
	});

	test('a killed continuous worker, just past its allowance: stopped responding on both pages', async () => {
		await run('continuous', allowance + 5);
		const { worker, overview } = await both(services);
		expect(worker.lastRuns.find((r: { trigger: string }) => r.trigger === 'continuous')).toMatchObject({ state: 'stopped_responding' });
		expect(worker.runs[0]).toMatchObject({ state: 'stopped_responding' });
		expect(overview.worker).toMatchObject({ state: 'stopped_responding', running: false });
	});

	test('a live one, within its allowance: running on both pages, and no "no worker" alert', async () => {
		await run('continuous', allowance - 10);
		const { worker, overview } = await both(services);
		expect(worker.runs[0]).toMatchObject({ state: 'running' });
		expect(overview.worker).toMatchObject({ state: 'running', running: true });
		expect(overview.alerts.map((a) => a.key)).not.toContain('no_worker');
	});

	test('whenever the overview alerts "no worker seen", no page calls any run running', async () => {
		await run('continuous', 400);
		await run('cron', 300);
		await run('manual', 200, true);
		const { worker, overview } = await both(services);
		expect(overview.alerts.map((a) => a.key)).toContain('no_worker');
		expect(worker.runs.map((r: { state: string }) => r.state)).toEqual(['finished', 'stopped_responding', 'stopped_responding']);
		expect(worker.lastRuns.map((r: { state: string }) => r.state)).not.toContain('running');
		expect(overview.worker!.state).not.toBe('running');
	});
});

test('a budgeted run reports while it works, so a long budget does not look dead', async () => {
	const services = await testServices(db);
	const release = deferred();
	const started = deferred();
	await enqueueJob(db.sql, 'slow');
	const running = runWorkerForBudget({
		sql: db.sql,
		handlers: {
			slow: async () => {
				started.resolve();
				await release.promise;
			}
		},
		trigger: 'cron',
		budgetMs: 60_000,
		concurrency: 1,
		leaseSeconds: 30,
		reportEveryMs: 50
	});
	await started.promise;
	const [{ id, first }] = (await db.sql`select id, last_seen_at as first from worker_runs`) as unknown as [{ id: number; first: Date }];
	// A report lands while the handler still runs: last_seen_at moves on, the run is not finished.
	await eventually(async () => {
		const [row] = await db.sql<{ last_seen_at: Date; finished_at: Date | null }[]>`select last_seen_at, finished_at from worker_runs where id = ${id}`;
		return row!.finished_at === null && row!.last_seen_at > first;
	});
	release.resolve();
	const result = await running;
	const [final] = await db.sql`select processed, finished_at is not null as finished from worker_runs where id = ${id}`;
	expect(final).toEqual({ processed: 1, finished: true });
	expect(result.processed).toBe(1);
	expect((await both(services)).worker.runs[0]).toMatchObject({ state: 'finished' });
});
