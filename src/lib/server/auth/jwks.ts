// The public keys a Supabase project signs its access tokens with, fetched from its JWKS endpoint
// and cached across requests (supabase-js caches them per client, and we build a client per request).
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

export interface VerificationKey {
	kid: string;
	/** The signature algorithm this key may verify: never taken from the token alone. */
	alg: 'ES256' | 'RS256';
	key: KeyObject;
}

export interface JwksOptions {
	url: string;
	/** Sent as `apikey`, as supabase-js does; the endpoint is public but sits behind the API gateway. */
	apiKey?: string;
	fetch?: typeof fetch;
	/** One fetch may take this long; a hung auth server must not hang every request. */
	timeoutMs?: number;
	/** How long fetched keys are trusted before the set is fetched again (supabase-js: 10 minutes). */
	ttlMs?: number;
	/**
	 * Least time between two fetches caused by an unknown kid, so tokens with made-up kids cannot
	 * make every request hit the auth server. A rotated-in key is published before it signs.
	 */
	refetchCooldownMs?: number;
	log?: (message: string) => void;
}

/** Only the algorithms Supabase's asymmetric signing keys use; anything else is ignored. */
function toVerificationKey(jwk: Record<string, unknown>): VerificationKey | null {
	if (typeof jwk.kid !== 'string' || !jwk.kid) return null;
	if (jwk.use !== undefined && jwk.use !== 'sig') return null;
	if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return null;
	let alg: VerificationKey['alg'];
	if (jwk.kty === 'EC' && jwk.crv === 'P-256') alg = 'ES256';
	else if (jwk.kty === 'RSA') alg = 'RS256';
	else return null;
	if (jwk.alg !== undefined && jwk.alg !== alg) return null;
	try {
		// Only the public members, so a JWKS that wrongly carries `d` still yields a public key.
		const { kty, crv, x, y, n, e } = jwk as JsonWebKey;
		const key = createPublicKey({ key: { kty, crv, x, y, n, e } as JsonWebKey, format: 'jwk' });
		return { kid: jwk.kid, alg, key };
	} catch {
		return null;
	}
}

export class JwksCache {
	private keys = new Map<string, VerificationKey>();
	private fetchedAt = Number.NEGATIVE_INFINITY;
	private lastAttempt = Number.NEGATIVE_INFINITY;
	private inflight: Promise<void> | null = null;
	/** How many times the key set was requested (tests count refetches with it). */
	fetches = 0;

	constructor(private readonly options: JwksOptions) {}

	/** The key for kid, fetching the set when it is unknown or stale; null when there is none. */
	async key(kid: string): Promise<VerificationKey | null> {
		const cached = this.keys.get(kid);
		const fresh = Date.now() - this.fetchedAt < (this.options.ttlMs ?? 10 * 60_000);
		if (cached && fresh) return cached;
		if (this.inflight) await this.inflight;
		else if (Date.now() - this.lastAttempt >= (this.options.refetchCooldownMs ?? 10_000)) await this.refresh();
		// A stale key is still used when the refetch failed: an auth server outage should not sign
		// everybody out, and Supabase keeps revoked keys' tokens short-lived.
		return this.keys.get(kid) ?? null;
	}

	/** Fetches the key set now; concurrent callers share one request. Failures keep the old keys. */
	refresh(): Promise<void> {
		this.inflight ??= this.load().finally(() => {
			this.inflight = null;
		});
		return this.inflight;
	}

	private async load(): Promise<void> {
		this.lastAttempt = Date.now();
		this.fetches += 1;
		try {
			const response = await (this.options.fetch ?? fetch)(this.options.url, {
				headers: { accept: 'application/json', ...(this.options.apiKey ? { apikey: this.options.apiKey } : {}) },
				signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000)
			});
			if (!response.ok) throw new Error(`HTTP ${response.status}`);
			const body = (await response.json()) as { keys?: unknown };
			if (!Array.isArray(body.keys)) throw new Error('no "keys" array');
			const keys = new Map<string, VerificationKey>();
			for (const jwk of body.keys) {
				const key = jwk && typeof jwk === 'object' ? toVerificationKey(jwk as Record<string, unknown>) : null;
				if (key) keys.set(key.kid, key);
			}
			this.keys = keys;
			this.fetchedAt = Date.now();
		} catch (error) {
			(this.options.log ?? console.warn)(`[picture] could not fetch Supabase signing keys from ${this.options.url}: ${(error as Error).message}`);
		}
	}
}
