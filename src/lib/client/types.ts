// What the pages and components know about generations and models. These mirror the server's
// GenerationView and ModelView (src/lib/server/generations/*): components may not import server
// modules, and the page loads assign the server's values to these types, so TypeScript flags any drift.

export const STATUSES = ['queued', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type Status = (typeof STATUSES)[number];
export const isTerminal = (status: Status) => status === 'completed' || status === 'failed' || status === 'cancelled';

export interface Generation {
	id: string;
	prompt: string;
	negative_prompt: string | null;
	model_id: string;
	width: number;
	height: number;
	seed: number;
	status: Status;
	progress: number;
	error: string | null;
	failure: { class: string; title: string; advice: string } | null;
	retry: { at: string; attempt: number; max_attempts: number; reason: string | null } | null;
	paused: boolean;
	image_url: string | null;
	thumbnail_url: string | null;
	image_bytes: number | null;
	predict_time_seconds: number | null;
	history: Array<{ status: Status; at: string }>;
	event_seq: number;
	created_at: string;
	started_at: string | null;
	run_started_at: string | null;
	completed_at: string | null;
}

export interface ModelOption {
	id: string;
	display_name: string;
	description: string;
	min_size: number;
	max_size: number;
	size_step: number;
	available: boolean;
	unavailable_reason: string | null;
}

export interface Usage {
	can_generate: boolean;
	hourly_used: number;
	hourly_limit: number;
	daily_used: number;
	daily_limit: number;
	retry_after_seconds: number | null;
	blocked?: boolean;
}
