import { randomBytes } from 'node:crypto';
import { validateWebhook } from 'replicate';
import { describe, expect, test } from 'vitest';
import { signReplicateWebhook, verifyReplicateWebhook } from '$lib/server/providers/webhook-signature';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const id = 'msg_2f1a9c';
const now = 1_750_000_000;
const timestamp = String(now);
const body = JSON.stringify({ id: 'gm3qorzdhgbfurvjtvhg6dckhu', status: 'succeeded', output: ['https://replicate.delivery/x.png'] });
const signature = signReplicateWebhook({ id, timestamp, body, secret });

function verify(overrides: Partial<Parameters<typeof verifyReplicateWebhook>[0]> = {}) {
	return verifyReplicateWebhook({ id, timestamp, signature, body, secret, nowSeconds: now, ...overrides });
}

describe('verifyReplicateWebhook', () => {
	test('accepts a valid signature', () => {
		expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
		expect(verify()).toEqual({ ok: true });
	});

	test('accepts the raw body as bytes, and a bare base64 secret', () => {
		expect(verify({ body: Buffer.from(body) })).toEqual({ ok: true });
		expect(verify({ secret: secret.slice('whsec_'.length) })).toEqual({ ok: true });
	});

	test('agrees with the replicate package about what a valid signature is', async () => {
		expect(await validateWebhook({ id, timestamp, signature, body, secret })).toBe(true);
	});

	test('rejects a signature made with another secret', () => {
		const other = `whsec_${randomBytes(32).toString('base64')}`;
		expect(verify({ secret: other })).toEqual({ ok: false, reason: 'bad-signature' });
	});

	test('rejects a tampered body, id or timestamp', () => {
		expect(verify({ body: body.replace('succeeded', 'failed') })).toEqual({ ok: false, reason: 'bad-signature' });
		expect(verify({ id: 'msg_other' })).toEqual({ ok: false, reason: 'bad-signature' });
		expect(verify({ timestamp: String(now - 1) })).toEqual({ ok: false, reason: 'bad-signature' });
	});

	test('rejects a stale timestamp and one from the future, even when correctly signed', () => {
		const old = String(now - 301);
		const oldSig = signReplicateWebhook({ id, timestamp: old, body, secret });
		expect(verify({ timestamp: old, signature: oldSig })).toEqual({ ok: false, reason: 'stale-timestamp' });
		const future = String(now + 301);
		const futureSig = signReplicateWebhook({ id, timestamp: future, body, secret });
		expect(verify({ timestamp: future, signature: futureSig })).toEqual({ ok: false, reason: 'future-timestamp' });
		// The edge of the window is still accepted.
		const edge = String(now - 300);
		expect(verify({ timestamp: edge, signature: signReplicateWebhook({ id, timestamp: edge, body, secret }) })).toEqual({ ok: true });
	});

	test('honours a custom tolerance and defaults nowSeconds to the clock', () => {
		expect(verify({ nowSeconds: now + 61, toleranceSeconds: 60 })).toEqual({ ok: false, reason: 'stale-timestamp' });
		const fresh = String(Math.floor(Date.now() / 1000));
		const freshSig = signReplicateWebhook({ id, timestamp: fresh, body, secret });
		expect(verifyReplicateWebhook({ id, timestamp: fresh, signature: freshSig, body, secret })).toEqual({ ok: true });
	});

	test('rejects missing and malformed headers', () => {
		expect(verify({ id: null })).toEqual({ ok: false, reason: 'missing-header' });
		expect(verify({ timestamp: '' })).toEqual({ ok: false, reason: 'missing-header' });
		expect(verify({ signature: undefined })).toEqual({ ok: false, reason: 'missing-header' });
		expect(verify({ timestamp: '17e8' })).toEqual({ ok: false, reason: 'malformed-timestamp' });
		expect(verify({ timestamp: '-5' })).toEqual({ ok: false, reason: 'malformed-timestamp' });
		const digest = signature.slice(3);
		for (const bad of [digest, `v2,${digest}`, 'v1,', 'v1,not base64!', 'v1,AAAA', ' , ']) {
			expect(verify({ signature: bad })).toEqual({ ok: false, reason: 'malformed-signature' });
		}
	});

	test('rejects an unusable secret', () => {
		expect(verify({ secret: '' })).toEqual({ ok: false, reason: 'missing-secret' });
		expect(verify({ secret: 'whsec_' })).toEqual({ ok: false, reason: 'missing-secret' });
		expect(() => signReplicateWebhook({ id, timestamp, body, secret: 'whsec_!!' })).toThrow(/base64/);
	});

	test('accepts any one valid signature among several (key rotation)', () => {
		const other = signReplicateWebhook({ id, timestamp, body, secret: `whsec_${randomBytes(32).toString('base64')}` });
		expect(verify({ signature: `${other} ${signature}` })).toEqual({ ok: true });
		expect(verify({ signature: `v2,zzz ${signature}` })).toEqual({ ok: true });
		expect(verify({ signature: `  ${signature}   ${other}  ` })).toEqual({ ok: true });
		expect(verify({ signature: `${other} ${other}` })).toEqual({ ok: false, reason: 'bad-signature' });
	});
});
