// Local accounts' sessions: the cookie (or an API client's Bearer token) is a signed reference to a
// row of app_private.sessions (0015). Every request looks the row up, so sign-out, "sign out
// everywhere", a password change and an administrator's revoke end a session at once; a token of a
// deleted account or an ended session is no session. Lookups are cached for CACHE_MS per process,
// and this process forgets a session the moment it ends one.
import type { Cookies } from '@sveltejs/kit';
import type { Sql } from '../db/client';
import type { SupabaseAuth } from './supabase';
import { signAccessToken, verifyAccessToken } from './tokens';
import { rolesOf, type AppUser } from './user';

export const SESSION_COOKIE = 'picture_session';
export const SESSION_TTL_SECONDS = 7 * 24 * 3600;
/** How long another process may still accept a session that was ended elsewhere. */
export const CACHE_MS = 2000;
const CACHE_MAX = 10_000;

export function bearerToken(authorization: string | null): string | null {
	const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
	return match ? match[1]! : null;
}

export interface AccountSession {
	id: string;
	created_at: Date;
	last_seen_at: Date;
	expires_at: Date;
	user_agent: string | null;
}

interface Cached {
	at: number;
	user: Promise<AppUser | null>;
}

export class SessionStore {
	private readonly cache = new Map<string, Cached>();

	constructor(
		private readonly sql: Sql,
		private readonly secret: string,
		private readonly adminEmails: string[] = []
	) {}

	/** Signs the account in: a session row, and its token (set as the cookie when cookies are given). */
	async start(
		account: { id: string },
		options: { cookies?: Cookies; secure?: boolean; userAgent?: string | null } = {}
	): Promise<string> {
		const [row] = await this.sql<{ id: string }[]>`
			select app_private.create_session(${account.id}, make_interval(secs => ${SESSION_TTL_SECONDS}), ${options.userAgent ?? null}) as id`;
		const token = signAccessToken({ sub: account.id, sid: row!.id }, this.secret, SESSION_TTL_SECONDS);
		options.cookies?.set(SESSION_COOKIE, token, {
			path: '/',
			httpOnly: true,
			sameSite: 'lax',
			secure: options.secure ?? false,
			maxAge: SESSION_TTL_SECONDS
		});
		return token;
	}

	/** The user a token stands for, while its session lives; null for anything else. */
	async userFromToken(token: string | null | undefined): Promise<AppUser | null> {
		if (!token) return null;
		const claims = verifyAccessToken(token, this.secret);
		if (!claims) return null;
		const cached = this.cache.get(claims.sid);
		if (cached && Date.now() - cached.at < CACHE_MS) {
			const user = await cached.user;
			return user && user.id === claims.sub ? user : null;
		}
		const user = this.lookup(claims.sid);
		if (this.cache.size >= CACHE_MAX) this.cache.clear();
		this.cache.set(claims.sid, { at: Date.now(), user });
		user.catch(() => this.cache.delete(claims.sid));
		const resolved = await user;
		return resolved && resolved.id === claims.sub ? resolved : null;
	}

	private async lookup(sessionId: string): Promise<AppUser | null> {
		const [row] = await this.sql<{ user_id: string; email: string | null; app_metadata: { roles?: unknown; provider?: string } }[]>`
			select * from app_private.resolve_session(${sessionId})`;
		if (!row) return null;
		const email = row.email ?? '';
		const roles = rolesOf(row.app_metadata, email, this.adminEmails);
		return {
			id: row.user_id,
			email,
			...roles,
			sessionId,
			claims: {
				sub: row.user_id,
				role: 'authenticated',
				email,
				app_metadata: { provider: row.app_metadata.provider ?? 'email', roles: Array.isArray(row.app_metadata.roles) ? row.app_metadata.roles : [] }
			}
		};
	}

	/** The caller from `Authorization: Bearer` (API clients) or else the session cookie. */
	resolve(request: Request, cookies: Pick<Cookies, 'get'>): Promise<AppUser | null> {
		const bearer = bearerToken(request.headers.get('authorization'));
		return this.userFromToken(bearer ?? cookies.get(SESSION_COOKIE));
	}

	/** Signs this session out (and removes the cookie when given). */
	async end(sessionId: string | null, cookies?: Cookies, secure = false): Promise<void> {
		if (sessionId) {
			this.cache.delete(sessionId);
			await this.sql`select app_private.end_session(${sessionId})`;
		}
		cookies?.delete(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
	}

	/** The account's live sessions, newest first, for its account page. */
	async list(userId: string): Promise<AccountSession[]> {
		return this.sql<AccountSession[]>`
			select id, created_at, last_seen_at, expires_at, user_agent from app_private.sessions
			where user_id = ${userId} and expires_at > now()
			order by created_at desc
			limit 50`;
	}

	/** Ends every session of the account except `keep`; returns how many ended. */
	async endAll(userId: string, keep: string | null = null): Promise<number> {
		for (const [sessionId, entry] of this.cache) {
			if (sessionId === keep) continue;
			// Entries whose lookup is still running may belong to this user too: drop them all.
			const user = await entry.user.catch(() => null);
			if (!user || user.id === userId) this.cache.delete(sessionId);
		}
		const [row] = await this.sql<{ count: number }[]>`select app_private.end_user_sessions(${userId}, ${keep}) as count`;
		return row!.count;
	}
}

/**
 * The bearer token wins over the cookie, so an API client never acts as a browser session. In
 * Supabase mode only Supabase's tokens count (verified against the project's keys), never ours.
 */
export function resolveUser(
	request: Request,
	cookies: Cookies,
	sessions: SessionStore,
	supabaseAuth: SupabaseAuth | null = null
): Promise<AppUser | null> {
	if (supabaseAuth) return supabaseAuth.resolve(request, cookies);
	return sessions.resolve(request, cookies);
}
