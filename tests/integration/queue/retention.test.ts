// Retention (0014): old finished jobs and worker runs purged in batches, live and recent ones never,
// generations intact, run by one process per interval, off when JOB_RETENTION_DAYS is 0.
import { expect, test } from 'vitest';
import { purgeFinishedJobs } from '$lib/server/queue';
import { runRetention } from '$lib/server/worker/maintenance';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { createUser } from '../../support/db';
import { useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase();

/** Inserts `count` jobs in `status`, finished (or created, for live ones) `daysAgo` days ago; their ids. */
async function jobs(status: string, daysAgo: number, count: number): Promise<string[]> {
	const finished = ['completed', 'failed', 'cancelled'].includes(status);
	const rows = await q.sql<{ id: string }[]>`
		insert into job_queue (job_type, status, attempts, created_at, scheduled_at, started_at, completed_at,
		                       locked_by, locked_until)
		select 'retention', ${status}, 1, now() - make_interval(days => ${daysAgo}, mins => 5),
		       now() - make_interval(days => ${daysAgo}, mins => 5), now() - make_interval(days => ${daysAgo}, mins => 2),
		       case when ${finished} then now() - make_interval(days => ${daysAgo}) end,
		       case when ${status} = 'processing' then 'w' end,
		       case when ${status} = 'processing' then now() + interval '30 seconds' end
		from generate_series(1, ${count})
		returning id`;
	return rows.map((r) => r.id);
}

async function counts(): Promise<Record<string, number>> {
	const rows = await q.sql<{ key: string; n: number }[]>`
		select status || ':' || (extract(day from now() - coalesce(completed_at, created_at))::int) as key, count(*)::int as n
		from job_queue group by 1`;
	return Object.fromEntries(rows.map((r) => [r.key, r.n]));
}

async function resetGate() {
	await q.sql`delete from queue_maintenance`;
}

test('failed jobs are kept longer than completed and cancelled ones; live and recent ones never go', async () => {
	await jobs('completed', 20, 30);
	await jobs('cancelled', 20, 5);
	await jobs('failed', 20, 4); // older than 14 days but within the failed retention (28)
	await jobs('failed', 40, 6);
	await jobs('completed', 3, 7); // recent
	await jobs('pending', 60, 3); // old but live
	await jobs('processing', 60, 2);

	// One call is one batch, oldest first.
	const [first] = await q.sql`select purge_finished_jobs(interval '14 days', 4, interval '28 days') as n`;
	expect(first!.n).toBe(4);
	const [failedOld] = await q.sql`select count(*)::int as n from job_queue where status = 'failed' and completed_at < now() - interval '30 days'`;
	expect(failedOld!.n).toBe(2); // the 40-day-old failed jobs went first

	const total = await purgeFinishedJobs(q.sql, { olderThanDays: 14, failedOlderThanDays: 28, batchSize: 4 });
	expect(total).toBe(30 + 5 + 6 - 4);
	expect(await counts()).toEqual({ 'failed:20': 4, 'completed:3': 7, 'pending:60': 3, 'processing:60': 2 });
	// Without a separate failed retention, failed jobs share the other one (0002's behaviour).
	expect(await purgeFinishedJobs(q.sql, { olderThanDays: 14, batchSize: 3 })).toBe(4);
	expect(await counts()).toEqual({ 'completed:3': 7, 'pending:60': 3, 'processing:60': 2 });
});

test('purging a job leaves its generation intact', async () => {
	const user = await createUser(q.sql);
	const [model] = await q.sql<{ id: string }[]>`select id from models order by id limit 1`;
	const [jobId] = await jobs('completed', 30, 1);
	const [generation] = await q.sql<{ id: string }[]>`
		insert into image_generations (user_id, model_id, prompt, width, height, seed, status, job_id, completed_at, image_path)
		values (${user.id}, ${model!.id}, 'a lighthouse', 512, 512, 1, 'completed', ${jobId!}, now() - interval '30 days',
		        ${user.id + '/x.png'})
		returning id`;
	await resetGate();
	expect(await runRetention(q.sql, { days: 14 })).toEqual({ jobs: 1, workerRuns: 0 });
	const [row] = await q.sql`select status, job_id, prompt from image_generations where id = ${generation!.id}`;
	expect(row).toEqual({ status: 'completed', job_id: null, prompt: 'a lighthouse' });
});

test('old worker runs go, live and recent ones stay', async () => {
	await q.sql`delete from worker_runs`;
	await q.sql`
		insert into worker_runs (worker_id, trigger, started_at, last_seen_at, finished_at) values
			('old-finished', 'cron', now() - interval '20 days', now() - interval '20 days', now() - interval '20 days'),
			('old-crashed', 'continuous', now() - interval '30 days', now() - interval '29 days', null),
			('long-lived', 'continuous', now() - interval '30 days', now() - interval '10 seconds', null),
			('recent', 'cron', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day')`;
	await resetGate();
	expect(await runRetention(q.sql, { days: 14, batchSize: 1 })).toEqual({ jobs: 0, workerRuns: 2 });
	const left = await q.sql<{ worker_id: string }[]>`select worker_id from worker_runs order by worker_id`;
	expect(left.map((r) => r.worker_id)).toEqual(['long-lived', 'recent']);
});

test('one run per interval across concurrent callers; none when disabled', async () => {
	await jobs('completed', 20, 12);
	await resetGate();
	expect(await runRetention(q.sql, { days: 0 })).toBeNull(); // JOB_RETENTION_DAYS=0: off
	expect((await counts())['completed:20']).toBe(12);

	const results = await Promise.all(Array.from({ length: 6 }, () => runRetention(q.sql, { days: 14, batchSize: 5 })));
	const ran = results.filter((r) => r !== null);
	expect(ran).toEqual([{ jobs: 12, workerRuns: 0 }]);
	// Within the interval nobody runs it again, even with new old jobs.
	await jobs('completed', 20, 2);
	expect(await runRetention(q.sql, { days: 14 })).toBeNull();
	// Once the interval has passed, it runs again.
	await q.sql`update queue_maintenance set last_run_at = now() - interval '301 seconds'`;
	expect(await runRetention(q.sql, { days: 14 })).toEqual({ jobs: 2, workerRuns: 0 });
	const [gate] = await q.sql`select last_result from queue_maintenance where task = 'retention'`;
	expect(gate!.last_result).toEqual({ jobs: 2, workerRuns: 0 });
});

test('a worker pass runs the retention when given one, and not otherwise', async () => {
	await jobs('completed', 20, 3);
	await resetGate();
	const base = { sql: q.sql, handlers: {}, trigger: 'manual' as const, budgetMs: 2000, concurrency: 1, leaseSeconds: 30 };
	await runWorkerForBudget(base);
	expect((await counts())['completed:20']).toBe(3);
	await runWorkerForBudget({ ...base, retention: { days: 14 } });
	expect((await counts())['completed:20']).toBeUndefined();
});

test('the hot tables carry churn-tuned storage settings', async () => {
	const rows = await q.sql<{ relname: string; reloptions: string[] }[]>`
		select relname, reloptions from pg_class
		where relname in ('job_queue', 'worker_runs') and relnamespace = 'public'::regnamespace order by relname`;
	expect(rows[0]!.reloptions).toEqual(expect.arrayContaining(['fillfactor=80', 'autovacuum_vacuum_scale_factor=0.01']));
	expect(rows[1]!.reloptions).toEqual(expect.arrayContaining(['fillfactor=70']));
});
