// GET /api/metrics: the queue in Prometheus' text exposition format (version 0.0.4).
//
// The counters and the duration histogram are derived from the table, so they count the jobs it
// still holds: purging finished jobs (or retrying failed ones) lowers them, which Prometheus reads
// as a counter reset. Counting every retained job on each scrape would walk the whole history, so
// the finished jobs are counted in two parts: those finished before a watermark (counted once, then
// kept in memory and recounted every BASE_MAX_AGE_MS so purges show up), plus the live tail
// finished since, a short range of job_queue_finished_at_idx. Finished jobs do not change, so the
// sum is exact but for purges and retries of old jobs in between recounts.
import type { Queryable } from '../db/client';
import { JOB_STATUSES } from '../queue/types';
import { ALERT_KEYS } from './alerts';
import { ReadCache } from '../read-cache';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Upper bounds (seconds) of the job duration histogram: image models take from ~1 s to minutes. */
export const DURATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600] as const;
const WORKER_TRIGGERS = ['cron', 'continuous', 'manual'] as const;
const BASE_MAX_AGE_MS = 10 * 60_000;

/** Finished jobs of one type and status; for completed ones, per duration bucket (index into DURATION_BUCKETS, or its length for +Inf). */
interface FinishedRow {
	job_type: string;
	status: string;
	bucket: number | null;
	n: number;
	seconds: number;
}

async function finishedRows(sql: Queryable, range: { before: Date } | { since: Date }): Promise<FinishedRow[]> {
	const bounds = [...DURATION_BUCKETS];
	// width_bucket counts the bounds <= d; Prometheus' "le" wants the bounds < d, hence the correction at equality.
	return sql<FinishedRow[]>`
		select job_type, status, bucket, count(*)::float8 as n, coalesce(sum(d), 0)::float8 as seconds
		from (
			select job_type, status, d,
			       case when status = 'completed' then width_bucket(d, ${bounds}::float8[]) - (d = any(${bounds}::float8[]))::int end as bucket
			from (
				select job_type, status, date_part('epoch', completed_at - started_at) as d
				from public.job_queue
				where status in ('completed', 'failed', 'cancelled')
				  and ${'before' in range ? sql`completed_at < ${range.before}` : sql`completed_at >= ${range.since}`}
			) finished
		) bucketed
		group by job_type, status, bucket`;
}

interface FinishedBase {
	watermark: Date;
	rows: FinishedRow[];
}

/** Everything finished before a watermark a minute behind now, counted in one pass. */
async function countFinishedBase(sql: Queryable): Promise<FinishedBase> {
	// A minute behind now: a job finishing in a transaction still open at this moment has a
	// completed_at before the watermark yet is invisible to the base count; a minute covers it.
	const [row] = await sql<{ watermark: Date }[]>`select now() - interval '1 minute' as watermark`;
	return { watermark: row!.watermark, rows: await finishedRows(sql, { before: row!.watermark }) };
}

async function finishedTotals(sql: Queryable, cache: ReadCache, baseMaxAgeMs: number): Promise<FinishedRow[]> {
	// A stale base is still exact with its own tail: the tail counts everything since its watermark.
	const base = await cache.get('metrics.finished_base', baseMaxAgeMs, () => countFinishedBase(sql));
	const tail = await finishedRows(sql, { since: base.watermark });
	return [...base.rows, ...tail];
}

export interface MetricsSnapshot {
	live: { job_type: string; status: string; n: number }[];
	finished: FinishedRow[];
	oldestPendingSeconds: number | null;
	workerRuns: { trigger: string; n: number }[];
	workerLastSeenSeconds: number | null;
	activeAlerts: string[];
}

export async function readMetrics(sql: Queryable, options: { cache?: ReadCache; baseMaxAgeMs?: number } = {}): Promise<MetricsSnapshot> {
	const [live, finished, [now], workerRuns, alerts] = await Promise.all([
		sql<{ job_type: string; status: string; n: number }[]>`
			select job_type, status, count(*)::float8 as n from public.job_queue where status = 'pending' group by 1, 2
			union all
			select job_type, status, count(*)::float8 from public.job_queue where status = 'processing' group by 1, 2`,
		// Without the process's cache (a script, a test), the base is counted afresh.
		finishedTotals(sql, options.cache ?? new ReadCache(), options.baseMaxAgeMs ?? BASE_MAX_AGE_MS),
		sql<{ oldest: number | null; seen: number | null }[]>`
			select (select date_part('epoch', now() - min(scheduled_at)) from public.job_queue
			         where status = 'pending' and scheduled_at <= now()) as oldest,
			       (select date_part('epoch', now() - max(last_seen_at)) from public.worker_runs) as seen`,
		sql<{ trigger: string; n: number }[]>`select trigger, count(*)::float8 as n from public.worker_runs group by trigger`,
		sql<{ alert_key: string }[]>`select alert_key from public.alert_state where active`
	]);
	return {
		live,
		finished,
		oldestPendingSeconds: now!.oldest,
		workerRuns,
		workerLastSeenSeconds: now!.seen,
		activeAlerts: alerts.map((a) => a.alert_key)
	};
}

/** A label value as the format wants it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
	return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
	if (Number.isNaN(value)) return 'NaN';
	if (value === Infinity) return '+Inf';
	if (value === -Infinity) return '-Inf';
	return String(value);
}

function labels(pairs: Record<string, string>): string {
	const parts = Object.entries(pairs).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
	return parts.length ? `{${parts.join(',')}}` : '';
}

class Exposition {
	private lines: string[] = [];
	family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): this {
		this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
		return this;
	}
	sample(name: string, pairs: Record<string, string>, value: number): this {
		this.lines.push(`${name}${labels(pairs)} ${formatValue(value)}`);
		return this;
	}
	toString(): string {
		return `${this.lines.join('\n')}\n`;
	}
}

export function renderMetrics(m: MetricsSnapshot): string {
	const types = [...new Set([...m.live, ...m.finished].map((r) => r.job_type))].sort();
	const count = (type: string, status: string) =>
		[...m.live, ...m.finished].filter((r) => r.job_type === type && r.status === status).reduce((sum, r) => sum + r.n, 0);
	const out = new Exposition();

	out.family('picture_queue_jobs', 'gauge', 'Jobs in the queue table by type and status (finished ones until purged).');
	for (const type of types) for (const status of JOB_STATUSES) out.sample('picture_queue_jobs', { job_type: type, status }, count(type, status));

	out.family('picture_queue_oldest_pending_seconds', 'gauge', 'How long the longest-waiting due pending job has waited (0 when none wait).');
	out.sample('picture_queue_oldest_pending_seconds', {}, m.oldestPendingSeconds ?? 0);

	out.family('picture_jobs_completed_total', 'counter', 'Completed jobs still in the table; purging old jobs lowers it.');
	for (const type of types) out.sample('picture_jobs_completed_total', { job_type: type }, count(type, 'completed'));
	out.family('picture_jobs_failed_total', 'counter', 'Failed jobs still in the table; purging or retrying them lowers it.');
	for (const type of types) out.sample('picture_jobs_failed_total', { job_type: type }, count(type, 'failed'));

	out.family('picture_job_duration_seconds', 'histogram', 'Run time (started to completed) of the completed jobs still in the table.');
	for (const type of types) {
		const rows = m.finished.filter((r) => r.job_type === type && r.status === 'completed');
		let cumulative = 0;
		DURATION_BUCKETS.forEach((le, index) => {
			cumulative += rows.filter((r) => r.bucket === index).reduce((sum, r) => sum + r.n, 0);
			out.sample('picture_job_duration_seconds_bucket', { job_type: type, le: String(le) }, cumulative);
		});
		const total = rows.reduce((sum, r) => sum + r.n, 0);
		out.sample('picture_job_duration_seconds_bucket', { job_type: type, le: '+Inf' }, total);
		out.sample('picture_job_duration_seconds_sum', { job_type: type }, rows.reduce((sum, r) => sum + r.seconds, 0));
		out.sample('picture_job_duration_seconds_count', { job_type: type }, total);
	}

	out.family('picture_worker_runs_total', 'counter', 'Worker runs recorded in worker_runs, by what started them.');
	for (const trigger of WORKER_TRIGGERS) {
		out.sample('picture_worker_runs_total', { trigger }, m.workerRuns.find((r) => r.trigger === trigger)?.n ?? 0);
	}

	out.family('picture_worker_last_seen_seconds', 'gauge', 'Seconds since any worker was last seen (+Inf when none ever ran).');
	out.sample('picture_worker_last_seen_seconds', {}, m.workerLastSeenSeconds ?? Infinity);

	out.family('picture_alert_active', 'gauge', 'Console alerts: 1 while the condition holds (as last evaluated), else 0.');
	for (const alert of ALERT_KEYS) out.sample('picture_alert_active', { alert }, m.activeAlerts.includes(alert) ? 1 : 0);
	return out.toString();
}

/** What this one process holds: the figures that show a leak (memory, open SSE subscriptions). */
export interface ProcessSnapshot {
	residentBytes: number;
	heapUsedBytes: number;
	sseSubscribers: number;
}

export function readProcessMetrics(sseSubscribers: number): ProcessSnapshot {
	const memory = process.memoryUsage();
	return { residentBytes: memory.rss, heapUsedBytes: memory.heapUsed, sseSubscribers };
}

export function renderProcessMetrics(p: ProcessSnapshot): string {
	const out = new Exposition();
	out.family('process_resident_memory_bytes', 'gauge', 'Resident memory of the process answering this scrape.');
	out.sample('process_resident_memory_bytes', {}, p.residentBytes);
	out.family('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use by the process answering this scrape.');
	out.sample('nodejs_heap_size_used_bytes', {}, p.heapUsedBytes);
	out.family('picture_sse_subscribers', 'gauge', 'Live progress subscriptions (open SSE streams) in the process answering this scrape.');
	out.sample('picture_sse_subscribers', {}, p.sseSubscribers);
	return out.toString();
}
