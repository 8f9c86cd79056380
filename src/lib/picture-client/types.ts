// The shapes the JSON API speaks, written out here so this folder stands alone (a web or React
// Native app copies or imports it without the rest of Picture). They mirror GenerationView in
// src/lib/server/generations/types.ts; tests/e2e/generate/client-module.e2e.ts reads real answers.

export type GenerationStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled';

export const TERMINAL_STATUSES: readonly GenerationStatus[] = ['completed', 'failed', 'cancelled'];

/** Nothing more will happen to it: no further events. */
export const isFinal = (status: GenerationStatus) => TERMINAL_STATUSES.includes(status);

/** One generation as `GET /api/generations/:id` and its event stream return it. */
export interface Generation {
	id: string;
	prompt: string;
	negative_prompt: string | null;
	model_id: string;
	width: number;
	height: number;
	seed: number;
	status: GenerationStatus;
	/** 0-100. */
	progress: number;
	/** A sentence for people when it failed (or while it waits to retry after a failed attempt). */
	error: string | null;
	/** Why it failed: its class (`storage`, `provider`, ...), one sentence, and what to do about it. */
	failure: { class: string; title: string; advice: string } | null;
	retry: { at: string; attempt: number; max_attempts: number; reason: string | null } | null;
	paused: boolean;
	/** A path on the app (`/api/generations/:id/image`); resolve it with imageUrl(). */
	image_url: string | null;
	thumbnail_url: string | null;
	image_bytes: number | null;
	predict_time_seconds: number | null;
	/** The group it is one picture of, or null. */
	group_id?: string | null;
	/** US dollars, once completed with a known price. */
	cost_usd: number | null;
	history: Array<{ status: GenerationStatus; at: string }>;
	/**
	 * While it waits in the queue (queued, not paused, not waiting out a retry): 1 when it is the next
	 * job the workers will claim, n when n - 1 jobs run before it under the fair-share order. Null
	 * otherwise. Computed when read: it changes without event_seq changing (see `position` events).
	 */
	queue_position: number | null;
	/** ISO times estimated from the model's recent run times; null whenever queue_position is. */
	estimated_start_at: string | null;
	estimated_done_at: string | null;
	/** Queued, and a worker has already claimed it: about to render, no place in line any more. */
	starting?: boolean;
	/** The server's clock when this state was sent: estimates are on it (see clockOffsetMs). */
	server_time?: string;
	/** Grows with every change; the event stream's ids are these numbers. */
	event_seq: number;
	created_at: string;
	started_at: string | null;
	run_started_at: string | null;
	completed_at: string | null;
}

/** A generation's place in the queue: the data of the event stream's `position` events. */
export interface QueuePlace {
	id: string;
	queue_position: number | null;
	estimated_start_at: string | null;
	estimated_done_at: string | null;
	/** A worker has claimed it (queue_position is then null). */
	starting?: boolean;
	/** The server's clock when the event was sent. */
	server_time?: string;
}

/** The part of the standard EventSource this module uses (browsers have it; React Native does not). */
export interface EventSourceLike {
	readonly readyState: number;
	onopen: ((event: unknown) => void) | null;
	onerror: ((event: unknown) => void) | null;
	addEventListener(type: string, listener: (event: { data: string }) => void): void;
	close(): void;
}
export interface EventSourceConstructor {
	new (url: string, init?: { withCredentials?: boolean }): EventSourceLike;
	readonly CLOSED: number;
}

export interface ClientOptions {
	/** The app's origin, e.g. `https://picture.example.com`; empty (the default) means this page's origin. */
	baseUrl?: string;
	/**
	 * A Bearer token (a local account's session token or a Supabase access token), or a function
	 * returning the current one. Without it, requests carry the browser's cookies.
	 */
	token?: string | null | (() => string | null | undefined | Promise<string | null | undefined>);
	/** Cookies on cross-origin requests: 'include'. Default 'same-origin'. */
	credentials?: RequestCredentials;
	/** A fetch to use instead of the global one. */
	fetch?: typeof fetch;
	/** An EventSource to use instead of the global one; null never uses one. */
	EventSource?: EventSourceConstructor | null;
}

/** What POST /api/generations takes. */
export interface GenerationParams {
	prompt: string;
	model_id: string;
	width: number;
	height: number;
	seed?: number | null;
	negative_prompt?: string | null;
	/** The same key answers with the same generation, however often it is sent; one is made if absent. */
	idempotency_key?: string;
}

export interface StartedGeneration {
	generationId: string;
	jobId: string | null;
	status: GenerationStatus;
	/** false: this key had already started it (a retry), and this is that generation. */
	created: boolean;
	idempotencyKey: string;
}

/**
 * live: streaming; polling: asking GET every few seconds; reconnecting: the connection dropped and
 * is being opened again; done: the generation ended (or the subscription failed for good).
 */
export type Connection = 'connecting' | 'live' | 'polling' | 'reconnecting' | 'done';

/** auto: EventSource when there is one and no token, else a streaming fetch, else polling. */
export type Transport = 'auto' | 'eventsource' | 'stream' | 'poll';

/** A group's status, from its members: see groupStatusOf in group.ts. */
export type GroupStatus = 'queued' | 'running' | 'partly_done' | 'done' | 'failed' | 'cancelled';

/** One group (one prompt, several pictures) as `GET /api/groups/:id` returns it. */
export interface Group {
	id: string;
	prompt: string;
	status: GroupStatus;
	/** Every member has ended: nothing more will happen. */
	complete: boolean;
	counts: { members: number; completed: number; failed: number; cancelled: number; active: number };
	kept_generation_id: string | null;
	created_at: string;
	members: Generation[];
}

/** The group form of POST /api/generations: each model makes `variations` pictures (seeds seed, seed + 1, ...). */
export interface GroupParams {
	prompt: string;
	/** 1-4 distinct model ids (or model_id for one). */
	models?: string[];
	model_id?: string;
	/** 1-4; 1 by default. */
	variations?: number;
	width: number;
	height: number;
	seed?: number | null;
	negative_prompt?: string | null;
	idempotency_key?: string;
}

export interface StartedGroup {
	groupId: string;
	group: Group;
	/** false: this key had already started it, and this is that group. */
	created: boolean;
	idempotencyKey: string;
}
