// A user's own generations, read as that user so row level security decides what they may see.
import type { Sql } from '../db/client';
import { withUser } from '../db/with-user';
import type { AppUser } from '../auth/user';
import { GENERATION_STATUSES, type GenerationRow, type GenerationStatus } from './types';
import { ValidationError } from '../errors';
import { isUuid } from '../../uuid';

export interface ListOptions {
	limit?: number;
	/** Opaque cursor from the previous page's next_cursor. */
	cursor?: string | null;
	status?: string | null;
}

export interface GenerationPage {
	items: GenerationRow[];
	next_cursor: string | null;
}


function decodeCursor(cursor: string): { createdAt: string; id: string } {
	try {
		const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
		// Postgres' own text form, years 1 to 9999: anything else is not a cursor this server made.
		if (!isUuid(id) || typeof createdAt !== 'string' || !/^(?!0000)\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/.test(createdAt)) {
			throw new Error('bad');
		}
		return { createdAt, id };
	} catch {
		throw new ValidationError('cursor', 'The cursor is not one this server made');
	}
}

function encodeCursor(row: GenerationRow): string {
	// Microsecond precision matters for keyset paging: take it from the database's text form.
	return Buffer.from(JSON.stringify([(row as GenerationRow & { created_at_text: string }).created_at_text, row.id])).toString('base64url');
}

/** Newest first, keyset paging on (created_at, id), so deep pages cost the same as the first. */
export async function listGenerations(sql: Sql, user: AppUser, options: ListOptions = {}): Promise<GenerationPage> {
	const limit = options.limit ?? 24;
	if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ValidationError('limit', 'limit must be from 1 to 100');
	const status = options.status || null;
	if (status && !GENERATION_STATUSES.includes(status as GenerationStatus)) {
		throw new ValidationError('status', `status must be one of ${GENERATION_STATUSES.join(', ')}`);
	}
	const after = options.cursor ? decodeCursor(options.cursor) : null;
	const rows = await withUser(sql, user.claims, (tx) => tx<(GenerationRow & { created_at_text: string })[]>`
		select *, created_at::text as created_at_text from public.image_generations
		where user_id = ${user.id}
		  ${status ? tx`and status = ${status}` : tx``}
		  ${after ? tx`and (created_at, id) < (${after.createdAt}::text::timestamptz, ${after.id}::uuid)` : tx``}
		order by created_at desc, id desc
		limit ${limit + 1}`);
	const items = rows.slice(0, limit);
	return { items, next_cursor: rows.length > limit ? encodeCursor(items[items.length - 1]!) : null };
}

/** The generation if it exists and the user may see it; null otherwise (callers answer 404 either way). */
export async function getGeneration(sql: Sql, user: AppUser, id: string): Promise<GenerationRow | null> {
	if (!isUuid(id)) return null;
	const [row] = await withUser(sql, user.claims, (tx) =>
		tx<GenerationRow[]>`select * from public.image_generations where id = ${id}`
	);
	return row ?? null;
}
