import { createHash } from 'node:crypto';
import type { Queryable } from '../db/client';
import type { ModelInfo } from '../providers/types';

export interface ModelRow {
	id: string;
	provider: 'local' | 'replicate';
	display_name: string;
	description: string;
	size_mapping: 'dimensions' | 'aspect_ratio';
	min_size: number;
	max_size: number;
	size_step: number;
	max_concurrency: number;
	defaults: Record<string, unknown>;
	enabled: boolean;
	cost_per_second: string | null;
	sort_order: number;
}

/** A model as users see it: whether they can pick it now and, if not, why. */
export interface ModelView extends ModelRow {
	available: boolean;
	unavailable_reason: string | null;
}

export interface Availability {
	replicateConfigured: boolean;
}

export function modelView(row: ModelRow, availability: Availability): ModelView {
	let reason: string | null = null;
	if (!row.enabled) reason = 'Disabled by an administrator';
	else if (row.provider === 'replicate' && !availability.replicateConfigured) {
		reason = 'Replicate models need REPLICATE_API_TOKEN on the server';
	}
	return { ...row, available: reason === null, unavailable_reason: reason };
}

export async function listModels(sql: Queryable, availability: Availability): Promise<ModelView[]> {
	const rows = await sql<ModelRow[]>`select * from public.models order by sort_order, id`;
	return rows.map((row) => modelView(row, availability));
}

export async function getModel(sql: Queryable, id: string): Promise<ModelRow | null> {
	const [row] = await sql<ModelRow[]>`select * from public.models where id = ${id}`;
	return row ?? null;
}

export function modelInfo(row: ModelRow): ModelInfo {
	return { id: row.id, provider: row.provider, defaults: row.defaults, sizeMapping: row.size_mapping };
}

/** GET /api/models's answer, serialised once: the body and its ETag. */
export interface CatalogueAnswer {
	body: string;
	etag: string;
}

/** What the generate form needs of a model: the page load sends no more than this. */
export function modelOption(m: ModelView) {
	return {
		id: m.id,
		display_name: m.display_name,
		description: m.description,
		min_size: m.min_size,
		max_size: m.max_size,
		size_step: m.size_step,
		available: m.available,
		unavailable_reason: m.unavailable_reason
	};
}

/** The public catalogue (the form's fields and the provider, no internals), ready to send as it is. */
export async function catalogueAnswer(sql: Queryable, availability: Availability): Promise<CatalogueAnswer> {
	const models = await listModels(sql, availability);
	const body = JSON.stringify({ models: models.map((m) => ({ ...modelOption(m), provider: m.provider })) });
	return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}
