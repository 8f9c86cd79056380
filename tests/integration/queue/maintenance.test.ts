// Housekeeping: purging old finished jobs in batches, and the monitoring views' contents.
import { expect, test } from 'vitest';
import { claimJobs, completeJob, enqueueJob, purgeFinishedJobs } from '$lib/server/queue';
import { rejection, useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase();

/** Inserts `count` jobs in `status`, finished (or created, for live ones) `daysAgo` days ago. */
async function jobs(status: string, daysAgo: number, count: number, type = 'purge') {
	const finished = ['completed', 'failed', 'cancelled'].includes(status);
	await q.sql`
		insert into job_queue (job_type, status, attempts, created_at, scheduled_at, started_at, completed_at,
		                       locked_by, locked_until)
		select ${type}, ${status}, 1, now() - make_interval(days => ${daysAgo}, mins => 5),
		       now() - make_interval(days => ${daysAgo}, mins => 5), now() - make_interval(days => ${daysAgo}, mins => 2),
		       case when ${finished} then now() - make_interval(days => ${daysAgo}) end,
		       case when ${status} = 'processing' then 'w' end,
		       case when ${status} = 'processing' then now() + interval '30 seconds' end
		from generate_series(1, ${count})`;
}

async function statusCounts(): Promise<Record<string, number>> {
	const rows = await q.sql<{ status: string; old: boolean; n: number }[]>`
		select status, created_at < now() - interval '30 days' as old, count(*)::int as n
		from job_queue group by 1, 2`;
	return Object.fromEntries(rows.map((r) => [`${r.status}${r.old ? ':old' : ''}`, r.n]));
}

test('purge deletes only finished jobs older than N days, in batches', async () => {
	await jobs('completed', 40, 25);
	await jobs('failed', 31, 5);
	await jobs('cancelled', 90, 5);
	await jobs('completed', 10, 4); // finished, but within the retention
	await jobs('failed', 29, 3);
	await jobs('pending', 40, 3); // old but live: never purged
	await jobs('processing', 40, 2);

	// One call deletes one batch, oldest first.
	const [first] = await q.sql`select purge_finished_jobs(interval '30 days', 7) as n`;
	expect(first!.n).toBe(7);
	const [oldestLeft] = await q.sql`select count(*)::int as n from job_queue where status = 'cancelled'`;
	expect(oldestLeft!.n).toBe(0); // the 90-day-old ones went first

	const total = await purgeFinishedJobs(q.sql, { olderThanDays: 30, batchSize: 7 });
	expect(total).toBe(35 - 7);
	expect(await statusCounts()).toEqual({ completed: 4, failed: 3, 'pending:old': 3, 'processing:old': 2 });
	expect(await purgeFinishedJobs(q.sql, { olderThanDays: 30 })).toBe(0);

	// A shorter retention reaches the younger finished jobs, still never the live ones.
	expect(await purgeFinishedJobs(q.sql, { olderThanDays: 5, batchSize: 2 })).toBe(7);
	expect(await statusCounts()).toEqual({ 'pending:old': 3, 'processing:old': 2 });
});

test('purge refuses nonsense arguments', async () => {
	const negative = await rejection(q.sql`select purge_finished_jobs(interval '-1 day', 10)`);
	expect(negative.message).toMatch(/older_than must not be negative/);
	const zeroBatch = await rejection(q.sql`select purge_finished_jobs(interval '1 day', 0)`);
	expect(zeroBatch.message).toMatch(/batch_size must be between 1 and 100000/);
});

test('failed_jobs_recent shows failed jobs of the last 24 hours only', async () => {
	const [recent] = await q.sql<{ id: string }[]>`
		insert into job_queue (job_type, status, attempts, completed_at, error_message, error_details)
		values ('generate-image', 'failed', 3, now() - interval '23 hours', 'Model not found', '{"model": "x/y"}')
		returning id`;
	await q.sql`
		insert into job_queue (job_type, status, attempts, completed_at, error_message)
		values ('generate-image', 'failed', 3, now() - interval '25 hours', 'too old'),
		       ('generate-image', 'completed', 1, now() - interval '1 hour', 'an earlier error, then success'),
		       ('generate-image', 'cancelled', 0, now(), 'cancelled')`;
	const rows = await q.sql`select * from failed_jobs_recent`;
	expect(rows).toHaveLength(1);
	expect(rows[0]).toMatchObject({ id: recent!.id, error_message: 'Model not found', error_details: { model: 'x/y' } });
	// The seed's own grouping query runs against it.
	const grouped = await q.sql`
		SELECT error_message, COUNT(*) as count, MAX(created_at) as last_occurrence
		FROM failed_jobs_recent GROUP BY error_message ORDER BY count DESC`;
	expect(grouped.map((r) => [r.error_message, Number(r.count)])).toEqual([['Model not found', 1]]);
});

test('queue_health counts jobs per type and status, with the average run time', async () => {
	await jobs('pending', 0, 3, 'a');
	await jobs('failed', 0, 1, 'a');
	await jobs('completed', 0, 2, 'b'); // started 2 minutes before completion (see jobs())
	const rows = await q.sql`select job_type, status, count::int as count, avg_duration_seconds::float8 as avg
		from queue_health order by job_type, status`;
	expect(rows).toEqual([
		{ job_type: 'a', status: 'failed', count: 1, avg: 120 },
		{ job_type: 'a', status: 'pending', count: 3, avg: null },
		{ job_type: 'b', status: 'completed', count: 2, avg: 120 }
	]);
});

test('a job runs start to finish through the public functions', async () => {
	const id = await enqueueJob(q.sql, 'e2e', { payload: { prompt: 'a lighthouse' }, priority: 3 });
	const [job] = await claimJobs(q.sql, { workerId: 'w', leaseSeconds: 10 });
	expect(job!.id).toBe(id);
	expect(await completeJob(q.sql, { jobId: id, workerId: 'w', claimCount: 1 })).toBe(true);
	const [done] = await q.sql`select status, attempts, locked_by, completed_at >= started_at as ordered from job_queue where id = ${id}`;
	expect(done).toEqual({ status: 'completed', attempts: 1, locked_by: null, ordered: true });
});

test('worker_runs accepts the three triggers and refuses anything else', async () => {
	for (const trigger of ['cron', 'continuous', 'manual']) {
		await q.sql`insert into worker_runs (worker_id, trigger) values ('w', ${trigger})`;
	}
	const bad = await rejection(q.sql`insert into worker_runs (worker_id, trigger) values ('w', 'magic')`);
	expect(bad.message).toContain('"trigger_valid"');
	const negative = await rejection(q.sql`insert into worker_runs (worker_id, trigger, processed) values ('w', 'cron', -1)`);
	expect(negative.message).toContain('"counts_not_negative"');
	const [row] = await q.sql`select count(*)::int as n from worker_runs`;
	expect(row!.n).toBe(3);
});
