// Password hashing with scrypt (memory-hard) from node:crypto. The stored form names its
// parameters, so they can be raised later without breaking existing hashes.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scrypt = (password: string, salt: Buffer, length: number, options: ScryptOptions) =>
	new Promise<Buffer>((resolve, reject) =>
		scryptCallback(password, salt, length, options, (error, key) => (error ? reject(error) : resolve(key)))
	);

const N = 2 ** 15;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
const MAX_MEMORY = 64 * 1024 * 1024;

export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;

export async function hashPassword(password: string): Promise<string> {
	const salt = randomBytes(16);
	const key = await scrypt(password, salt, KEY_LENGTH, { N, r: R, p: P, maxmem: MAX_MEMORY });
	return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
	const parts = stored?.split('$');
	if (!parts || parts.length !== 6 || parts[0] !== 'scrypt') {
		// Spend the same work as a real check, so unknown accounts are not faster to probe.
		await hashPassword(password);
		return false;
	}
	const [, n, r, p, salt, expected] = parts as [string, string, string, string, string, string];
	const want = Buffer.from(expected, 'base64url');
	const key = await scrypt(password, Buffer.from(salt, 'base64url'), want.length, {
		N: Number(n),
		r: Number(r),
		p: Number(p),
		maxmem: MAX_MEMORY
	});
	return timingSafeEqual(key, want);
}
