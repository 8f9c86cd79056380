import type { Sql, TransactionSql } from './client';

/** The claims Supabase puts in a user's access token; the database reads them through auth.uid(). */
export interface JwtClaims {
	sub: string;
	role: 'authenticated' | 'anon' | 'service_role';
	email?: string;
	app_metadata?: Record<string, unknown>;
	[claim: string]: unknown;
}

/**
 * Runs fn in a transaction as the user's database role with their claims set, exactly as
 * PostgREST does on Supabase, so row level security applies to everything fn reads.
 */
export function withUser<T>(sql: Sql, claims: JwtClaims, fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
	return sql.begin(async (tx) => {
		await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
		                set_config('role', ${claims.role}, true)`;
		return fn(tx);
	}) as Promise<T>;
}
