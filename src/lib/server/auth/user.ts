import type { JwtClaims } from '../db/with-user';

/** Who is calling, resolved once per request in hooks.server.ts. */
export interface AppUser {
	id: string;
	email: string;
	isAdmin: boolean;
	/** The claims database queries run with, so row level security applies. */
	claims: JwtClaims;
}
