// Which retries would bring back what a user did. A retry of a generation's job runs the generation
// again (0006's trigger queues it), so the console tells apart, in SQL and in one query, the jobs it
// may retry from those it leaves alone:
//   failed              failed on its own: retried
//   operator_cancelled  cancelled by an operator (or by hand): retried
//   owner_cancelled     its owner cancelled the generation: retried only when the operator asks
//   deleted             its generation no longer exists (its owner deleted the picture): never, nothing to make
//   made                its generation has its picture already: never, nothing to make again
// How an owner's cancel is told from an operator's: cancel_generation (0016) marks the generation
// cancelled and then cancels its job with exactly OWNER_CANCEL_REASON; an operator's cancel cancels
// the job with "Cancelled by an administrator (...)" and the trigger then cancels the generation. So
// the generation is cancelled either way, and the job's reason is what differs. A later failure or
// retry overwrites the reason, and the job is then no longer an owner-cancelled one.
import type postgres from 'postgres';
import type { Queryable } from '../db/client';
import { generationIdOf } from './job-filter';

export const OWNER_CANCEL_REASON = 'cancelled by the user';
export const RETRY_KINDS = ['failed', 'operator_cancelled', 'owner_cancelled', 'deleted', 'made'] as const;
export type RetryKind = (typeof RETRY_KINDS)[number];
export type RetryCounts = Record<RetryKind, number>;

/** The kinds a retry touches: owners' cancellations only when asked, deleted and made ones never. */
export function retriedKinds(includeOwnerCancelled: boolean): RetryKind[] {
	return includeOwnerCancelled ? ['failed', 'operator_cancelled', 'owner_cancelled'] : ['failed', 'operator_cancelled'];
}

/** Joins the generation a job j names as g (none: g.* is null). */
export const joinGeneration = (sql: Queryable) => sql`left join public.image_generations g on g.id = ${generationIdOf(sql)}`;

/** The kind of a failed or cancelled job j, with its generation joined as g (joinGeneration). */
export const retryKindOf = (sql: Queryable): postgres.Fragment => sql`(case
	when j.payload ? 'generation_id' and g.id is null then 'deleted'
	when g.status = 'completed' then 'made'
	when j.status = 'failed' then 'failed'
	when g.status = 'cancelled' and j.error_message = ${OWNER_CANCEL_REASON} then 'owner_cancelled'
	else 'operator_cancelled' end)`;

export const noCounts = (): RetryCounts => ({ failed: 0, operator_cancelled: 0, owner_cancelled: 0, deleted: 0, made: 0 });

/** Rows of (kind, n) as counts per kind. */
export function countsOf(rows: { kind: string; n: number }[]): RetryCounts {
	const counts = noCounts();
	for (const row of rows) if ((RETRY_KINDS as readonly string[]).includes(row.kind)) counts[row.kind as RetryKind] += row.n;
	return counts;
}

export const retriedCount = (counts: RetryCounts, includeOwnerCancelled: boolean) =>
	retriedKinds(includeOwnerCancelled).reduce((sum, kind) => sum + counts[kind], 0);
