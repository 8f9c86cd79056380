import { createHash, timingSafeEqual } from 'node:crypto';

/** True when the Authorization header carries exactly `Bearer <secret>`; constant time in the secret. */
export function hasCronSecret(authorization: string | null, secret: string | null): boolean {
	if (!secret || !authorization) return false;
	const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
	if (!match) return false;
	// Hashing first makes both sides the same length, so the comparison leaks nothing about it.
	const given = createHash('sha256').update(match[1]!).digest();
	const expected = createHash('sha256').update(secret).digest();
	return timingSafeEqual(given, expected);
}
