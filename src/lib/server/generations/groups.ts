// Generation groups: one prompt, several pictures (models x variations), started by one SQL call
// (start_generation_group, 0028: all or nothing under the user's limits, one key one group),
// followed as one (generation_group_summary derives the status from the members) and cancelled as
// one (cancel_generation_group, each member through cancel_generation and the queue's cancel_job).
import { randomInt } from 'node:crypto';
import { checkSize, SEED_MAX, type GroupRequest } from '../../schemas';
import { isUuid } from '../../uuid';
import type { AppUser } from '../auth/user';
import type { Queryable, Sql } from '../db/client';
import { withUser } from '../db/with-user';
import { BlockedError, GroupRateLimitError, NotFoundError, ValidationError } from '../errors';
import type { JobWaker } from '../queue/wake';
import type { ImageStorage } from '../storage';
import { getModel, modelView, type Availability } from './models';
import { toView, type GenerationRow, type GenerationView, type UserLimits } from './types';
import { zipStream, type ZipEntry } from './zip';

export const GROUP_STATUSES = ['queued', 'running', 'partly_done', 'done', 'failed', 'cancelled'] as const;
export type GroupStatus = (typeof GROUP_STATUSES)[number];

export interface GroupSummary {
	group_id: string;
	user_id: string;
	members: number;
	completed: number;
	failed: number;
	cancelled: number;
	active: number;
	status: GroupStatus;
	/** No member can change any more: a client waiting on the group may stop. */
	complete: boolean;
}

export interface GroupRow {
	id: string;
	user_id: string;
	prompt: string;
	idempotency_key: string | null;
	kept_generation_id: string | null;
	created_at: Date;
}

/** What the API returns for a group: its status, and its members as the single generation's view. */
export interface GroupView {
	id: string;
	prompt: string;
	status: GroupStatus;
	complete: boolean;
	counts: { members: number; completed: number; failed: number; cancelled: number; active: number };
	kept_generation_id: string | null;
	created_at: string;
	members: GenerationView[];
}

export interface StartedGroup {
	group_id: string;
	/** False when an earlier request with the same idempotency key made it. */
	created: boolean;
}

type StartResult =
	| { outcome: 'created' | 'existing'; group_id: string }
	| { outcome: 'rate_limited'; limits: UserLimits; needed: number; room: number };

/** Each model's variations: consecutive seeds from the one asked for, or random ones. */
export function groupMembers(request: GroupRequest): Array<{ model_id: string; seed: number }> {
	return request.model_ids.flatMap((model_id) =>
		Array.from({ length: request.variations }, (_, i) => ({
			model_id,
			seed: request.seed === null ? randomInt(0, SEED_MAX) : (request.seed + i) % (SEED_MAX + 1)
		}))
	);
}

export async function startGroup(
	sql: Queryable,
	userId: string,
	request: GroupRequest,
	availability: Availability,
	waker: JobWaker | null = null
): Promise<StartedGroup> {
	const providers = availability.replicateConfigured ? ['local', 'replicate'] : ['local'];
	const members = groupMembers(request);
	let result: StartResult;
	try {
		[{ result }] = (await sql`
			select public.start_generation_group(${userId}, ${request.prompt}, ${request.width}, ${request.height},
				${sql.json(members)}, ${request.negative_prompt}, ${request.idempotency_key}, ${waker !== null},
				${providers}::text[]) as result`) as unknown as [{ result: StartResult }];
	} catch (error) {
		if ((error as { code?: string }).code?.startsWith('22')) await explainRefusal(sql, request, availability);
		throw error;
	}
	if (result.outcome === 'rate_limited') {
		if (result.limits.blocked) throw new BlockedError();
		throw new GroupRateLimitError(result.limits, result.needed, result.room);
	}
	if (result.outcome === 'created') waker?.wake();
	return { group_id: result.group_id, created: result.outcome === 'created' };
}

/** Names the model or size the function refused, in the user's words. */
async function explainRefusal(sql: Queryable, request: GroupRequest, availability: Availability): Promise<void> {
	for (const id of request.model_ids) {
		const row = await getModel(sql, id);
		if (!row) throw new ValidationError('models', `There is no model called "${id}"`);
		const model = modelView(row, availability);
		if (!model.available) throw new ValidationError('models', `${model.display_name} is not available: ${model.unavailable_reason}`);
		const sizeError = checkSize(request.width, request.height, model);
		if (sizeError) throw new ValidationError(sizeError.field, `${model.display_name}: ${sizeError.error}`);
	}
}

export interface LoadedGroup {
	group: GroupRow;
	summary: GroupSummary;
	members: GenerationRow[];
}

/** The user's own group with its members, read as the user (RLS); null for anyone else's or none. */
export async function getGroup(sql: Sql, user: AppUser, id: string): Promise<LoadedGroup | null> {
	if (!isUuid(id)) return null;
	return withUser(sql, user.claims, async (tx) => {
		const [group] = await tx<GroupRow[]>`select * from public.generation_groups where id = ${id} and user_id = ${user.id}`;
		if (!group) return null;
		const [summary] = await tx<GroupSummary[]>`select * from public.generation_group_summary where group_id = ${id}`;
		const members = await tx<GenerationRow[]>`
			select * from public.image_generations where group_id = ${id} order by group_position`;
		return { group, summary: summary!, members };
	});
}

/** The group as the API answers it; memberViews carry the members' places in line where the caller read them. */
export function groupView(loaded: LoadedGroup, memberViews?: GenerationView[]): GroupView {
	const { group, summary, members } = loaded;
	return {
		id: group.id,
		prompt: group.prompt,
		status: summary.status,
		complete: summary.complete,
		counts: {
			members: summary.members,
			completed: summary.completed,
			failed: summary.failed,
			cancelled: summary.cancelled,
			active: summary.active
		},
		kept_generation_id: group.kept_generation_id,
		created_at: group.created_at.toISOString(),
		members: memberViews ?? members.map((row) => toView(row))
	};
}

/** Cancels every member still queued or running, in one transaction; the group as it now stands. */
export async function cancelGroup(sql: Sql, user: AppUser, id: string, cancelPrediction: (row: GenerationRow) => Promise<void>): Promise<LoadedGroup> {
	if (!(await getGroup(sql, user, id))) throw new NotFoundError('No such group');
	const rows = await sql<GenerationRow[]>`select * from public.cancel_generation_group(${id}, ${user.id})`;
	await Promise.all(rows.filter((row) => row.status === 'cancelled' && row.prediction_id).map((row) => cancelPrediction(row).catch(() => {})));
	const loaded = await getGroup(sql, user, id);
	if (!loaded) throw new NotFoundError('No such group');
	return loaded;
}

/** "Pick one to keep": marks a completed member as the group's choice (the others stay until deleted). */
export async function keepMember(sql: Sql, user: AppUser, groupId: string, generationId: string): Promise<void> {
	if (!isUuid(groupId) || !isUuid(generationId)) throw new NotFoundError('No such group');
	const updated = await sql`
		update public.generation_groups g set kept_generation_id = m.id
		from public.image_generations m
		where g.id = ${groupId} and g.user_id = ${user.id}
		  and m.id = ${generationId} and m.group_id = g.id and m.user_id = ${user.id} and m.status = 'completed'
		returning g.id`;
	if (updated.length === 0) {
		if (!(await getGroup(sql, user, groupId))) throw new NotFoundError('No such group');
		throw new ValidationError('generation_id', 'Only a finished picture of this group can be kept');
	}
}

/** The groups among a page of generations, one summary each (for the history's group cards). */
export async function summariesFor(sql: Sql, user: AppUser, groupIds: string[]): Promise<Map<string, GroupSummary>> {
	if (groupIds.length === 0) return new Map();
	const rows = await withUser(sql, user.claims, (tx) => tx<GroupSummary[]>`
		select * from public.generation_group_summary where group_id = any(${groupIds}::uuid[]) and user_id = ${user.id}`);
	return new Map(rows.map((row) => [row.group_id, row]));
}

/** "Download all": the group's finished pictures as one ZIP, streamed; 404 when none has finished. */
export async function groupArchive(sql: Sql, storage: ImageStorage, user: AppUser, id: string): Promise<{ filename: string; stream: ReadableStream<Uint8Array> }> {
	const loaded = await getGroup(sql, user, id);
	if (!loaded) throw new NotFoundError('No such group');
	const done = loaded.members.filter((m) => m.status === 'completed' && m.image_path);
	if (done.length === 0) throw new NotFoundError('No picture of this group has finished yet');
	const entries: ZipEntry[] = done.map((member) => ({
		// Stable, readable and safe names: position, model (its id with / and other marks as -), seed.
		name: `${(member.group_position ?? 0) + 1}-${member.model_id.replace(/[^\w.-]+/g, '-')}-seed${member.seed}.${member.image_path!.split('.').pop()}`,
		modified: member.completed_at ?? member.created_at,
		async load() {
			const object = await storage.get(member.image_path!);
			if (!object) throw new NotFoundError('An image file is missing from storage');
			return new Uint8Array(object.data);
		}
	}));
	return { filename: `picture-group-${id}.zip`, stream: zipStream(entries) };
}
