// Local accounts (the default without Supabase): users in auth.users with scrypt password hashes.
import type { Sql } from '../db/client';
import { UnauthorizedError, ValidationError } from '../errors';
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

/**
 * The database's auth schema is GoTrue's (a Supabase project's): its accounts are Supabase Auth's,
 * made and checked by GoTrue with its own hashing. Picture adds no local accounts there and says so,
 * rather than inserting rows GoTrue would not recognise.
 */
export class LocalAccountsUnavailableError extends Error {
	constructor() {
		super(
			"Accounts on this database belong to Supabase Auth, so this server cannot make or check local ones. " +
				'Its operator should set PUBLIC_SUPABASE_URL and PUBLIC_SUPABASE_ANON_KEY to sign in through Supabase Auth (see docs/deployment.md).'
		);
		this.name = 'LocalAccountsUnavailableError';
	}
}

const gotrueSchemas = new WeakMap<object, Promise<boolean>>();

/** True when auth.users is GoTrue's (it has auth.identities beside it), checked once per pool. */
export function authSchemaIsGotrue(sql: Sql): Promise<boolean> {
	let known = gotrueSchemas.get(sql);
	if (!known) {
		known = sql`select to_regclass('auth.identities') is not null as gotrue`.then(([row]) => Boolean(row?.gotrue));
		known.catch(() => gotrueSchemas.delete(sql));
		gotrueSchemas.set(sql, known);
	}
	return known;
}

async function assertLocalAccounts(sql: Sql): Promise<void> {
	if (await authSchemaIsGotrue(sql)) throw new LocalAccountsUnavailableError();
}

/** Failures allowed within the window before an address is locked out for the rest of it. */
export const MAX_FAILURES = 5;
export const FAILURE_WINDOW_SECONDS = 15 * 60;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/**
 * Characters that look like nothing, or like something else: controls, format characters
 * (zero-width spaces and joiners, bidi controls, the BOM), separators other than the ASCII space,
 * private-use and unassigned code points, and the fillers some fonts draw blank.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Z}\u034F\u115F\u1160\u17B4\u17B5\u180B-\u180F\u2800\u3164\uFE00-\uFE0F\uFFA0]/u;

/**
 * The one form of an address that is stored and compared: NFKC (so a full-width `ａ` or a
 * decomposed `é` is the letter itself) and case-folded. Addresses with invisible characters are
 * refused rather than cleaned, so two accounts can never differ by something nobody can see.
 */
export function normaliseEmail(raw: unknown): string {
	// Only ASCII white space is trimmed (what a form or a paste adds); anything else invisible is refused.
	const trimmed = typeof raw === 'string' ? raw.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '') : '';
	if (INVISIBLE.test(trimmed.replaceAll(' ', ''))) {
		throw new ValidationError('email', 'The address contains invisible or control characters: type it again by hand');
	}
	const email = trimmed.normalize('NFKC').toLowerCase().replaceAll('ß', 'ss').replaceAll('ς', 'σ').normalize('NFKC');
	if (!EMAIL.test(email) || email.length > 254 || INVISIBLE.test(email)) throw new ValidationError('email', 'Enter a valid email address');
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

/**
 * Creates an account. The very first account is an administrator; so is any in ADMIN_EMAILS.
 * `first` says whether it was the first, so the page after sign-up can tell its owner.
 */
export async function signUp(
	sql: Sql,
	rawEmail: unknown,
	rawPassword: unknown,
	adminEmails: string[]
): Promise<AccountRow & { first: boolean }> {
	const email = normaliseEmail(rawEmail);
	const password = checkNewPassword(rawPassword);
	await assertLocalAccounts(sql);
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
		return { ...row!, first: count === 0 };
	}) as Promise<AccountRow & { first: boolean }>;
}

/**
 * A sign-in form's address and password, the address in its one stored form. An address that could
 * never be an account's is just "no match" (a sign-in says nothing more about addresses).
 */
export function signInCredentials(rawEmail: unknown, rawPassword: unknown): { email: string; password: string } {
	const password = typeof rawPassword === 'string' ? rawPassword : '';
	if (typeof rawEmail !== 'string' || !rawEmail.trim() || !password) throw new SignInError('Enter your email and password');
	try {
		return { email: normaliseEmail(rawEmail), password };
	} catch {
		throw new SignInError();
	}
}

/**
 * Checks an address and password. The attempt is first recorded as a failure, under a per-address
 * lock, unless the window already holds MAX_FAILURES (reserve_sign_in_attempt, 0015): so however many
 * arrive at once, at most MAX_FAILURES passwords are ever checked per window. Success clears them.
 */
export async function signIn(sql: Sql, rawEmail: unknown, rawPassword: unknown): Promise<AccountRow> {
	const { email, password } = signInCredentials(rawEmail, rawPassword);
	await assertLocalAccounts(sql);

	const [reserved] = await sql<{ retry_after: number | null }[]>`
		select app_private.reserve_sign_in_attempt(${email}, ${MAX_FAILURES}, make_interval(secs => ${FAILURE_WINDOW_SECONDS})) as retry_after`;
	if (reserved!.retry_after !== null) throw new ThrottledError(reserved!.retry_after);

	const [account] = await sql<AccountRow[]>`
		select id, email, encrypted_password, raw_app_meta_data from auth.users where lower(email) = ${email}`;
	if (!(await verifyPassword(password, account?.encrypted_password ?? null)) || !account) throw new SignInError();
	await sql`delete from app_private.sign_in_failures where lower(email) = ${email}`;
	await sql`update auth.users set last_sign_in_at = now() where id = ${account.id}`;
	return account;
}

/** Replaces the password after checking the current one (sessions are ended by the caller). */
export async function changePassword(sql: Sql, userId: string, rawCurrent: unknown, rawNew: unknown): Promise<void> {
	const current = typeof rawCurrent === 'string' ? rawCurrent : '';
	const [account] = await sql<AccountRow[]>`
		select id, email, encrypted_password, raw_app_meta_data from auth.users where id = ${userId}`;
	if (!account) throw new UnauthorizedError('This account no longer exists');
	if (!(await verifyPassword(current, account.encrypted_password))) {
		throw new ValidationError('current_password', 'That is not your current password');
	}
	const password = checkNewPassword(rawNew);
	if (password === current) throw new ValidationError('password', 'Choose a password different from the current one');
	await sql`update auth.users set encrypted_password = ${await hashPassword(password)}, updated_at = now() where id = ${userId}`;
}
