// The audit trail of console actions. Every admin action records one entry after it succeeds.
import { assertReader, type ConsoleAccess } from './access';
import type { Queryable } from '../db/client';
import type { AppUser } from '../auth/user';

export interface AuditEntry {
	id: number;
	actor_id: string | null;
	actor_email: string;
	action: string;
	target: string | null;
	details: Record<string, unknown>;
	affected_rows: number;
	created_at: Date;
}

export async function recordAudit(
	sql: Queryable,
	actor: AppUser,
	action: string,
	entry: { target?: string | null; details?: Record<string, unknown>; affectedRows?: number } = {}
): Promise<void> {
	await sql`
		insert into public.admin_audit_log (actor_id, actor_email, action, target, details, affected_rows)
		values (${actor.id}, ${actor.email}, ${action}, ${entry.target ?? null},
			${sql.json((entry.details ?? {}) as never)}, ${entry.affectedRows ?? 0})`;
}

/** Newest first, keyset paged by id. */
export async function listAudit(access: ConsoleAccess, sql: Queryable, options: { before?: number | null; limit?: number } = {}): Promise<AuditEntry[]> {
	assertReader(access);
	const limit = Math.min(Math.max(options.limit ?? 50, 1), 200);
	return sql<AuditEntry[]>`
		select * from public.admin_audit_log
		${options.before ? sql`where id < ${options.before}` : sql``}
		order by id desc
		limit ${limit}`;
}
