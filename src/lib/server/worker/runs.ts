// worker_runs: one row per invocation, so operators can see when and how the queue was worked.
import type { Queryable } from '../db/client';
import type { WorkerCounts } from './types';

export type WorkerTrigger = 'cron' | 'continuous' | 'manual';

/** Every run, continuous or budgeted, rewrites its last_seen_at at least this often while it lives. */
export const RUN_REPORT_SECONDS = 15;
/**
 * A run not heard from for this long has stopped responding (four reports missed), or sooner when the
 * console's "no worker seen" alert is set lower: the Worker page then never calls a run alive that
 * the overview's alert counts as gone.
 */
export function runAllowanceSeconds(noWorkerSeconds: number): number {
	return Math.min(RUN_REPORT_SECONDS * 4, noWorkerSeconds);
}

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
