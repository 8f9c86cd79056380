import type { JwtClaims } from '../db/with-user';

/** The roles an account may hold (app_metadata.roles): the console's administrator and its read-only operator. */
export const ACCOUNT_ROLES = ['admin', 'operator'] as const;
export type AccountRole = (typeof ACCOUNT_ROLES)[number];

/** Who is calling, resolved once per request in hooks.server.ts. */
export interface AppUser {
	id: string;
	email: string;
	isAdmin: boolean;
	/** May look at the whole console and change nothing. */
	isOperator: boolean;
	/** The claims database queries run with, so row level security applies. */
	claims: JwtClaims;
	/** The server-side session this request belongs to (local accounts); null for other kinds. */
	sessionId: string | null;
}

/** The roles a user's app_metadata grants, plus ADMIN_EMAILS. Never user_metadata: users edit that. */
export function rolesOf(appMetadata: { roles?: unknown } | undefined, email: string, adminEmails: string[]): { isAdmin: boolean; isOperator: boolean } {
	const roles = Array.isArray(appMetadata?.roles) ? (appMetadata.roles as unknown[]) : [];
	const isAdmin = roles.includes('admin') || adminEmails.includes(email.toLowerCase());
	return { isAdmin, isOperator: !isAdmin && roles.includes('operator') };
}
