import { describe, expect, test } from 'vitest';
import { hashPassword, verifyPassword } from '$lib/server/auth/passwords';
import { safeRedirect } from '$lib/server/auth/redirects';
import { bearerToken } from '$lib/server/auth/session';
import { rolesOf } from '$lib/server/auth/user';
import { signAccessToken, verifyAccessToken } from '$lib/server/auth/tokens';

const SECRET = 'x'.repeat(40);
const claims = { sub: '11111111-1111-4111-8111-111111111111', sid: '22222222-2222-4222-8222-222222222222' };

describe('access tokens', () => {
	test('round trip: who and which session', () => {
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

	test('a token without a session id, or with ids that are not uuids, is refused', () => {
		expect(verifyAccessToken(signAccessToken({ ...claims, sid: 'not-a-uuid' }, SECRET, 60), SECRET)).toBeNull();
		expect(verifyAccessToken(signAccessToken({ ...claims, sub: "1' or '1'='1" }, SECRET, 60), SECRET)).toBeNull();
		const { sid: _sid, ...noSession } = claims;
		expect(verifyAccessToken(signAccessToken(noSession as typeof claims, SECRET, 60), SECRET)).toBeNull();
	});

	test('roles come from app_metadata or ADMIN_EMAILS; an administrator is not also an operator', () => {
		expect(rolesOf({ roles: [] }, 'a@b.test', [])).toEqual({ isAdmin: false, isOperator: false });
		expect(rolesOf({ roles: [] }, 'A@b.test', ['a@b.test'])).toEqual({ isAdmin: true, isOperator: false });
		expect(rolesOf({ roles: ['admin', 'operator'] }, 'a@b.test', [])).toEqual({ isAdmin: true, isOperator: false });
		expect(rolesOf({ roles: ['operator'] }, 'a@b.test', [])).toEqual({ isAdmin: false, isOperator: true });
		expect(rolesOf({ roles: 'admin' }, 'a@b.test', [])).toEqual({ isAdmin: false, isOperator: false });
		expect(rolesOf(undefined, 'a@b.test', [])).toEqual({ isAdmin: false, isOperator: false });
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

describe('sign-in redirects stay on this site', () => {
	test.each([
		'/history?status=failed',
		'/generations/11111111-1111-4111-8111-111111111111',
		'/admin/jobs?q=a%20b&status=failed#top',
		"/history?x=(a)&y=!*'~"
	])('%s is kept', (target) => expect(safeRedirect(target)).toBe(target));

	// Everything a browser might take to another host, or a Location header cannot carry.
	const hostile = [
		'https://evil.test', 'http:evil.test', 'javascript:alert(1)', '//evil.test', '///evil.test', '/\\evil.test', '\\evil.test',
		'/\t/evil.example/x', '/\n/evil.example', '/\r/evil.example', '/\r\nSet-Cookie: x=1', '/x\r\nLocation: //evil.test',
		'/ /evil.test', '/\0x', '/\u0085/evil.test', '/\u2028/evil.test', '/\u00a0/evil.test',
		'/\uff0f\uff0fevil.test', '/\u2215\u2215evil.test', '/\u29f8evil.test', '/evil\uff0etest', '/\u3002evil.test',
		'/%2F%2Fevil.test', '/%2f/evil.test', '/%5Cevil.test', '/a\\b', 'evil.test', '', ' /history', '/' + 'a'.repeat(3000)
	];
	test.each(hostile)('%j falls back to the default page', (target) => expect(safeRedirect(target)).toBe('/generate'));
	test.each([null, undefined, 42, ['/history'], { toString: () => '/history' }])('%j (not a string) falls back', (target) =>
		expect(safeRedirect(target)).toBe('/generate'));
});
