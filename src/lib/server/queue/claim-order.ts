// The order the workers will claim the pending jobs in, worked out from one read of the queue
// instead of by claiming: what a queued generation's place in line is computed from. It follows
// 0025's fair-share rule exactly for claims of one job at a time (how workers claim a free slot):
//   * the highest due priority goes first; within it, lanes (a job's created_by, or the system
//     lane) take turns in (served_seq, lane) order, each giving its oldest job (scheduled_at, id);
//   * a lane that is served moves to the back; lanes with no work at that priority keep their place.
//   * (0032) a job whose concurrency key has no room (its model is full) is passed over: the lane
//     gives its next job instead. Claims of a key count its room down, as the claim does.
// Jobs passed over wait for a slot: they come after every job claimable now, in the order the same
// rule gives them once their keys open (from the lane turns the claims before them leave). Jobs that
// are not due yet (a retry's backoff, a snooze) come last, in the order they fall due: where they
// will actually land depends on what is queued, and what frees, by then.
import type { Queryable } from '../db/client';

export const SYSTEM_LANE = '00000000-0000-0000-0000-000000000000';

export interface PendingJob {
	id: string;
	job_type: string;
	lane: string;
	priority: number;
	/** Microseconds since the epoch: Postgres' own precision, so ties break as the claim breaks them. */
	scheduled_us: number;
	/** The slot it needs before it can run (0032); null once it holds one, or for jobs that need none. */
	concurrency_key: string | null;
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
	/** Room per limited concurrency key, as the claim reads it (0 or less: closed); other keys have no limit. */
	rooms: Map<string, number>;
}

type JobNames = Pick<PendingJob, 'generation_id' | 'model_id'>;

/**
 * Snapshots of the pending queue: one index read of the pending jobs (plain rows, the fewest
 * columns: building JSON per row in SQL cost five times the read), the lane turns and the keys'
 * rooms, all in one statement. What a job's payload names never changes, so it is read once per
 * job, not at every snapshot.
 */
export class QueueLineReader {
	private names = new Map<string, JobNames>();

	constructor(private readonly sql: Queryable) {}

	async read(): Promise<QueueLine> {
		// One statement, so one snapshot: a claim committed between separate reads would show its job
		// still in line but its lane already served (a place that steps back and forth for a moment).
		// The lane turns, the key rooms and the clock ride on one extra row, as JSON.
		const all = await this.sql<(Omit<PendingJob, keyof JobNames> & { state: string | null })[]>`
			select j.id, j.job_type, coalesce(j.created_by, ${SYSTEM_LANE}::uuid) as lane, j.priority, j.concurrency_key,
			       (extract(epoch from j.scheduled_at) * 1000000)::float8 as scheduled_us, null::text as state
			from public.job_queue j
			where j.status = 'pending'
			  and j.job_type <> all (array(select p.job_type from public.job_queue_paused_types p))
			union all
			select null, null, null, null, null, (extract(epoch from now()) * 1000000)::float8,
			       json_build_object(
			         'lanes', (select coalesce(json_agg(json_build_array(l.lane, l.served_seq::text)), '[]') from public.job_queue_lanes l),
			         'rooms', (select coalesce(json_agg(json_build_array(l.concurrency_key,
			                     l.free_slots - (select count(*) from public.job_queue j
			                                     where j.status = 'processing' and j.concurrency_key = l.concurrency_key))), '[]')
			                   from public.job_queue_concurrency_limits l))::text`;
		const extra = all.find((row) => row.state !== null)!;
		const rows: Omit<PendingJob, keyof JobNames>[] = all
			.filter((row) => row.state === null)
			.map(({ state: _state, ...row }) => row);
		const state = JSON.parse(extra.state!) as { lanes: Array<[string, string]>; rooms: Array<[string, number]> };
		const unknown = rows.filter((row) => !this.names.has(row.id)).map((row) => row.id);
		if (unknown.length > 0) {
			const named = await this.sql<(JobNames & { id: string })[]>`
				select j.id, j.payload->>'generation_id' as generation_id, j.payload->>'model_id' as model_id
				from public.job_queue j where j.id = any(${unknown}::uuid[])`;
			for (const row of named) this.names.set(row.id, { generation_id: row.generation_id, model_id: row.model_id });
		}
		// Only jobs still pending stay remembered.
		const names = new Map<string, JobNames>();
		const jobs = rows.map((row) => {
			const known = this.names.get(row.id) ?? { generation_id: null, model_id: null };
			names.set(row.id, known);
			return { ...row, ...known };
		});
		this.names = names;
		const turns = new Map(state.lanes.map(([lane, seq]) => [lane, BigInt(seq)]));
		return { jobs, lanes: turns, now_us: extra.scheduled_us, rooms: new Map(state.rooms) };
	}
}

/** One snapshot, for a caller that reads once. */
export function readQueueLine(sql: Queryable): Promise<QueueLine> {
	return new QueueLineReader(sql).read();
}

const byAge = (a: PendingJob, b: PendingJob) =>
	a.scheduled_us - b.scheduled_us || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The line in its three parts: claimable now, waiting for a slot of their key, not due yet. */
export interface ClaimLine {
	now: PendingJob[];
	waiting: PendingJob[];
	later: PendingJob[];
}

/**
 * The pending jobs in the order they will be claimed. Cost: a sort of the due jobs plus one step per
 * job, whatever the lanes hold (each priority level is served in rounds, one job per lane a round).
 */
export function claimOrder(line: QueueLine): PendingJob[] {
	const { now, waiting, later } = claimLine(line);
	return [...now, ...waiting, ...later];
}

export function claimLine(line: QueueLine): ClaimLine {
	const due = line.jobs.filter((job) => job.scheduled_us <= line.now_us);
	const later = line.jobs.filter((job) => job.scheduled_us > line.now_us).sort(byAge);

	// Lanes in turn order. Postgres orders uuids bytewise, which is the order of their lowercase text.
	const turn = [...new Set([...line.lanes.keys(), ...due.map((job) => job.lane)])].sort((a, b) => {
		const sa = line.lanes.get(a) ?? 0n;
		const sb = line.lanes.get(b) ?? 0n;
		return sa < sb ? -1 : sa > sb ? 1 : a < b ? -1 : a > b ? 1 : 0;
	});
	const first = serve(due, turn, new Map(line.rooms));
	const then = serve(first.passed, first.turn, null);
	return { now: first.order, waiting: then.order, later };
}

/**
 * Serves the jobs as claims of one would, from the lane turn order given; with rooms, a job whose key
 * has no room left is passed over (and returned), without ending its lane's turn.
 */
function serve(due: PendingJob[], start: string[], rooms: Map<string, number> | null) {
	const open = (job: PendingJob) => {
		const room = rooms && job.concurrency_key !== null ? rooms.get(job.concurrency_key) : undefined;
		return room === undefined || room > 0;
	};
	const take = (job: PendingJob) => {
		const room = rooms && job.concurrency_key !== null ? rooms.get(job.concurrency_key) : undefined;
		if (room !== undefined) rooms!.set(job.concurrency_key!, room - 1);
	};

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
	const passed: PendingJob[] = [];
	let turn = [...start, ...new Set(due.map((job) => job.lane).filter((lane) => !start.includes(lane)))];
	for (const priority of [...levels.keys()].sort((a, b) => b - a)) {
		const atLevel = levels.get(priority)!;
		for (const jobs of atLevel.values()) jobs.sort(byAge);
		// Rounds: every lane with an open job left gives one, in turn order (serving keeps the order).
		const next = new Map<string, number>();
		const served = new Map<string, number>();
		let active = turn.filter((lane) => atLevel.has(lane));
		while (active.length > 0) {
			const still: string[] = [];
			for (const lane of active) {
				const jobs = atLevel.get(lane)!;
				let i = next.get(lane) ?? 0;
				while (i < jobs.length && !open(jobs[i]!)) passed.push(jobs[i++]!);
				if (i < jobs.length) {
					take(jobs[i]!);
					order.push(jobs[i++]!);
					served.set(lane, (served.get(lane) ?? 0) + 1);
				}
				next.set(lane, i);
				if (i < jobs.length) still.push(lane);
			}
			active = still;
		}
		// Lanes not served here keep their place in front; the served ones follow in the order they
		// were last served: fewer jobs first, then their turn order.
		const index = new Map(turn.map((lane, i) => [lane, i]));
		const servedLanes = turn.filter((lane) => served.has(lane));
		servedLanes.sort((a, b) => served.get(a)! - served.get(b)! || index.get(a)! - index.get(b)!);
		turn = [...turn.filter((lane) => !served.has(lane)), ...servedLanes];
	}
	return { order, passed, turn };
}
