import { json } from '@sveltejs/kit';
import { applyReplicateWebhook } from '$lib/server/generations/webhook';
import { verifyReplicateWebhook } from '$lib/server/providers/webhook-signature';
import { endpoint } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** Signed prediction updates from Replicate; anything unsigned, stale or tampered is refused. */
export const POST = endpoint(async ({ request, locals }) => {
	const { config, sql } = locals.services;
	const secret = config.replicate.webhookSecret;
	if (!secret) return json({ error: 'Webhooks are not configured (REPLICATE_WEBHOOK_SECRET)' }, { status: 404 });
	const body = await request.text();
	const id = request.headers.get('webhook-id');
	const verdict = verifyReplicateWebhook({
		id,
		timestamp: request.headers.get('webhook-timestamp'),
		signature: request.headers.get('webhook-signature'),
		body,
		secret
	});
	if (!verdict.ok) return json({ error: `Webhook refused: ${verdict.reason}` }, { status: 401 });
	let prediction: unknown;
	try {
		prediction = JSON.parse(body);
	} catch {
		return json({ error: 'The body is not JSON' }, { status: 400 });
	}
	if (typeof prediction !== 'object' || prediction === null) return json({ error: 'Expected a prediction object' }, { status: 400 });
	// JSON may spell a NUL as \u0000; Postgres can store none, so the delivery is refused whole.
	if (/(^|[^\\])(\\\\)*\\u0000/.test(body)) return json({ error: 'The prediction contains a NUL character (\\u0000), which cannot be stored' }, { status: 400 });
	const outcome = await applyReplicateWebhook(sql, id!, prediction);
	return json({ ok: true, outcome });
}) satisfies RequestHandler;
