// The alert conditions on real rows, each on and off, and their announcements to a webhook receiver.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
	checkAlerts,
	evaluateAlerts,
	readAlertInputs,
	startAlertMonitor,
	type AlertKey
} from '$lib/server/monitoring/alerts';
import { loadConfig } from '$lib/server/config';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { eventually } from '../../support/services';
import { emptyTables, seedJobs, seedWorkerRun } from '../../support/console-seed';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase();
});
afterAll(() => db.drop());
beforeEach(() => emptyTables(db.sql));

const thresholds = loadConfig({}).alerts;

async function firing(): Promise<AlertKey[]> {
	return checkAlerts(await readAlertInputs(db.sql), thresholds)
		.filter((check) => check.firing)
		.map((check) => check.key);
}

/** A healthy baseline: a worker seen just now, so only the condition under test can fire. */
async function healthyWorker() {
	await seedWorkerRun(db.sql, 1, 'continuous');
}

describe('each condition, on and off', () => {
	test('more than ALERT_PENDING_MAX pending jobs (the seed: > 100)', async () => {
		await healthyWorker();
		await seedJobs(db.sql, { status: 'pending', count: 100, scheduledAgo: 1 });
		expect(await firing()).toEqual([]);
		await seedJobs(db.sql, { status: 'pending', scheduledAgo: 1 });
		expect(await firing()).toEqual(['pending_backlog']);
	});

	test("a failure rate above 10% among the last hour's jobs (the seed's formula)", async () => {
		await healthyWorker();
		await seedJobs(db.sql, { status: 'completed', count: 9, createdAgo: 600, completedAgo: 590 });
		await seedJobs(db.sql, { status: 'failed', createdAgo: 600, completedAgo: 590 });
		await seedJobs(db.sql, { status: 'failed', count: 5, createdAgo: 2 * 3600, completedAgo: 7000 }); // older: not counted
		expect(await firing()).toEqual([]); // exactly 10% is not above it
		await seedJobs(db.sql, { status: 'failed', createdAgo: 300, completedAgo: 290 });
		expect(await firing()).toEqual(['failure_rate']); // 2 of 11
		const inputs = await readAlertInputs(db.sql);
		expect(inputs).toMatchObject({ created_last_hour: 11, failed_last_hour: 2 });
	});

	test('no completion for 5 minutes while jobs wait', async () => {
		await healthyWorker();
		await seedJobs(db.sql, { status: 'completed', createdAgo: 3600, completedAgo: 3000 });
		await seedJobs(db.sql, { status: 'pending', scheduledAgo: 60 });
		expect(await firing()).toEqual([]); // the waiting job has been due for one minute only
		await seedJobs(db.sql, { status: 'pending', scheduledAgo: 400 });
		expect(await firing()).toEqual(['no_completion']);
		await seedJobs(db.sql, { status: 'completed', createdAgo: 100, completedAgo: 30 });
		expect(await firing()).toEqual([]); // a completion 30 s ago: the worker is moving
	});

	test('no completion ever while a job has waited long; paused job types wait on purpose', async () => {
		await healthyWorker();
		await seedJobs(db.sql, { job_type: 'held', status: 'pending', scheduledAgo: 900 });
		await db.sql`insert into public.job_queue_paused_types (job_type) values ('held')`;
		expect(await firing()).toEqual([]);
		await db.sql`delete from public.job_queue_paused_types`;
		expect(await firing()).toEqual(['no_completion']);
	});

	test('stuck jobs (the stuck_jobs view)', async () => {
		await healthyWorker();
		await seedJobs(db.sql, { status: 'processing', leaseLeft: 20 });
		expect(await firing()).toEqual([]);
		await seedJobs(db.sql, { status: 'processing', leaseLeft: -1 });
		expect(await firing()).toEqual(['stuck_jobs']);
		// The threshold in the text is the one the view applies (stuck_job_threshold()), not a copy.
		const inputs = await readAlertInputs(db.sql);
		const [threshold] = await db.sql<{ seconds: number }[]>`select date_part('epoch', stuck_job_threshold())::int as seconds`;
		expect(inputs.stuck_after_seconds).toBe(threshold!.seconds);
		const stuck = checkAlerts(inputs, thresholds).find((check) => check.key === 'stuck_jobs')!;
		expect(stuck.detail).toBe('1 running job has an expired lease or ran for over 10 minutes.');
		expect(checkAlerts({ ...inputs, stuck_after_seconds: 1800 }, thresholds).find((c) => c.key === 'stuck_jobs')!.detail).toMatch(/over 30 minutes\.$/);
	});

	test('no worker seen for 2 minutes (worker_runs.last_seen_at), or none ever', async () => {
		expect(await firing()).toEqual(['no_worker']);
		await seedWorkerRun(db.sql, 200);
		expect(await firing()).toEqual(['no_worker']);
		await seedWorkerRun(db.sql, 30);
		expect(await firing()).toEqual([]);
	});

	test('thresholds come from the configuration', async () => {
		await healthyWorker();
		await seedJobs(db.sql, { status: 'pending', count: 6, scheduledAgo: 1 });
		const strict = loadConfig({ ALERT_PENDING_MAX: '5' }).alerts;
		const checks = checkAlerts(await readAlertInputs(db.sql), strict);
		expect(checks.find((c) => c.key === 'pending_backlog')).toMatchObject({ firing: true, title: 'More than 5 jobs waiting', detail: '6 jobs are pending.' });
	});
});

/** A Slack-like incoming webhook on a free port, recording what it receives. */
function receiver(status = 200) {
	const messages: { text: string }[] = [];
	const state = { status };
	const server: Server = createServer(async (request: IncomingMessage, response) => {
		let body = '';
		for await (const chunk of request) body += chunk;
		if (state.status === 200) messages.push(JSON.parse(body));
		response.writeHead(state.status, { 'content-type': 'text/plain' }).end(state.status === 200 ? 'ok' : 'no');
	});
	const ready = new Promise<string>((resolve) =>
		server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`))
	);
	return { messages, state, ready, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('announcements to ALERT_WEBHOOK_URL', () => {
	let hook: ReturnType<typeof receiver>;
	let config: ReturnType<typeof loadConfig>;
	beforeEach(async () => {
		hook = receiver();
		config = loadConfig({ ALERT_WEBHOOK_URL: await hook.ready, PUBLIC_BASE_URL: 'https://picture.example' });
		await healthyWorker();
	});
	afterAll(() => hook?.close());

	async function evaluateTwiceAtOnce() {
		const [a, b] = await Promise.all([evaluateAlerts(db.sql, config), evaluateAlerts(db.sql, config)]);
		return [a.changes, b.changes, (await a.delivered) + (await b.delivered)] as const;
	}

	test('one message when an alert starts and one when it clears, even from two evaluations at once', async () => {
		await seedJobs(db.sql, { status: 'processing', leaseLeft: -1 });
		const [first, second, sent] = await evaluateTwiceAtOnce();
		expect([...first, ...second]).toEqual([{ key: 'stuck_jobs', change: 'started' }]);
		expect(sent).toBe(1);
		expect(hook.messages).toHaveLength(1);
		expect(hook.messages[0]!.text).toMatch(/^🔴 Picture alert: Stuck jobs\. 1 running job has an expired lease/);
		expect(hook.messages[0]!.text).toContain('https://picture.example/admin');

		const [again, againToo, sentAgain] = await evaluateTwiceAtOnce(); // still stuck: nothing new to say
		expect([...again, ...againToo, sentAgain]).toEqual([0]);
		expect(hook.messages).toHaveLength(1);

		await db.sql`update public.job_queue set locked_until = now() + interval '30 seconds'`;
		const [cleared, clearedToo, sentClear] = await evaluateTwiceAtOnce();
		expect([...cleared, ...clearedToo]).toEqual([{ key: 'stuck_jobs', change: 'cleared' }]);
		expect(sentClear).toBe(1);
		expect(hook.messages.map((m) => m.text)).toEqual([expect.any(String), expect.stringMatching(/^✅ Resolved: Stuck jobs after \d+ seconds?\.$/)]);
		const [state] = await db.sql`select active, notified_active, notify_error from public.alert_state where alert_key = 'stuck_jobs'`;
		expect(state).toEqual({ active: false, notified_active: false, notify_error: null });
		await hook.close();
	});

	test('a failed delivery is kept, backed off, and sent by a later evaluation', async () => {
		hook.state.status = 500;
		await seedJobs(db.sql, { status: 'pending', count: 101, scheduledAgo: 1 });
		const first = await evaluateAlerts(db.sql, config);
		expect(await first.delivered).toBe(0);
		const [pending] = await db.sql`
			select notified_active, notify_error, notify_claimed_until > now() + interval '20 seconds' as backing_off
			from public.alert_state where alert_key = 'pending_backlog'`;
		expect(pending).toEqual({ notified_active: null, notify_error: 'the webhook answered 500', backing_off: true });

		hook.state.status = 200;
		expect(await (await evaluateAlerts(db.sql, config)).delivered).toBe(0); // still backing off
		await db.sql`update public.alert_state set notify_claimed_until = now() - interval '1 second'`; // as if 30 s had passed
		expect(await (await evaluateAlerts(db.sql, config)).delivered).toBe(1);
		expect(hook.messages.map((m) => m.text)).toEqual([expect.stringMatching(/^🔴 Picture alert: More than 100 jobs waiting\. 101 jobs are pending\./)]);
		await hook.close();
	});

	test('without a webhook the state is still kept, and nothing is sent; a clear nobody heard start is never sent', async () => {
		const quiet = loadConfig({});
		await seedJobs(db.sql, { status: 'processing', leaseLeft: -1 });
		const started = await evaluateAlerts(db.sql, quiet);
		expect(started.changes).toEqual([{ key: 'stuck_jobs', change: 'started' }]);
		expect(started.active.map((a) => a.key)).toEqual(['stuck_jobs']);
		await db.sql`update public.job_queue set locked_until = now() + interval '30 seconds'`;
		expect((await evaluateAlerts(db.sql, quiet)).changes).toEqual([{ key: 'stuck_jobs', change: 'cleared' }]);
		expect(await (await evaluateAlerts(db.sql, config)).delivered).toBe(0);
		expect(hook.messages).toEqual([]);
		await hook.close();
	});

	test("the app process's monitor evaluates on start and on its timer, and stops cleanly", async () => {
		await seedJobs(db.sql, { status: 'processing', leaseLeft: -1 });
		const logged: string[] = [];
		const monitor = startAlertMonitor(db.sql, config, (message) => logged.push(message));
		await eventually(async () => hook.messages.length === 1);
		await monitor.stop();
		expect(logged).toContain('alert started: Stuck jobs');
		await hook.close();
	});
});

describe('configuration', () => {
	test('defaults are the seed thresholds; bad values are reported', () => {
		expect(loadConfig({}).alerts).toEqual({
			webhookUrl: null,
			pendingMax: 100,
			failureRate: 0.1,
			noCompletionSeconds: 300,
			noWorkerSeconds: 120,
			checkSeconds: 30,
			unfairWaitFactor: 5,
			unfairWaitMinSeconds: 60
		});
		const bad = () => loadConfig({ ALERT_FAILURE_RATE: '10', ALERT_WEBHOOK_URL: 'slack.example', METRICS_TOKEN: 'short' });
		expect(bad).toThrow(/ALERT_FAILURE_RATE must be a fraction from 0 to 1 \(0\.1 is 10%\), not "10"/);
		expect(bad).toThrow(/ALERT_WEBHOOK_URL must start with http:\/\/ or https:\/\//);
		expect(bad).toThrow(/METRICS_TOKEN must be at least 16 characters long/);
	});
});
