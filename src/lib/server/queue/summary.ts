import type { Queryable } from '../db/client';
import type { JobStatus } from './types';

export type QueueSummary = Record<JobStatus, number>;

/** Jobs per status across all types, from the seed's queue_health view. */
export async function queueSummary(sql: Queryable): Promise<QueueSummary> {
	const rows = await sql<{ status: JobStatus; count: string }[]>`
		select status, sum(count)::text as count from public.queue_health group by status`;
	const summary: QueueSummary = { pending: 0, processing: 0, completed: 0, failed: 0, cancelled: 0 };
	for (const row of rows) summary[row.status] = Number(row.count);
	return summary;
}
