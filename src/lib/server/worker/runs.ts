// worker_runs: one row per invocation, so operators can see when and how the queue was worked.
import type { Queryable } from '../db/client';
import type { WorkerCounts } from './types';

export type WorkerTrigger = 'cron' | 'continuous' | 'manual';

export async function startWorkerRun(sql: Queryable, workerId: string, trigger: WorkerTrigger): Promise<number> {
	const [row] = await sql<{ id: number }[]>`
		insert into public.worker_runs (worker_id, trigger) values (${workerId}, ${trigger}) returning id`;
	return Number(row!.id);
}

export async function updateWorkerRun(
	sql: Queryable,
	runId: number,
	counts: WorkerCounts & { reaped: number },
	finish: { message?: string } | null = null
): Promise<void> {
	await sql`
		update public.worker_runs
		set processed = ${counts.processed}, errors = ${counts.errors}, reaped = ${counts.reaped},
		    last_seen_at = now(),
		    finished_at = case when ${finish !== null} then now() else finished_at end,
		    message = coalesce(${finish?.message ?? null}, message)
		where id = ${runId}`;
}
