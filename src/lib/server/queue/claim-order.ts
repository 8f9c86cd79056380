// The order the workers will claim the pending jobs in, worked out from one read of the queue
// instead of by claiming: what a queued generation's place in line is computed from. It follows
// 0025's fair-share rule exactly for claims of one job at a time (how workers claim a free slot):
//   * the highest due priority goes first; within it, lanes (a job's created_by, or the system
//     lane) take turns in (served_seq, lane) order, each giving its oldest job (scheduled_at, id);
//   * a lane that is served moves to the back; lanes with no work at that priority keep their place.
// Jobs that are not due yet (a retry's backoff, a snooze) come after every due job, in the order
// they fall due: where they will actually land depends on what is queued by then.
import type { Queryable } from '../db/client';

export const SYSTEM_LANE = '00000000-0000-0000-0000-000000000000';

export interface PendingJob {
	id: string;
	job_type: string;
	lane: string;
	priority: number;
	/** Microseconds since the epoch: Postgres' own precision, so ties break as the claim breaks them. */
	scheduled_us: number;
	/** What the job's payload names, as text (unchecked: a payload is free-form). */
	generation_id: string | null;
	model_id: string | null;
}

export interface QueueLine {
	/** Every pending job of an unpaused type. */
	jobs: PendingJob[];
	/** Lane turns: served_seq per lane (0: never served). */
	lanes: Map<string, bigint>;
	/** The database's clock at the read (microseconds), so "due" means what it means to the claim. */
	now_us: number;
}

/** One snapshot of the pending queue: two index reads, in one round trip. */
export async function readQueueLine(sql: Queryable): Promise<QueueLine> {
	const [row] = await sql<{ jobs: PendingJob[] | null; lanes: Array<{ lane: string; served_seq: string }> | null; now_us: string }[]>`
		select
		  (select json_agg(json_build_object(
		      'id', j.id, 'job_type', j.job_type, 'lane', coalesce(j.created_by, ${SYSTEM_LANE}::uuid),
		      'priority', j.priority, 'scheduled_us', (extract(epoch from j.scheduled_at) * 1000000)::bigint,
		      'generation_id', j.payload->>'generation_id', 'model_id', j.payload->>'model_id'))
		   from public.job_queue j
		   where j.status = 'pending'
		     and not exists (select 1 from public.job_queue_paused_types p where p.job_type = j.job_type)) as jobs,
		  (select json_agg(json_build_object('lane', l.lane, 'served_seq', l.served_seq::text))
		   from public.job_queue_lanes l) as lanes,
		  (extract(epoch from now()) * 1000000)::bigint::text as now_us`;
	const lanes = new Map((row!.lanes ?? []).map((l) => [l.lane, BigInt(l.served_seq)]));
	return { jobs: row!.jobs ?? [], lanes, now_us: Number(row!.now_us) };
}

const byAge = (a: PendingJob, b: PendingJob) =>
	a.scheduled_us - b.scheduled_us || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The pending jobs in the order they will be claimed. Cost: a sort of the due jobs plus one step per
 * job, whatever the lanes hold (each priority level is served in rounds, one job per lane a round).
 */
export function claimOrder(line: QueueLine): PendingJob[] {
	const due = line.jobs.filter((job) => job.scheduled_us <= line.now_us);
	const later = line.jobs.filter((job) => job.scheduled_us > line.now_us).sort(byAge);

	// Lanes in turn order. Postgres orders uuids bytewise, which is the order of their lowercase text.
	const turn = [...new Set([...line.lanes.keys(), ...due.map((job) => job.lane)])].sort((a, b) => {
		const sa = line.lanes.get(a) ?? 0n;
		const sb = line.lanes.get(b) ?? 0n;
		return sa < sb ? -1 : sa > sb ? 1 : a < b ? -1 : a > b ? 1 : 0;
	});

	// Per priority level (highest first), per lane, the jobs oldest first.
	const levels = new Map<number, Map<string, PendingJob[]>>();
	for (const job of due) {
		let lanes = levels.get(job.priority);
		if (!lanes) levels.set(job.priority, (lanes = new Map()));
		let jobs = lanes.get(job.lane);
		if (!jobs) lanes.set(job.lane, (jobs = []));
		jobs.push(job);
	}

	const order: PendingJob[] = [];
	let lanesInTurn = turn;
	for (const priority of [...levels.keys()].sort((a, b) => b - a)) {
		const atLevel = levels.get(priority)!;
		for (const jobs of atLevel.values()) jobs.sort(byAge);
		// Rounds: every lane with work left gives one job, in turn order (serving keeps the order).
		const serving = lanesInTurn.filter((lane) => atLevel.has(lane));
		let active = serving;
		for (let round = 0; active.length > 0; round++) {
			for (const lane of active) order.push(atLevel.get(lane)![round]!);
			active = active.filter((lane) => atLevel.get(lane)!.length > round + 1);
		}
		// Lanes not served here keep their place in front; the served ones follow in the order they
		// were last served: fewer jobs first, then their turn order.
		const index = new Map(serving.map((lane, i) => [lane, i]));
		const served = [...serving].sort((a, b) => atLevel.get(a)!.length - atLevel.get(b)!.length || index.get(a)! - index.get(b)!);
		lanesInTurn = [...lanesInTurn.filter((lane) => !atLevel.has(lane)), ...served];
	}
	return [...order, ...later];
}
