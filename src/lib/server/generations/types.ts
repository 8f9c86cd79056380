export const GENERATION_STATUSES = ['queued', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type GenerationStatus = (typeof GENERATION_STATUSES)[number];
export const TERMINAL_STATUSES: readonly GenerationStatus[] = ['completed', 'failed', 'cancelled'];

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
	error_message: string | null;
	idempotency_key: string | null;
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
	error: string | null;
	image_url: string | null;
	thumbnail_url: string | null;
	image_bytes: number | null;
	predict_time_seconds: number | null;
	history: Array<{ status: GenerationStatus; at: string }>;
	event_seq: number;
	created_at: string;
	started_at: string | null;
	completed_at: string | null;
}

export function toView(row: GenerationRow): GenerationView {
	const done = row.status === 'completed' && row.image_path !== null;
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
		error: row.error_message,
		image_url: done ? `/api/generations/${row.id}/image` : null,
		thumbnail_url: done && row.thumbnail_path ? `/api/generations/${row.id}/image?size=thumb` : null,
		image_bytes: row.image_bytes,
		predict_time_seconds: row.predict_time_seconds === null ? null : Number(row.predict_time_seconds),
		history: row.history,
		event_seq: Number(row.event_seq),
		created_at: row.created_at.toISOString(),
		started_at: row.started_at?.toISOString() ?? null,
		completed_at: row.completed_at?.toISOString() ?? null
	};
}
