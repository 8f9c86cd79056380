// The console's alerts: the seed's "Set Up Alerts" conditions (6.6) plus stuck jobs and a silent
// worker, with configurable thresholds. Every app process evaluates them on a timer, and the overview
// on each load; alert_state (0010) decides atomically which evaluation saw a change, so a start or a
// clear is announced to ALERT_WEBHOOK_URL exactly once however many processes are running.
import type { Config } from '../config';
import type { Queryable } from '../db/client';
import { checkFairness, readFairness } from './fairness';

export const ALERT_KEYS = ['pending_backlog', 'failure_rate', 'no_completion', 'stuck_jobs', 'no_worker', 'unfair_wait'] as const;
export type AlertKey = (typeof ALERT_KEYS)[number];
export type AlertThresholds = Pick<Config['alerts'], 'pendingMax' | 'failureRate' | 'noCompletionSeconds' | 'noWorkerSeconds'>;

/** What the conditions are computed from, read in one query (ages by the database's clock). */
export interface AlertInputs {
	pending: number;
	created_last_hour: number;
	failed_last_hour: number;
	/** Longest wait of a due pending job whose type is not paused (paused jobs wait on purpose). */
	oldest_due_seconds: number | null;
	last_completion_seconds: number | null;
	stuck: number;
	/** stuck_job_threshold(): how long a running job may run before it counts as stuck. */
	stuck_after_seconds: number;
	worker_seen_seconds: number | null;
}

export interface AlertCheck {
	key: AlertKey;
	firing: boolean;
	title: string;
	detail: string;
	/** The console page where an operator acts on it. */
	href: string;
}

export interface ActiveAlert extends AlertCheck {
	since: Date;
	/** How long it has been active, by the database's clock. */
	active_seconds: number;
}

export interface AlertEvaluation {
	checks: AlertCheck[];
	active: ActiveAlert[];
	changes: { key: AlertKey; change: 'started' | 'cleared' }[];
	/** Webhook deliveries run after the evaluation returns; resolves to how many were sent. */
	delivered: Promise<number>;
}

export async function readAlertInputs(sql: Queryable): Promise<AlertInputs> {
	// Each part reads an index: the pending and processing partial indexes, the newest end of
	// job_queue_finished_at_idx, one hour of job_queue_created_at_id_idx (listing every status
	// keeps that an index-only range scan), and the newest worker_runs.last_seen_at.
	const [row] = await sql<AlertInputs[]>`
		select
			(select count(*)::int from public.job_queue where status = 'pending') as pending,
			h.created_last_hour, h.failed_last_hour,
			(select date_part('epoch', now() - min(j.scheduled_at)) from public.job_queue j
			  where j.status = 'pending' and j.scheduled_at <= now()
			    and not exists (select 1 from public.job_queue_paused_types p where p.job_type = j.job_type)) as oldest_due_seconds,
			(select date_part('epoch', now() - max(completed_at)) from public.job_queue where status = 'completed') as last_completion_seconds,
			(select count(*)::int from public.stuck_jobs) as stuck,
			date_part('epoch', public.stuck_job_threshold())::int as stuck_after_seconds,
			(select date_part('epoch', now() - max(last_seen_at)) from public.worker_runs) as worker_seen_seconds
		from (
			select count(*)::int as created_last_hour, count(*) filter (where status = 'failed')::int as failed_last_hour
			from public.job_queue
			where status in ('pending', 'processing', 'completed', 'failed', 'cancelled')
			  and created_at > now() - interval '1 hour'
		) h`;
	return row!;
}

/** "45 seconds", "5 minutes", "2 hours". */
export function span(seconds: number): string {
	const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
	if (seconds < 90) return unit(Math.round(seconds), 'second');
	if (seconds < 90 * 60) return unit(Math.round(seconds / 60), 'minute');
	if (seconds < 36 * 3600) return unit(Math.round(seconds / 3600), 'hour');
	return unit(Math.round(seconds / 86400), 'day');
}

const percent = (fraction: number) => `${Math.round(fraction * 1000) / 10}%`;

/** The five conditions, firing or not. Comparisons are the seed's: strictly above the threshold. */
export function checkAlerts(inputs: AlertInputs, t: AlertThresholds): AlertCheck[] {
	const rate = inputs.created_last_hour > 0 ? inputs.failed_last_hour / inputs.created_last_hour : 0;
	const noCompletion = (inputs.last_completion_seconds ?? Infinity) > t.noCompletionSeconds;
	const waitedLong = (inputs.oldest_due_seconds ?? 0) > t.noCompletionSeconds;
	const lastCompletion =
		inputs.last_completion_seconds === null ? 'No job has completed yet' : `The last job completed ${span(inputs.last_completion_seconds)} ago`;
	return [
		{
			key: 'pending_backlog',
			firing: inputs.pending > t.pendingMax,
			title: `More than ${t.pendingMax} jobs waiting`,
			detail: `${inputs.pending} jobs are pending.`,
			href: '/admin/jobs?status=pending'
		},
		{
			key: 'failure_rate',
			firing: rate > t.failureRate,
			title: `Failure rate above ${percent(t.failureRate)} in the last hour`,
			detail: `${inputs.failed_last_hour} of ${inputs.created_last_hour} jobs created in the last hour failed (${percent(rate)}).`,
			href: '/admin/failures'
		},
		{
			// "While jobs wait": a job must have been due for the whole period too, so the first job
			// after a quiet night does not raise it before any worker had a chance.
			key: 'no_completion',
			firing: noCompletion && waitedLong,
			title: `No job completed for ${span(t.noCompletionSeconds)} while jobs wait`,
			detail: `${lastCompletion}; the oldest waiting job has waited ${span(inputs.oldest_due_seconds ?? 0)}.`,
			href: '/admin/worker'
		},
		{
			key: 'stuck_jobs',
			firing: inputs.stuck > 0,
			title: 'Stuck jobs',
			detail: `${inputs.stuck} running job${inputs.stuck === 1 ? ' has' : 's have'} an expired lease or ran for over ${span(inputs.stuck_after_seconds)}.`,
			href: '/admin/stuck'
		},
		{
			key: 'no_worker',
			firing: (inputs.worker_seen_seconds ?? Infinity) > t.noWorkerSeconds,
			title: `No worker seen for ${span(t.noWorkerSeconds)}`,
			detail:
				inputs.worker_seen_seconds === null
					? 'No worker has ever run: start one, or set up the cron call.'
					: `A worker was last seen ${span(inputs.worker_seen_seconds)} ago.`,
			href: '/admin/worker'
		}
	];
}

/**
 * Stores each condition's state and returns the changes this call made. A start is a conditional
 * upsert (only where not already active), a clear a conditional update (only where active): when
 * two processes evaluate at once, the row lock makes the second re-check and find nothing to change.
 */
export async function recordAlertStates(sql: Queryable, checks: AlertCheck[]): Promise<AlertEvaluation['changes']> {
	// The '' never matches a key; it keeps the array non-empty, since postgres.js cannot type an empty one.
	const rows = await sql<{ key: AlertKey; change: 'started' | 'cleared' }[]>`
		with input as (
			select alert_key, alert_key = any(${['', ...checks.filter((c) => c.firing).map((c) => c.key)]}::text[]) as firing, title, detail
			from unnest(${checks.map((c) => c.key)}::text[], ${checks.map((c) => c.title)}::text[], ${checks.map((c) => c.detail)}::text[])
			  as i(alert_key, title, detail)
		),
		started as (
			insert into public.alert_state as a (alert_key, active, title, detail, started_at, changed_at)
			select alert_key, true, title, detail, now(), now() from input where firing
			on conflict (alert_key) do update
			  set active = true, title = excluded.title, detail = excluded.detail,
			      started_at = now(), cleared_at = null, changed_at = now()
			  where not a.active
			returning a.alert_key as key, 'started' as change
		),
		cleared as (
			update public.alert_state a set active = false, cleared_at = now(), changed_at = now()
			from input i
			where a.alert_key = i.alert_key and not i.firing and a.active
			returning a.alert_key as key, 'cleared' as change
		)
		select * from started union all select * from cleared`;
	return rows.map((r) => ({ key: r.key, change: r.change }));
}

interface Announcement {
	alert_key: string;
	active: boolean;
	title: string | null;
	detail: string | null;
	started_at: Date | null;
	cleared_at: Date | null;
}

export function announcementText(a: Announcement, consoleUrl: string | null): string {
	const title = a.title ?? a.alert_key;
	if (a.active) return `🔴 Picture alert: ${title}. ${a.detail ?? ''}${consoleUrl ? ` ${consoleUrl}` : ''}`.trim();
	const lasted =
		a.started_at && a.cleared_at ? ` after ${span((a.cleared_at.getTime() - a.started_at.getTime()) / 1000)}` : '';
	return `✅ Resolved: ${title}${lasted}.`;
}

export interface DeliveryOptions {
	webhookUrl: string;
	/** The app's public address, for a link to the console in the message. */
	publicBaseUrl?: string | null;
	fetch?: typeof fetch;
	timeoutMs?: number;
}

/**
 * Announces every change the webhook has not heard yet. Each is claimed under a 30-second lease
 * first (a conditional update), so only one process sends it; a failed send keeps the change
 * pending and backs off (30 s, 1 min, 2 min ... at most 15 min) before any process tries again.
 */
export async function deliverAlertNotifications(sql: Queryable, options: DeliveryOptions): Promise<number> {
	const claimed = await sql<Announcement[]>`
		update public.alert_state
		set notify_claimed_until = now() + interval '30 seconds', notify_attempts = notify_attempts + 1
		where notified_active is distinct from active
		  and (active or notified_active)
		  and (notify_claimed_until is null or notify_claimed_until <= now())
		returning alert_key, active, title, detail, started_at, cleared_at`;
	const doFetch = options.fetch ?? fetch;
	const consoleUrl = options.publicBaseUrl ? `${options.publicBaseUrl}/admin` : null;
	let sent = 0;
	for (const announcement of claimed) {
		try {
			const response = await doFetch(options.webhookUrl, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ text: announcementText(announcement, consoleUrl) }),
				signal: AbortSignal.timeout(options.timeoutMs ?? 5000)
			});
			await response.body?.cancel().catch(() => {});
			if (!response.ok) throw new Error(`the webhook answered ${response.status}`);
			await sql`
				update public.alert_state
				set notified_active = ${announcement.active}, notify_claimed_until = null, notify_attempts = 0, notify_error = null
				where alert_key = ${announcement.alert_key}`;
			sent++;
		} catch (error) {
			await sql`
				update public.alert_state
				set notify_claimed_until = now() + least(interval '15 minutes', interval '30 seconds' * power(2, greatest(notify_attempts, 1) - 1)),
				    notify_error = ${(error as Error).message.slice(0, 500)}
				where alert_key = ${announcement.alert_key}`;
		}
	}
	return sent;
}

/** Evaluates, records and (when a webhook is configured) announces, in the background, what changed. */
export async function evaluateAlerts(
	sql: Queryable,
	config: Pick<Config, 'alerts' | 'publicBaseUrl'>,
	options: { fetch?: typeof fetch; log?: (message: string) => void } = {}
): Promise<AlertEvaluation> {
	// Fair share (fairness.ts) is judged against recent waits, not a fixed threshold, so it is read apart.
	const checks = [...checkAlerts(await readAlertInputs(sql), config.alerts), checkFairness(await readFairness(sql, 1), config.alerts)];
	const changes = await recordAlertStates(sql, checks);
	for (const { key, change } of changes) options.log?.(`alert ${change}: ${checks.find((c) => c.key === key)?.title ?? key}`);
	const sinceRows = await sql<{ alert_key: AlertKey; started_at: Date; seconds: number }[]>`
		select alert_key, started_at, date_part('epoch', now() - started_at) as seconds
		from public.alert_state where active and alert_key = any(${[...ALERT_KEYS]}::text[])`;
	const since = new Map(sinceRows.map((r) => [r.alert_key, r]));
	const active = checks
		.filter((c) => c.firing)
		.map((c) => ({ ...c, since: since.get(c.key)?.started_at ?? new Date(), active_seconds: since.get(c.key)?.seconds ?? 0 }));
	const webhookUrl = config.alerts.webhookUrl;
	const delivered = webhookUrl
		? deliverAlertNotifications(sql, { webhookUrl, publicBaseUrl: config.publicBaseUrl, fetch: options.fetch }).catch((error) => {
				options.log?.(`alert delivery failed: ${(error as Error).message}`);
				return 0;
			})
		: Promise.resolve(0);
	return { checks, active, changes, delivered };
}

/** Evaluates the alerts every ALERT_CHECK_SECONDS in this process (runtime.ts starts it), never two at once. */
export function startAlertMonitor(sql: Queryable, config: Pick<Config, 'alerts' | 'publicBaseUrl'>, log: (message: string) => void) {
	let running: Promise<void> | null = null;
	const tick = () => {
		running ??= evaluateAlerts(sql, config, { log })
			.then((evaluation) => evaluation.delivered)
			.then(
				() => {},
				(error) => log(`alert evaluation failed: ${(error as Error).message}`)
			)
			.finally(() => {
				running = null;
			});
	};
	const timer = setInterval(tick, config.alerts.checkSeconds * 1000);
	timer.unref(); // never what keeps a process (the worker CLI, a test) alive
	tick();
	return {
		async stop(): Promise<void> {
			clearInterval(timer);
			await running;
		}
	};
}
