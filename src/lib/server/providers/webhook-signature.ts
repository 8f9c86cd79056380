// Replicate signs webhooks the Standard Webhooks way: HMAC-SHA256 over `${id}.${timestamp}.${body}`
// keyed by the base64 bytes after `whsec_`, sent as one or more space-separated `v1,<base64>`.
// The replicate package's validateWebhook neither bounds the timestamp (so a captured delivery
// could be replayed forever) nor compares in constant time, hence this module.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookRejection =
	| 'missing-secret'
	| 'missing-header'
	| 'malformed-timestamp'
	| 'stale-timestamp'
	| 'future-timestamp'
	| 'malformed-signature'
	| 'bad-signature';

export type WebhookVerification = { ok: true } | { ok: false; reason: WebhookRejection };

export interface WebhookSignatureParts {
	/** The `webhook-id` header. */
	id: string | null | undefined;
	/** The `webhook-timestamp` header: Unix seconds. */
	timestamp: string | null | undefined;
	/** The raw request body, exactly as received (re-serialised JSON would not match). */
	body: string | Uint8Array;
	/** `whsec_...` as Replicate gives it (the bare base64 key is accepted too). */
	secret: string;
}

export interface VerifyOptions extends WebhookSignatureParts {
	/** The `webhook-signature` header. */
	signature: string | null | undefined;
	nowSeconds?: number;
	/** How far the timestamp may be from now, either way (replay protection). */
	toleranceSeconds?: number;
}

const SIGNATURE_BYTES = 32; // SHA-256
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function secretKey(secret: string): Buffer | null {
	const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
	if (!encoded || !BASE64.test(encoded)) return null;
	const key = Buffer.from(encoded, 'base64');
	return key.length > 0 ? key : null;
}

function digest(key: Buffer, id: string, timestamp: string, body: string | Uint8Array): Buffer {
	const hmac = createHmac('sha256', key);
	hmac.update(`${id}.${timestamp}.`);
	hmac.update(body);
	return hmac.digest();
}

/** The `webhook-signature` header value for a delivery (used by tests and the fake server). */
export function signReplicateWebhook(parts: WebhookSignatureParts & { id: string; timestamp: string }): string {
	const key = secretKey(parts.secret);
	if (!key) throw new Error('The webhook secret must be "whsec_" followed by base64');
	return `v1,${digest(key, parts.id, parts.timestamp, parts.body).toString('base64')}`;
}

export function verifyReplicateWebhook(options: VerifyOptions): WebhookVerification {
	const { id, timestamp, signature, body, secret, toleranceSeconds = 300 } = options;
	const key = secretKey(secret);
	if (!key) return { ok: false, reason: 'missing-secret' };
	if (!id || !timestamp || !signature) return { ok: false, reason: 'missing-header' };
	if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed-timestamp' };

	const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
	const age = now - Number(timestamp);
	if (age > toleranceSeconds) return { ok: false, reason: 'stale-timestamp' };
	if (age < -toleranceSeconds) return { ok: false, reason: 'future-timestamp' };

	// Only well-formed v1 entries count; other versions may appear when Replicate adds schemes.
	const candidates: Buffer[] = [];
	for (const entry of signature.trim().split(/\s+/)) {
		const comma = entry.indexOf(',');
		if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
		const encoded = entry.slice(comma + 1);
		if (!BASE64.test(encoded)) continue;
		const bytes = Buffer.from(encoded, 'base64');
		if (bytes.length === SIGNATURE_BYTES) candidates.push(bytes);
	}
	if (candidates.length === 0) return { ok: false, reason: 'malformed-signature' };

	const expected = digest(key, id, timestamp, body);
	let matched = false;
	// Every candidate is compared (no early exit) and each compare is constant-time.
	for (const candidate of candidates) {
		if (timingSafeEqual(candidate, expected)) matched = true;
	}
	return matched ? { ok: true } : { ok: false, reason: 'bad-signature' };
}
