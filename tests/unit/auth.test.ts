import { describe, expect, test } from 'vitest';
import { hashPassword, verifyPassword } from '../../src/lib/server/auth/passwords';
import { safeRedirect } from '../../src/lib/server/auth/redirects';
import { bearerToken, userFromToken } from '../../src/lib/server/auth/session';
import { signAccessToken, verifyAccessToken } from '../../src/lib/server/auth/tokens';

const SECRET = 'x'.repeat(40);
const claims = { sub: '11111111-1111-4111-8111-111111111111', email: 'a@b.test', app_metadata: { provider: 'email', roles: [] } };

describe('access tokens', () => {
	test('round trip with the claims Supabase issues', () => {
		const token = signAccessToken(claims, SECRET, 60);
		expect(verifyAccessToken(token, SECRET)).toMatchObject({ ...claims, role: 'authenticated', aud: 'authenticated' });
	});

	test('refuses another secret, a tampered payload, an expired token and alg none', () => {
		const token = signAccessToken(claims, SECRET, 60);
		expect(verifyAccessToken(token, 'y'.repeat(40))).toBeNull();
		const [h, p, s] = token.split('.');
		const evil = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'someone-else' })).toString('base64url');
		expect(verifyAccessToken(`${h}.${evil}.${s}`, SECRET)).toBeNull();
		expect(verifyAccessToken(signAccessToken(claims, SECRET, 60, 1_000), SECRET)).toBeNull();
		const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
		expect(verifyAccessToken(none, SECRET)).toBeNull();
		expect(verifyAccessToken('not.a.token', SECRET)).toBeNull();
	});

	test('admins come from the token roles or ADMIN_EMAILS', () => {
		const plain = signAccessToken(claims, SECRET, 60);
		expect(userFromToken(plain, SECRET)!.isAdmin).toBe(false);
		expect(userFromToken(plain, SECRET, ['a@b.test'])!.isAdmin).toBe(true);
		const admin = signAccessToken({ ...claims, app_metadata: { provider: 'email', roles: ['admin'] } }, SECRET, 60);
		expect(userFromToken(admin, SECRET)!.isAdmin).toBe(true);
	});

	test('bearer tokens are read strictly', () => {
		expect(bearerToken('Bearer abc')).toBe('abc');
		expect(bearerToken('bearer abc ')).toBe('abc');
		expect(bearerToken('Basic abc')).toBeNull();
		expect(bearerToken(null)).toBeNull();
	});
});

describe('passwords', () => {
	test('scrypt hashes verify, are salted, and reject other passwords', async () => {
		const [a, b] = await Promise.all([hashPassword('open sesame!'), hashPassword('open sesame!')]);
		expect(a).toMatch(/^scrypt\$32768\$8\$1\$/);
		expect(a).not.toBe(b);
		expect(await verifyPassword('open sesame!', a)).toBe(true);
		expect(await verifyPassword('open sesame?', a)).toBe(false);
		expect(await verifyPassword('anything', null)).toBe(false);
	});
});

test('sign-in redirects stay on this site', () => {
	expect(safeRedirect('/history?status=failed')).toBe('/history?status=failed');
	expect(safeRedirect('https://evil.test')).toBe('/generate');
	expect(safeRedirect('//evil.test')).toBe('/generate');
	expect(safeRedirect('/\\evil.test')).toBe('/generate');
	expect(safeRedirect(null)).toBe('/generate');
});
