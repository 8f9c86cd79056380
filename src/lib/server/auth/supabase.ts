// Supabase Auth accounts (PUBLIC_SUPABASE_URL + PUBLIC_SUPABASE_ANON_KEY). @supabase/ssr owns the
// session cookie (its name, encoding, chunking, refreshes); the server VERIFIES the access token
// itself against the project's keys before trusting a single claim of it.
import { createHmac, timingSafeEqual, verify as verifySignature } from 'node:crypto';
import type { Cookies } from '@sveltejs/kit';
import { createServerClient, isChunkLike } from '@supabase/ssr';
import type { AuthError, SupabaseClient } from '@supabase/supabase-js';
import ws from 'ws';
import type { Sql } from '../db/client';
import type { JwtClaims } from '../db/with-user';
import { ValidationError } from '../errors';
import { JwksCache } from './jwks';
import { checkNewPassword, normaliseEmail, signInCredentials, SignInError, ThrottledError } from './local';
import { bearerToken } from './session';
import { rolesOf, type AppUser } from './user';
import { isUuid } from '../../uuid';

export interface SupabaseAuthOptions {
	url: string;
	anonKey: string;
	/** Legacy projects sign with a shared HS256 secret; without it only asymmetric keys are accepted. */
	jwtSecret?: string | null;
	adminEmails?: string[];
	/** Mirrors signed-in users into auth.users when the database is not the project's own. */
	sql?: Sql;
	fetch?: typeof fetch;
	timeoutMs?: number;
	jwksRefetchCooldownMs?: number;
	log?: (message: string) => void;
}

/** The claims of a verified Supabase access token: all of them go to the database, as PostgREST does. */
export interface SupabaseClaims extends JwtClaims {
	sub: string;
	role: 'authenticated';
	iss: string;
	exp: number;
	email?: string;
	app_metadata?: { roles?: unknown; role?: unknown; [key: string]: unknown };
}

/** Supabase Auth could not be reached or answered with a server error. */
export class AuthUnavailableError extends Error {
	constructor(cause: unknown) {
		super('Sign-in is unavailable right now: the accounts service could not be reached. Try again in a moment.', { cause });
		this.name = 'AuthUnavailableError';
	}
}

export type CookieJar = Pick<Cookies, 'getAll' | 'set' | 'delete'>;

const B64URL = /^[A-Za-z0-9_-]+$/;
/** Clock skew tolerated for nbf only; an expired token is refused at once, as supabase-js does. */
const SKEW_SECONDS = 30;
const decode = (part: string): Record<string, unknown> | null => {
	const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
	return value && typeof value === 'object' && !Array.isArray(value) ? value : null;
};

export class SupabaseAuth {
	readonly url: string;
	readonly issuer: string;
	/** @supabase/ssr's cookie name: supabase-js's default storage key, `sb-<project ref>-auth-token`. */
	readonly storageKey: string;
	readonly jwks: JwksCache;
	private ownUsersTable: Promise<boolean> | undefined;

	constructor(private readonly options: SupabaseAuthOptions) {
		this.url = options.url.replace(/\/+$/, '');
		this.issuer = `${this.url}/auth/v1`;
		this.storageKey = `sb-${new URL(this.url).hostname.split('.')[0]}-auth-token`;
		this.jwks = new JwksCache({
			url: `${this.issuer}/.well-known/jwks.json`,
			apiKey: options.anonKey,
			fetch: options.fetch,
			timeoutMs: options.timeoutMs,
			refetchCooldownMs: options.jwksRefetchCooldownMs,
			log: options.log
		});
	}

	/**
	 * The token's claims when its signature is the project's and it is current, for this project's
	 * users; null otherwise. Done here rather than with supabase-js's getClaims(), which checks
	 * neither issuer, audience nor role, keeps keys per client (we make one per request), and
	 * falls back to a network call for unknown kids and HS256.
	 */
	async verify(token: string | null | undefined, now = Math.floor(Date.now() / 1000)): Promise<SupabaseClaims | null> {
		const parts = token?.split('.') ?? [];
		if (parts.length !== 3 || !parts.every((part) => B64URL.test(part))) return null;
		const [rawHeader, rawPayload, rawSignature] = parts as [string, string, string];
		let header: Record<string, unknown> | null;
		let claims: Record<string, unknown> | null;
		try {
			header = decode(rawHeader);
			claims = decode(rawPayload);
		} catch {
			return null;
		}
		if (!header || !claims) return null;
		const signed = Buffer.from(`${rawHeader}.${rawPayload}`);
		const signature = Buffer.from(rawSignature, 'base64url');

		// The algorithm comes from the key (or the configured secret), never from the token alone:
		// `none`, HS256 without a secret, or a kid whose key is of another type are all refused.
		if (header.alg === 'HS256') {
			if (!this.options.jwtSecret) return null;
			const expected = createHmac('sha256', this.options.jwtSecret).update(signed).digest();
			if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return null;
		} else if (header.alg === 'ES256' || header.alg === 'RS256') {
			if (typeof header.kid !== 'string') return null;
			const key = await this.jwks.key(header.kid);
			if (!key || key.alg !== header.alg) return null;
			const ok = verifySignature('sha256', signed, key.alg === 'ES256' ? { key: key.key, dsaEncoding: 'ieee-p1363' } : key.key, signature);
			if (!ok) return null;
		} else {
			return null;
		}

		if (typeof claims.exp !== 'number' || claims.exp <= now) return null;
		if (typeof claims.nbf === 'number' && claims.nbf > now + SKEW_SECONDS) return null;
		if (claims.iss !== this.issuer) return null;
		const aud = claims.aud;
		if (!(aud === 'authenticated' || (Array.isArray(aud) && aud.includes('authenticated')))) return null;
		// anon and service_role tokens are API keys, not users.
		if (claims.role !== 'authenticated') return null;
		if (!isUuid(claims.sub)) return null;
		return claims as SupabaseClaims;
	}

	toUser(claims: SupabaseClaims): AppUser {
		const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : '';
		// Only app_metadata and hook-set claims: user_metadata is writable by the user.
		const meta = claims.app_metadata ?? {};
		const granted = rolesOf(meta, email, email !== '' ? (this.options.adminEmails ?? []) : []);
		const isAdmin = granted.isAdmin || meta.role === 'admin' || claims.user_role === 'admin';
		const isOperator = !isAdmin && (granted.isOperator || meta.role === 'operator' || claims.user_role === 'operator');
		return { id: claims.sub, email, isAdmin, isOperator, claims: { ...claims }, sessionId: null };
	}

	async userFromToken(token: string | null | undefined): Promise<AppUser | null> {
		const claims = await this.verify(token);
		return claims ? this.toUser(claims) : null;
	}

	/**
	 * The caller, from `Authorization: Bearer` or @supabase/ssr's session cookie. getSession()
	 * only decodes the cookie (refreshing it through Supabase when it is about to expire and
	 * writing the new cookies): anyone can write a cookie, so its access token is verified here.
	 */
	async resolve(request: Request, cookies: CookieJar): Promise<AppUser | null> {
		const bearer = bearerToken(request.headers.get('authorization'));
		if (bearer) return this.userFromToken(bearer);
		if (!cookies.getAll().some(({ name }) => isChunkLike(name, this.storageKey))) return null;
		const client = this.client(cookies, new URL(request.url).protocol === 'https:');
		const { data } = await client.auth.getSession();
		return this.userFromToken(data.session?.access_token);
	}

	/** A per-request client whose session lives in the request's cookies, as @supabase/ssr intends. */
	client(cookies: CookieJar, secure: boolean): SupabaseClient {
		const timeoutMs = this.options.timeoutMs ?? 5000;
		const baseFetch = this.options.fetch ?? fetch;
		return createServerClient(this.url, this.options.anonKey, {
			cookies: {
				getAll: () => cookies.getAll(),
				setAll: (list) => {
					// A late write (a background refresh finishing after the response went out) cannot
					// reach the browser; SvelteKit throws then, and auth-js would rethrow it unhandled.
					try {
						for (const { name, value, options } of list) cookies.set(name, value, { ...options, path: options.path ?? '/' });
					} catch (error) {
						(this.options.log ?? console.warn)(`[picture] Supabase session cookie not written: ${(error as Error).message}`);
					}
				}
			},
			// No browser client reads the session, so the cookie can be HttpOnly (out of reach of scripts).
			cookieOptions: { httpOnly: true, secure, sameSite: 'lax', path: '/' },
			global: { fetch: (input, init) => baseFetch(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeoutMs) }) },
			// Node 20 has no global WebSocket; supabase-js throws at construction without one.
			realtime: { transport: ws as unknown as typeof WebSocket }
		});
	}

	/** Signs in through Supabase Auth; @supabase/ssr writes the session cookies through `cookies`. */
	async signIn(cookies: CookieJar, secure: boolean, rawEmail: unknown, rawPassword: unknown): Promise<AppUser> {
		const { email, password } = signInCredentials(rawEmail, rawPassword);
		const { data, error } = await this.client(cookies, secure).auth.signInWithPassword({ email, password });
		if (error) {
			if (error.code === 'email_not_confirmed') throw new SignInError('Confirm your email address first: follow the link we sent you');
			if (error.status === 429) throw new ThrottledError(60);
			if (error.status === 400 || error.status === 401 || error.status === 422) throw new SignInError();
			throw new AuthUnavailableError(error);
		}
		return this.started(data.session?.access_token);
	}

	/**
	 * Creates the account. With email confirmation on (Supabase's default) there is no session yet:
	 * the emailed link returns to emailRedirectTo with a `code` for exchangeCode().
	 */
	async signUp(cookies: CookieJar, secure: boolean, rawEmail: unknown, rawPassword: unknown, emailRedirectTo: string) {
		const email = normaliseEmail(rawEmail);
		const password = checkNewPassword(rawPassword);
		const { data, error } = await this.client(cookies, secure).auth.signUp({ email, password, options: { emailRedirectTo } });
		if (error) throw this.signUpError(error);
		return { user: data.session ? await this.started(data.session.access_token) : null };
	}

	/** Finishes an emailed confirmation or magic link (PKCE): its verifier is in this browser's cookies. */
	async exchangeCode(cookies: CookieJar, secure: boolean, code: string): Promise<AppUser> {
		const { data, error } = await this.client(cookies, secure).auth.exchangeCodeForSession(code);
		if (error) throw new SignInError('That link has expired or was already used. Sign in, or request a new link.');
		return this.started(data.session?.access_token);
	}

	/** Ends this browser's session (or, global, all of the user's); its cookies go even when Supabase Auth cannot be reached. */
	async signOut(cookies: CookieJar, secure: boolean, scope: 'local' | 'global' = 'local'): Promise<void> {
		await this.client(cookies, secure)
			.auth.signOut({ scope })
			.catch(() => {});
		for (const { name } of cookies.getAll()) {
			if (isChunkLike(name, this.storageKey)) cookies.delete(name, { path: '/', httpOnly: true, sameSite: 'lax', secure });
		}
	}

	private signUpError(error: AuthError): Error {
		if (error.code === 'user_already_exists' || error.code === 'email_exists') {
			return new ValidationError('email', 'An account with this email already exists. Sign in instead.');
		}
		if (error.code === 'weak_password') return new ValidationError('password', error.message);
		if (error.code === 'email_address_invalid') return new ValidationError('email', 'Enter a valid email address');
		if (error.status === 429) return new ValidationError('email', 'Too many sign-ups right now. Try again in a few minutes.');
		return new AuthUnavailableError(error);
	}

	/** Verifies the token Supabase just issued (as for any request) and mirrors the user row. */
	private async started(accessToken: string | undefined): Promise<AppUser> {
		const claims = await this.verify(accessToken);
		if (!claims) throw new AuthUnavailableError(new Error('Supabase Auth issued a token that does not verify against its keys'));
		await this.mirrorUser(claims);
		return this.toUser(claims);
	}

	/**
	 * On Supabase the user's row is already in auth.users. On another Postgres (embedded, a local
	 * server) the bootstrap's auth.users is empty, and the generations' foreign keys need the row.
	 */
	private async mirrorUser(claims: SupabaseClaims): Promise<void> {
		const sql = this.options.sql;
		if (!sql) return;
		try {
			// Supabase's own auth schema has auth.identities; the bootstrap's does not.
			this.ownUsersTable ??= sql`select to_regclass('auth.identities') is null as own`.then(([row]) => Boolean(row?.own));
			if (!(await this.ownUsersTable)) return;
			await sql`
				insert into auth.users (id, email, email_confirmed_at, raw_app_meta_data, last_sign_in_at)
				values (${claims.sub}, ${claims.email || null}, now(), ${sql.json((claims.app_metadata ?? {}) as never)}, now())
				on conflict (id) do update set email = excluded.email, raw_app_meta_data = excluded.raw_app_meta_data, last_sign_in_at = now()`;
		} catch (error) {
			(this.options.log ?? console.warn)(`[picture] could not record Supabase user ${claims.sub} in auth.users: ${(error as Error).message}`);
		}
	}
}
