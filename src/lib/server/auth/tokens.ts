// Compact HS256 JSON Web Tokens for local sessions: who (sub) and which session (sid, a row of
// app_private.sessions). Roles and email are read from the database on each request, never trusted
// from the token, so a change to them counts at once.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isUuid } from '../../uuid';

export interface AccessClaims {
	sub: string;
	sid: string;
	role: 'authenticated';
	aud: 'authenticated';
	iat: number;
	exp: number;
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export function signAccessToken(
	claims: Omit<AccessClaims, 'iat' | 'exp' | 'role' | 'aud'>,
	secret: string,
	ttlSeconds: number,
	nowSeconds = Math.floor(Date.now() / 1000)
): string {
	const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({
		...claims,
		role: 'authenticated',
		aud: 'authenticated',
		iat: nowSeconds,
		exp: nowSeconds + ttlSeconds
	})}`;
	return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** The token's claims when its signature is ours and it has not expired; otherwise null. */
export function verifyAccessToken(token: string, secret: string, nowSeconds = Math.floor(Date.now() / 1000)): AccessClaims | null {
	const parts = token.split('.');
	if (parts.length !== 3) return null;
	const [header, payload, signature] = parts as [string, string, string];
	const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
	const given = Buffer.from(signature, 'base64url');
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
	try {
		const head = JSON.parse(Buffer.from(header, 'base64url').toString());
		if (head.alg !== 'HS256') return null;
		const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as AccessClaims;
		if (typeof claims.sub !== 'string' || typeof claims.sid !== 'string' || typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return null;
		if (!isUuid(claims.sub) || !isUuid(claims.sid)) return null;
		if (claims.role !== 'authenticated') return null;
		return claims;
	} catch {
		return null;
	}
}
