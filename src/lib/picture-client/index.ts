// Picture's client: start a generation, follow it live, cancel it. Framework-free and typed; it
// uses only fetch, AbortController, TextDecoder and (where it exists) EventSource, so it runs in
// browsers, Node 20+ and React Native alike. Nothing here imports from the rest of the app.
import { PictureError } from './errors';
import { generationPath, resolveUrl, sendJson } from './http';
import { startGroup } from './group';
import type { ClientOptions, Generation, GenerationParams, GenerationStatus, GroupParams, StartedGeneration, StartedGroup } from './types';

export { PictureError, type PictureErrorKind } from './errors';
export { SseParser, type SseEvent } from './sse';
export { subscribeToGeneration, type SubscribeOptions, type Subscription } from './subscribe';
export { cancelGroup, getGroup, groupStatusOf, subscribeToGroup, withMember, withMemberPlace, type GroupSubscription, type SubscribeGroupOptions } from './group';
export { clockOffsetMs, secondsUntil } from './clock';
export { parsePlace, samePlace, withPlace } from './place';
export { isFinal, TERMINAL_STATUSES } from './types';
export type {
	ClientOptions,
	Connection,
	EventSourceConstructor,
	EventSourceLike,
	Generation,
	GenerationParams,
	GenerationStatus,
	Group,
	GroupParams,
	GroupStatus,
	QueuePlace,
	StartedGeneration,
	StartedGroup,
	Transport
} from './types';

/** 122 random bits as a UUID; getRandomValues where randomUUID is missing (plain http, older engines). */
export function newIdempotencyKey(): string {
	const c = globalThis.crypto;
	if (typeof c?.randomUUID === 'function') return c.randomUUID();
	const bytes = new Uint8Array(16);
	if (typeof c?.getRandomValues === 'function') c.getRandomValues(bytes);
	else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256); // React Native without a crypto polyfill
	bytes[6] = (bytes[6]! & 0x0f) | 0x40;
	bytes[8] = (bytes[8]! & 0x3f) | 0x80;
	const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
	return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const NETWORK_ATTEMPTS = 3;

/**
 * Starts a generation. The idempotency key (params.idempotency_key, or a fresh one) goes with every
 * attempt, so a request lost on the way back is sent again safely: the server answers the same
 * generation. Throws a PictureError: invalid (field says which), unauthorized, rate_limited, ...
 * The group form (`models` and/or `variations`) starts a group, all of it or nothing, and answers
 * with the group and its members.
 */
export async function startImageGeneration(options: ClientOptions, params: GenerationParams): Promise<StartedGeneration>;
export async function startImageGeneration(options: ClientOptions, params: GroupParams & ({ models: string[] } | { variations: number })): Promise<StartedGroup>;
export async function startImageGeneration(
	options: ClientOptions,
	params: GenerationParams | GroupParams
): Promise<StartedGeneration | StartedGroup> {
	const idempotencyKey = params.idempotency_key ?? newIdempotencyKey();
	if ('models' in params || 'variations' in params) return startGroup(options, params, idempotencyKey);
	const body = JSON.stringify({ ...params, idempotency_key: idempotencyKey });
	for (let attempt = 1; ; attempt++) {
		try {
			const answer = await sendJson<{ generation_id: string; job_id: string | null; status: GenerationStatus }>(options, '/api/generations', {
				method: 'POST',
				headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
				body
			});
			return {
				generationId: answer.body.generation_id,
				jobId: answer.body.job_id,
				status: answer.body.status,
				created: answer.status === 201,
				idempotencyKey
			};
		} catch (err) {
			if (!(err instanceof PictureError) || err.kind !== 'network' || attempt >= NETWORK_ATTEMPTS) throw err;
			await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
		}
	}
}

/** The generation's current state. */
export async function getGeneration(options: ClientOptions, id: string): Promise<Generation> {
	return (await sendJson<Generation>(options, generationPath(id))).body;
}

/** Cancels it: a queued one never runs, a running one stops within a second. Returns its new state. */
export async function cancelGeneration(options: ClientOptions, id: string): Promise<Generation> {
	return (await sendJson<Generation>(options, generationPath(id), { method: 'DELETE' })).body;
}
export { cancelGeneration as cancel };

/**
 * The image's full URL (or the thumbnail's), for an <img> or React Native's <Image>. The image
 * needs the same credentials as the API: in React Native pass `headers: { Authorization }`.
 */
export function imageUrl(options: ClientOptions, generation: Pick<Generation, 'image_url' | 'thumbnail_url'>, size: 'full' | 'thumb' = 'full'): string | null {
	const path = size === 'thumb' ? (generation.thumbnail_url ?? generation.image_url) : generation.image_url;
	return path ? resolveUrl(options, path) : null;
}
