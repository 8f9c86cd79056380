import { failureView, type FailureView } from './failures';
import type { Standing } from './positions';

import type { GenerationStatus } from '../../generation-status';

export { GENERATION_STATUSES, TERMINAL_STATUSES, type GenerationStatus } from '../../generation-status';

export interface GenerationRow {
	id: string;
	user_id: string;
	prompt: string;
	negative_prompt: string | null;
	model_id: string;
	width: number;
	height: number;
	seed: string;
	params: Record<string, unknown>;
	status: GenerationStatus;
	progress: number;
	job_id: string | null;
	prediction_id: string | null;
	image_path: string | null;
	thumbnail_path: string | null;
	image_content_type: string | null;
	image_bytes: number | null;
	predict_time_seconds: string | null;
	cost_usd: string | null;
	error_message: string | null;
	/** Why it failed (or why its last attempt failed, while it waits to retry): see failures.ts. */
	failure_class: string | null;
	/** While queued after a failed attempt: when the next attempt is due. */
	retry_at: Date | null;
	attempts_used: number;
	max_attempts: number;
	/** When the current (or last) attempt started rendering; started_at is the first. */
	run_started_at: Date | null;
	/** Queued while the operators have paused generating. */
	queue_paused: boolean;
	idempotency_key: string | null;
	/** Set when the generation is one picture of a group (0028), with its place in it. */
	group_id: string | null;
	group_position: number | null;
	history: Array<{ status: GenerationStatus; at: string }>;
	event_seq: string;
	created_at: Date;
	started_at: Date | null;
	completed_at: Date | null;
	updated_at: Date;
}

export interface UserLimits {
	can_generate: boolean;
	daily_limit: number;
	daily_used: number;
	hourly_limit: number;
	hourly_used: number;
	retry_after_seconds: number | null;
	/** A limit of 0: this account may not generate at all (until an administrator lifts it). */
	blocked?: boolean;
	/** Which money budget ran out, if one did (can_generate is then false until it resets). */
	budget_exhausted?: 'daily' | 'monthly' | null;
	daily_budget_usd?: number | null;
	daily_spent_usd?: number;
	daily_remaining_usd?: number | null;
	daily_budget_resets_at?: string;
	monthly_budget_usd?: number | null;
	monthly_spent_usd?: number;
	monthly_remaining_usd?: number | null;
	monthly_budget_resets_at?: string;
}

/** What the API returns for a generation: no storage paths, the image as app URLs. */
export interface GenerationView {
	id: string;
	prompt: string;
	negative_prompt: string | null;
	model_id: string;
	width: number;
	height: number;
	seed: number;
	status: GenerationStatus;
	progress: number;
	/** A sentence for the user (never a raw error): the failure's title, and its detail where one was written for people. */
	error: string | null;
	failure: FailureView | null;
	/** Waiting after a failed attempt: when the next one is due and how many were used. */
	retry: { at: string; attempt: number; max_attempts: number; reason: string | null } | null;
	/** Waiting because the operators paused generating. */
	paused: boolean;
	image_url: string | null;
	thumbnail_url: string | null;
	image_bytes: number | null;
	predict_time_seconds: number | null;
	/** The group it belongs to (one prompt, several pictures), or null for a single generation. */
	group_id: string | null;
	/** What it cost in US dollars, once completed with a known price; null until then. */
	cost_usd: number | null;
	/**
	 * While it waits in line (queued, not paused, not waiting out a retry): how many jobs are claimed
	 * before it, plus one, and when it should start and finish. Null otherwise.
	 */
	queue_position: number | null;
	estimated_start_at: string | null;
	estimated_done_at: string | null;
	/**
	 * Queued, and a worker has already claimed its job: it is about to render (no place in line any
	 * more). False otherwise.
	 */
	starting: boolean;
	/** The server's clock when this view was made (the clock the estimates are on): count down from it, not the device's. */
	server_time: string;
	history: Array<{ status: GenerationStatus; at: string }>;
	event_seq: number;
	created_at: string;
	started_at: string | null;
	run_started_at: string | null;
	completed_at: string | null;
}

/** Whether a place in line means anything for this row: queued, and neither paused nor backing off. */
export function waitsInLine(row: GenerationRow): boolean {
	return row.status === 'queued' && !row.queue_paused && (!row.retry_at || row.retry_at.getTime() <= Date.now());
}

/** The API's view of a row; standing and now from the queue positions tracker where it is known. */
export function toView(row: GenerationRow, standing: Standing = null, now: number = Date.now()): GenerationView {
	const done = row.status === 'completed' && row.image_path !== null;
	const failure = row.status === 'queued' ? null : failureView(row.status, row.failure_class);
	const waiting = waitsInLine(row);
	const inLine = waiting && typeof standing === 'object' ? standing : null;
	return {
		id: row.id,
		prompt: row.prompt,
		negative_prompt: row.negative_prompt,
		model_id: row.model_id,
		width: row.width,
		height: row.height,
		seed: Number(row.seed),
		status: row.status,
		progress: row.progress,
		error: failure ? [failure.title, row.error_message].filter(Boolean).join(' ') : null,
		failure,
		retry:
			row.status === 'queued' && row.retry_at
				? {
						at: row.retry_at.toISOString(),
						attempt: row.attempts_used + 1,
						max_attempts: row.max_attempts,
						reason: failureView('failed', row.failure_class)?.title ?? null
					}
				: null,
		paused: row.status === 'queued' && row.queue_paused,
		image_url: done ? `/api/generations/${row.id}/image` : null,
		thumbnail_url: done && row.thumbnail_path ? `/api/generations/${row.id}/image?size=thumb` : null,
		image_bytes: row.image_bytes,
		predict_time_seconds: row.predict_time_seconds === null ? null : Number(row.predict_time_seconds),
		group_id: row.group_id ?? null,
		cost_usd: row.cost_usd == null ? null : Number(row.cost_usd),
		queue_position: inLine?.queue_position ?? null,
		estimated_start_at: inLine?.estimated_start_at ?? null,
		estimated_done_at: inLine?.estimated_done_at ?? null,
		starting: waiting && standing === 'starting',
		server_time: new Date(now).toISOString(),
		history: row.history,
		event_seq: Number(row.event_seq),
		created_at: row.created_at.toISOString(),
		started_at: row.started_at?.toISOString() ?? null,
		run_started_at: row.run_started_at?.toISOString() ?? null,
		completed_at: row.completed_at?.toISOString() ?? null
	};
}
