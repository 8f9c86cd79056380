// Resolves the caller from a session cookie or an Authorization: Bearer token (API clients).
import type { Cookies } from '@sveltejs/kit';
import type { SupabaseAuth } from './supabase';
import { signAccessToken, verifyAccessToken } from './tokens';
import type { AppUser } from './user';

export const SESSION_COOKIE = 'picture_session';

export function bearerToken(authorization: string | null): string | null {
	const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
	return match ? match[1]! : null;
}

export function userFromToken(token: string | null | undefined, secret: string, adminEmails: string[] = []): AppUser | null {
	if (!token) return null;
	const claims = verifyAccessToken(token, secret);
	if (!claims) return null;
	return {
		id: claims.sub,
		email: claims.email,
		isAdmin: (claims.app_metadata?.roles?.includes('admin') ?? false) || adminEmails.includes(claims.email.toLowerCase()),
		claims: { sub: claims.sub, role: 'authenticated', email: claims.email, app_metadata: claims.app_metadata }
	};
}

/**
 * The bearer token wins over the cookie, so an API client never acts as a browser session. In
 * Supabase mode only Supabase's tokens count (verified against the project's keys), never ours.
 */
export async function resolveUser(
	request: Request,
	cookies: Cookies,
	secret: string,
	adminEmails: string[] = [],
	supabaseAuth: SupabaseAuth | null = null
): Promise<AppUser | null> {
	if (supabaseAuth) return supabaseAuth.resolve(request, cookies);
	const bearer = bearerToken(request.headers.get('authorization'));
	if (bearer) return userFromToken(bearer, secret, adminEmails);
	return userFromToken(cookies.get(SESSION_COOKIE), secret, adminEmails);
}

export const SESSION_TTL_SECONDS = 7 * 24 * 3600;

/** Signs the account in on this browser: an HttpOnly, SameSite=Lax cookie (Secure over https). */
export function startSession(
	cookies: Cookies,
	account: { id: string; email: string; raw_app_meta_data: { provider?: string; roles?: string[] } },
	secret: string,
	secure: boolean
): string {
	const token = signAccessToken(
		{
			sub: account.id,
			email: account.email,
			app_metadata: { provider: account.raw_app_meta_data.provider ?? 'email', roles: account.raw_app_meta_data.roles ?? [] }
		},
		secret,
		SESSION_TTL_SECONDS
	);
	cookies.set(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: SESSION_TTL_SECONDS });
	return token;
}

export function endSession(cookies: Cookies, secure: boolean): void {
	cookies.delete(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
}
