// The overview's realtime chart: jobs started, completed and failed per 5 seconds over the last 15
// minutes, the queue's depth now, and the wait before pickup per job type, minute by minute.
//
// Read from the rows themselves, through indexes the queue already has, so the hot path writes
// nothing more (no counters, no trigger): every job started in the window is either running (the
// processing partial index), back in line after a failed try (the pending partial index) or
// finished since it started (completed_at >= started_at: a range of job_queue_finished_at_idx).
// The window is 180 buckets, so the cost follows the last 15 minutes' jobs, not the history.
//
// What the counts mean: "started" counts each job by its latest start (a job claimed twice in the
// window counts once, in the later bucket); "failed" counts jobs that ended failed, not tries
// that will be retried (those are in the job's attempt log).
import { assertReader, type ConsoleAccess } from './access';
import type { Queryable } from '../db/client';
import type { ReadCache } from '../read-cache';

export const LIVE_BUCKET_SECONDS = 5;
export const LIVE_BUCKETS = 180; // 15 minutes
const LATENCY_STEP_SECONDS = 60;
const LATENCY_STEPS = 15;

export interface LiveBucket {
	/** Start of the bucket, ISO. */
	at: string;
	started: number;
	completed: number;
	failed: number;
}

export interface LiveLatency {
	job_type: string;
	/** Longest wait (due to started) among the jobs started in each minute, oldest first; null when none started. */
	minutes: (number | null)[];
	/** How long the oldest due job of the type has waited right now; null when none wait. */
	oldest_waiting_seconds: number | null;
	pending: number;
}

export interface LiveSeries {
	generatedAt: string;
	bucketSeconds: number;
	buckets: LiveBucket[];
	depth: { pending: number; due: number; processing: number };
	latency: LiveLatency[];
}

/** The window that ends with the bucket holding `at`: [start, end). */
export function liveWindow(at: Date): { start: Date; end: Date; first: number } {
	const last = Math.floor(at.getTime() / 1000 / LIVE_BUCKET_SECONDS);
	const first = last - LIVE_BUCKETS + 1;
	return { start: new Date(first * LIVE_BUCKET_SECONDS * 1000), end: new Date((last + 1) * LIVE_BUCKET_SECONDS * 1000), first };
}

/** Counts of one 5-second bucket, and the longest wait to start per job type among its starts. */
interface BucketTally {
	started: number;
	completed: number;
	failed: number;
	waits: Map<string, number>;
}

/** The tallies of the buckets in [from, end), by absolute bucket number. */
async function readBuckets(sql: Queryable, from: Date, end: Date): Promise<Map<number, BucketTally>> {
	// One pass over the rows (materialized once, read by both aggregates): each branch names its
	// status so it reads only its own partial index, and the bounds are parameters (not a CTE) so
	// the planner sees how narrow the completed_at range is. Pending rows are read for their start
	// only where a failed try left one (started_at is kept until the next claim).
	const rows = await sql<{ kind: 'bucket' | 'wait'; job_type: string | null; b: number; started: number; completed: number; failed: number; wait: number | null }[]>`
		with recent as materialized (
			select status, job_type, started_at, completed_at, scheduled_at from public.job_queue
			where status in ('completed', 'failed', 'cancelled') and completed_at >= ${from} and completed_at < ${end}
			union all
			select status, job_type, started_at, null, scheduled_at from public.job_queue where status = 'processing' and started_at >= ${from}
			union all
			select status, job_type, started_at, null, scheduled_at from public.job_queue where status = 'pending' and started_at >= ${from}
		),
		marks as (
			select floor(date_part('epoch', started_at) / ${LIVE_BUCKET_SECONDS})::bigint as b, 1 as started, 0 as completed, 0 as failed
			from recent where started_at >= ${from} and started_at < ${end}
			union all
			select floor(date_part('epoch', completed_at) / ${LIVE_BUCKET_SECONDS})::bigint, 0, (status = 'completed')::int, (status = 'failed')::int
			from recent where completed_at is not null and status <> 'cancelled'
		)
		select 'bucket' as kind, null as job_type, b::float8 as b, sum(started)::int as started, sum(completed)::int as completed,
		       sum(failed)::int as failed, null::float8 as wait
		from marks group by b
		union all
		select 'wait', job_type, floor(date_part('epoch', started_at) / ${LIVE_BUCKET_SECONDS})::float8, 0, 0, 0,
		       max(greatest(date_part('epoch', started_at - scheduled_at), 0))
		from recent
		where status <> 'pending' and started_at >= ${from} and started_at < ${end}
		group by 2, 3`;
	const tallies = new Map<number, BucketTally>();
	const tally = (b: number) => {
		let entry = tallies.get(b);
		if (!entry) tallies.set(b, (entry = { started: 0, completed: 0, failed: 0, waits: new Map() }));
		return entry;
	};
	for (const row of rows) {
		const entry = tally(row.b);
		if (row.kind === 'bucket') Object.assign(entry, { started: row.started, completed: row.completed, failed: row.failed });
		else if (row.wait !== null) entry.waits.set(row.job_type!, row.wait);
	}
	return tallies;
}

async function readDepth(sql: Queryable, now: Date) {
	const [row] = await sql<{ pending: number; due: number; processing: number; waiting: { job_type: string; pending: number; oldest: number | null }[] }[]>`
		select (select count(*)::int from public.job_queue where status = 'pending') as pending,
		       (select count(*)::int from public.job_queue where status = 'pending' and scheduled_at <= ${now}) as due,
		       (select count(*)::int from public.job_queue where status = 'processing') as processing,
		       (select coalesce(json_agg(w), '[]') from (
		          select job_type, count(*)::int as pending,
		                 max(date_part('epoch', ${now}::timestamptz - scheduled_at)) filter (where scheduled_at <= ${now}) as oldest
		          from public.job_queue where status = 'pending' group by job_type) w) as waiting`;
	return row!;
}

function assemble(now: Date, tallies: Map<number, BucketTally>, depth: Awaited<ReturnType<typeof readDepth>>): LiveSeries {
	const { first } = liveWindow(now);
	const { waiting, ...queueDepth } = depth;
	const perMinute = LATENCY_STEP_SECONDS / LIVE_BUCKET_SECONDS;
	const types = new Map<string, LiveLatency>();
	const typeOf = (job_type: string) => {
		let entry = types.get(job_type);
		if (!entry) types.set(job_type, (entry = { job_type, minutes: Array(LATENCY_STEPS).fill(null), oldest_waiting_seconds: null, pending: 0 }));
		return entry;
	};
	const buckets: LiveBucket[] = Array.from({ length: LIVE_BUCKETS }, (_, i) => {
		const t = tallies.get(first + i);
		for (const [type, wait] of t?.waits ?? []) {
			const minutes = typeOf(type).minutes;
			const m = Math.floor(i / perMinute);
			minutes[m] = Math.max(minutes[m] ?? 0, wait);
		}
		return { at: new Date((first + i) * LIVE_BUCKET_SECONDS * 1000).toISOString(), started: t?.started ?? 0, completed: t?.completed ?? 0, failed: t?.failed ?? 0 };
	});
	for (const row of waiting) Object.assign(typeOf(row.job_type), { pending: row.pending, oldest_waiting_seconds: row.oldest });
	const latency = [...types.values()].sort((x, y) => (x.job_type < y.job_type ? -1 : 1));
	return { generatedAt: now.toISOString(), bucketSeconds: LIVE_BUCKET_SECONDS, buckets, depth: queueDepth, latency };
}

const databaseNow = async (sql: Queryable) => (await sql<{ now: Date }[]>`select now() as now`)[0]!.now;

/** The whole window read afresh. `at` pins it (tests); by default the database's now(), so both clocks agree. */
export async function liveSeries(access: ConsoleAccess, sql: Queryable, at?: Date): Promise<LiveSeries> {
	assertReader(access);
	const now = at ?? (await databaseNow(sql));
	const { start, end } = liveWindow(now);
	const [tallies, depth] = await Promise.all([readBuckets(sql, start, end), readDepth(sql, now)]);
	return assemble(now, tallies, depth);
}

// A bucket is settled once it ended this long ago: a completion's timestamp is its transaction's
// start, so a slow commit can still land a few seconds in the past; later changes are not seen.
export const LIVE_SETTLE_SECONDS = 10;

/**
 * The same series kept up to date by reading only the unsettled tail: after the first poll a
 * process reads the last ~15 seconds of rows, not 15 minutes of them. What it keeps are counts as
 * they were seen: a start later overwritten by a reclaim stays counted where it happened.
 */
export class LiveTally {
	private settled = new Map<number, BucketTally>();
	/** Buckets below this number are settled. */
	private settledUntil = -Infinity;
	private turn: Promise<unknown> = Promise.resolve();

	read(access: ConsoleAccess, sql: Queryable, at?: Date): Promise<LiveSeries> {
		assertReader(access);
		// One refresh at a time: two could settle the same buckets twice.
		const next = this.turn.then(() => this.refresh(sql, at));
		this.turn = next.catch(() => {});
		return next;
	}

	private async refresh(sql: Queryable, at?: Date): Promise<LiveSeries> {
		const now = at ?? (await databaseNow(sql));
		const { first, end } = liveWindow(now);
		const from = Math.max(first, this.settledUntil);
		const [fresh, depth] = await Promise.all([readBuckets(sql, new Date(from * LIVE_BUCKET_SECONDS * 1000), end), readDepth(sql, now)]);
		const settleBefore = Math.floor((now.getTime() / 1000 - LIVE_SETTLE_SECONDS) / LIVE_BUCKET_SECONDS);
		for (const b of this.settled.keys()) if (b < first) this.settled.delete(b);
		for (const [b, tally] of fresh) if (b < settleBefore) this.settled.set(b, tally);
		this.settledUntil = Math.max(this.settledUntil, settleBefore, from);
		const all = new Map(this.settled);
		for (const [b, tally] of fresh) if (b >= settleBefore) all.set(b, tally);
		return assemble(now, all, depth);
	}
}

// Several open consoles poll every few seconds: they share one reading per second, and the
// process's tally (kept in its read cache, one per Services) reads only what changed since.
export const LIVE_MAX_AGE_MS = 1000;
export function cachedLiveSeries(access: ConsoleAccess, sql: Queryable, cache: ReadCache, maxAgeMs = LIVE_MAX_AGE_MS): Promise<LiveSeries> {
	assertReader(access);
	return cache.get('console.live', maxAgeMs, async () => {
		const tally = await cache.get('console.live.tally', Infinity, async () => new LiveTally());
		return tally.read(access, sql);
	});
}
