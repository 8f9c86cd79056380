// Local accounts (the default without Supabase): users in auth.users with scrypt password hashes.
import type { Sql } from '../db/client';
import { ValidationError } from '../errors';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, verifyPassword } from './passwords';

export interface AccountRow {
	id: string;
	email: string;
	encrypted_password: string | null;
	raw_app_meta_data: { provider?: string; roles?: string[] };
}

export class SignInError extends Error {
	constructor(message = 'That email and password do not match an account') {
		super(message);
		this.name = 'SignInError';
	}
}

export class ThrottledError extends Error {
	constructor(public readonly retryAfterSeconds: number) {
		super(`Too many failed sign-ins for this address. Try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s).`);
		this.name = 'ThrottledError';
	}
}

/** Failures allowed within the window before an address is locked out for the rest of it. */
export const MAX_FAILURES = 5;
export const FAILURE_WINDOW_SECONDS = 15 * 60;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function normaliseEmail(raw: unknown): string {
	const email = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
	if (!EMAIL.test(email) || email.length > 254) throw new ValidationError('email', 'Enter a valid email address');
	return email;
}

export function checkNewPassword(raw: unknown): string {
	const password = typeof raw === 'string' ? raw : '';
	if (password.length < PASSWORD_MIN) {
		throw new ValidationError('password', `Use at least ${PASSWORD_MIN} characters for your password`);
	}
	if (password.length > PASSWORD_MAX) throw new ValidationError('password', `Passwords are limited to ${PASSWORD_MAX} characters`);
	return password;
}

/** Creates an account. The very first account is an administrator; so is any in ADMIN_EMAILS. */
export async function signUp(sql: Sql, rawEmail: unknown, rawPassword: unknown, adminEmails: string[]): Promise<AccountRow> {
	const email = normaliseEmail(rawEmail);
	const password = checkNewPassword(rawPassword);
	const hash = await hashPassword(password);
	return sql.begin(async (tx) => {
		// Serialise sign-ups so exactly one account can be "the first".
		await tx`select pg_advisory_xact_lock(hashtextextended('picture.sign_up', 0))`;
		const [existing] = await tx`select 1 from auth.users where lower(email) = ${email}`;
		if (existing) throw new ValidationError('email', 'An account with this email already exists. Sign in instead.');
		const [{ count }] = (await tx`select count(*)::int as count from auth.users`) as unknown as [{ count: number }];
		const roles = count === 0 || adminEmails.includes(email) ? ['admin'] : [];
		const [row] = await tx<AccountRow[]>`
			insert into auth.users (email, encrypted_password, email_confirmed_at, raw_app_meta_data, last_sign_in_at)
			values (${email}, ${hash}, now(), ${tx.json({ provider: 'email', providers: ['email'], roles })}, now())
			returning id, email, encrypted_password, raw_app_meta_data`;
		return row!;
	}) as Promise<AccountRow>;
}

export async function signIn(sql: Sql, rawEmail: unknown, rawPassword: unknown): Promise<AccountRow> {
	const email = typeof rawEmail === 'string' ? rawEmail.trim().toLowerCase() : '';
	const password = typeof rawPassword === 'string' ? rawPassword : '';
	if (!email || !password) throw new SignInError('Enter your email and password');

	const [recent] = (await sql`
		select count(*)::int as failures, min(failed_at) as oldest from app_private.sign_in_failures
		where lower(email) = ${email} and failed_at > now() - make_interval(secs => ${FAILURE_WINDOW_SECONDS})`) as unknown as [
		{ failures: number; oldest: Date | null }
	];
	if (recent.failures >= MAX_FAILURES) {
		const retryAfter = recent.oldest ? FAILURE_WINDOW_SECONDS - (Date.now() - recent.oldest.getTime()) / 1000 : FAILURE_WINDOW_SECONDS;
		throw new ThrottledError(Math.max(1, Math.ceil(retryAfter)));
	}

	const [account] = await sql<AccountRow[]>`
		select id, email, encrypted_password, raw_app_meta_data from auth.users where lower(email) = ${email}`;
	if (!(await verifyPassword(password, account?.encrypted_password ?? null)) || !account) {
		await sql`insert into app_private.sign_in_failures (email) values (${email})`;
		throw new SignInError();
	}
	await sql`delete from app_private.sign_in_failures where lower(email) = ${email}`;
	await sql`update auth.users set last_sign_in_at = now() where id = ${account.id}`;
	return account;
}
