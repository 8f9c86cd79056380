// Resolves the caller from a session cookie or an Authorization: Bearer token (API clients).
import type { Cookies } from '@sveltejs/kit';
import { verifyAccessToken } from './tokens';
import type { AppUser } from './user';

export const SESSION_COOKIE = 'picture_session';

export function bearerToken(authorization: string | null): string | null {
	const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
	return match ? match[1]! : null;
}

export function userFromToken(token: string | null | undefined, secret: string): AppUser | null {
	if (!token) return null;
	const claims = verifyAccessToken(token, secret);
	if (!claims) return null;
	return {
		id: claims.sub,
		email: claims.email,
		isAdmin: claims.app_metadata?.roles?.includes('admin') ?? false,
		claims: { sub: claims.sub, role: 'authenticated', email: claims.email, app_metadata: claims.app_metadata }
	};
}

/** The bearer token wins over the cookie, so an API client never acts as a browser session. */
export function resolveUser(request: Request, cookies: Cookies, secret: string): AppUser | null {
	const bearer = bearerToken(request.headers.get('authorization'));
	if (bearer) return userFromToken(bearer, secret);
	return userFromToken(cookies.get(SESSION_COOKIE), secret);
}
