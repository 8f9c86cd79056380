// A local HTTP server speaking the parts of Supabase Auth (GoTrue) that Picture uses: its JWKS,
// password sign-in, refresh, PKCE code exchange, sign-up and logout. Tokens are ES256 JWTs signed
// with a P-256 key made here, with the claims Supabase issues. Test support, never app code.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';

export interface SigningKey {
	kid: string;
	alg: 'ES256' | 'RS256';
	privateKey: KeyObject;
	publicJwk: JsonWebKey & { kid: string; alg: string; use: 'sig' };
}

export function newSigningKey(alg: 'ES256' | 'RS256' = 'ES256', kid: string = randomUUID()): SigningKey {
	const { privateKey, publicKey } =
		alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
	return { kid, alg, privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact JWS as GoTrue makes them (ECDSA signatures in JOSE's r||s form, not DER). */
export function signJwt(payload: Record<string, unknown>, key: SigningKey, header: Record<string, unknown> = {}): string {
	const body = `${b64({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })}.${b64(payload)}`;
	const signature = sign('sha256', Buffer.from(body), key.alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey);
	return `${body}.${signature.toString('base64url')}`;
}

export interface FakeUser {
	id: string;
	email: string;
	password: string;
	app_metadata: Record<string, unknown>;
	user_metadata: Record<string, unknown>;
}

export interface FakeSupabaseAuth {
	/** What PUBLIC_SUPABASE_URL is set to. */
	url: string;
	issuer: string;
	anonKey: string;
	/** The key that signs new tokens (the first one published). */
	key: SigningKey;
	/** Every request, as "METHOD /path?query", for asserting what the app asked. */
	requests: string[];
	addUser(user: Partial<FakeUser> & { email: string }): FakeUser;
	/** An access token for the user, with claim overrides (exp, iss, aud ...) and any key. */
	accessToken(user: FakeUser, overrides?: Record<string, unknown>, key?: SigningKey): string;
	/** A session body exactly as GoTrue answers /token, and its refresh token made valid here. */
	session(user: FakeUser, overrides?: Record<string, unknown>): Record<string, unknown> & { access_token: string; refresh_token: string };
	/** Publishes another key and signs with it from now on (Supabase's key rotation). */
	rotate(key?: SigningKey): SigningKey;
	/** The PKCE code the confirmation email for this address would carry. */
	confirmationCode(email: string): string | undefined;
	close(): Promise<void>;
}

export async function startFakeSupabaseAuth(options: { autoConfirm?: boolean } = {}): Promise<FakeSupabaseAuth> {
	const published: SigningKey[] = [newSigningKey('ES256')];
	let current = published[0]!;
	const users = new Map<string, FakeUser>();
	const refreshTokens = new Map<string, string>(); // token -> user id
	const codes = new Map<string, { userId: string; email: string }>();
	const requests: string[] = [];
	const anonKey = `anon-${randomBytes(8).toString('hex')}`;
	let url = '';

	const byId = (id: string) => [...users.values()].find((user) => user.id === id);
	const userJson = (user: FakeUser) => {
		const at = new Date().toISOString();
		return {
			id: user.id,
			aud: 'authenticated',
			role: 'authenticated',
			email: user.email,
			email_confirmed_at: at,
			phone: '',
			confirmed_at: at,
			last_sign_in_at: at,
			app_metadata: user.app_metadata,
			user_metadata: user.user_metadata,
			identities: [],
			created_at: at,
			updated_at: at,
			is_anonymous: false
		};
	};
	const accessToken = (user: FakeUser, overrides: Record<string, unknown> = {}, key = current) => {
		const now = Math.floor(Date.now() / 1000);
		return signJwt(
			{
				iss: `${url}/auth/v1`,
				sub: user.id,
				aud: 'authenticated',
				exp: now + 3600,
				iat: now,
				email: user.email,
				phone: '',
				app_metadata: user.app_metadata,
				user_metadata: user.user_metadata,
				role: 'authenticated',
				aal: 'aal1',
				amr: [{ method: 'password', timestamp: now }],
				session_id: randomUUID(),
				is_anonymous: false,
				...overrides
			},
			key
		);
	};
	const session = (user: FakeUser, overrides: Record<string, unknown> = {}) => {
		const refresh_token = randomBytes(9).toString('base64url');
		refreshTokens.set(refresh_token, user.id);
		const access_token = accessToken(user);
		return {
			access_token,
			token_type: 'bearer',
			expires_in: 3600,
			expires_at: Math.floor(Date.now() / 1000) + 3600,
			refresh_token,
			user: userJson(user),
			...overrides
		} as Record<string, unknown> & { access_token: string; refresh_token: string };
	};
	const addUser = (input: Partial<FakeUser> & { email: string }): FakeUser => {
		const user: FakeUser = { id: randomUUID(), password: 'a-long-enough-password', app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {}, ...input };
		users.set(user.email.toLowerCase(), user);
		return user;
	};

	const send = (res: ServerResponse, status: number, body?: unknown) => {
		res.writeHead(status, { 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' });
		res.end(body === undefined ? undefined : JSON.stringify(body));
	};
	const fail = (res: ServerResponse, status: number, code: string, msg: string) => send(res, status, { code, error_code: code, msg });
	const readJson = async (req: IncomingMessage) => {
		const chunks: Buffer[] = [];
		for await (const chunk of req) chunks.push(chunk as Buffer);
		return chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, string>) : {};
	};

	const server = createServer(async (req, res) => {
		const target = new URL(req.url ?? '/', 'http://x');
		requests.push(`${req.method} ${target.pathname}${target.search}`);
		const route = `${req.method} ${target.pathname}`;
		// Like the API gateway: every Auth call but the JWKS carries the project's API key.
		if (target.pathname !== '/auth/v1/.well-known/jwks.json' && req.headers.apikey !== anonKey) {
			return fail(res, 401, 'no_api_key', 'No API key found in request');
		}
		if (route === 'GET /auth/v1/.well-known/jwks.json') return send(res, 200, { keys: published.map((key) => key.publicJwk) });
		if (route === 'POST /auth/v1/token') {
			const body = await readJson(req);
			const grant = target.searchParams.get('grant_type');
			if (grant === 'password') {
				const user = users.get(String(body.email).toLowerCase());
				if (!user || user.password !== body.password) return fail(res, 400, 'invalid_credentials', 'Invalid login credentials');
				return send(res, 200, session(user));
			}
			if (grant === 'refresh_token') {
				const user = byId(refreshTokens.get(body.refresh_token ?? '') ?? '');
				if (!user) return fail(res, 400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
				refreshTokens.delete(body.refresh_token!); // refresh tokens are single use
				return send(res, 200, session(user));
			}
			if (grant === 'pkce') {
				const entry = codes.get(body.auth_code ?? '');
				const user = entry && byId(entry.userId);
				if (!user || !body.code_verifier) return fail(res, 404, 'flow_state_not_found', 'invalid flow state, no valid flow state found');
				codes.delete(body.auth_code!);
				return send(res, 200, session(user));
			}
			return fail(res, 400, 'validation_failed', 'unsupported_grant_type');
		}
		if (route === 'POST /auth/v1/signup') {
			const body = await readJson(req);
			if (users.has(String(body.email).toLowerCase())) return fail(res, 422, 'user_already_exists', 'User already registered');
			const user = addUser({ email: String(body.email), password: String(body.password) });
			if (options.autoConfirm) return send(res, 200, session(user));
			codes.set(randomUUID(), { userId: user.id, email: user.email });
			return send(res, 200, userJson(user));
		}
		if (route === 'POST /auth/v1/logout') {
			res.writeHead(204).end();
			return;
		}
		return fail(res, 404, 'not_found', `no route ${route}`);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

	return {
		url,
		issuer: `${url}/auth/v1`,
		anonKey,
		key: current,
		requests,
		addUser,
		accessToken,
		session,
		rotate(key = newSigningKey('ES256')) {
			published.push(key);
			current = key;
			return key;
		},
		confirmationCode: (email) => [...codes.entries()].find(([, entry]) => entry.email === email.toLowerCase())?.[0],
		close: () => new Promise<void>((resolve) => server.close(() => resolve()))
	};
}
