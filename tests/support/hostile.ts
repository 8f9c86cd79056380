// Shared by the hostile-input corpora: the tables a refused request must leave as they were, and
// the message an answer carries whatever its shape.
import type { Sql } from '../../src/lib/server/db/client';
import { signReplicateWebhook } from '../../src/lib/server/providers/webhook-signature';
import { POST as replicateWebhook } from '../../src/routes/api/webhooks/replicate/+server';
import type { Route, Send } from './through-hooks';

/** Every table a request could write, each as a digest of all its rows: any change shows. */
export const TABLES = [
	'public.image_generations',
	'public.generation_groups',
	'public.job_queue',
	'public.admin_audit_log',
	'auth.users',
	'public.user_limits',
	'public.models',
	'public.job_queue_paused_types',
	'public.worker_runs',
	'public.webhook_deliveries',
	'app_private.sign_in_failures',
	'app_private.sessions'
];

export async function snapshotTables(sql: Sql): Promise<Record<string, string>> {
	const result: Record<string, string> = {};
	for (const table of TABLES) {
		// Sessions record when they were last seen; who holds one is what must not change.
		const rows = table === 'app_private.sessions' ? '(select id, user_id, expires_at from app_private.sessions)' : table;
		const [row] = await sql.unsafe(`select count(*)::int as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as digest from ${rows} t`);
		result[table] = `${row!.n}:${row!.digest}`;
	}
	return result;
}

/** The message an answer carries: JSON error/message, a form failure's error, or plain text. */
export function messageOf(body: unknown): string {
	if (typeof body === 'string') return body;
	const b = body as { error?: unknown; message?: unknown; problem?: { error: string } } | null;
	return String(b?.error ?? b?.message ?? b?.problem?.error ?? '');
}

/** Posts a body to the Replicate webhook with a valid signature under `secret`, through the hooks. */
export function signedWebhook(send: Send, secret: string, body: string) {
	const id = `msg_${crypto.randomUUID()}`;
	const timestamp = String(Math.floor(Date.now() / 1000));
	const signature = signReplicateWebhook({ id, timestamp, body, secret });
	return send('/api/webhooks/replicate', replicateWebhook as Route, {
		method: 'POST',
		body,
		headers: { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature, 'content-type': 'application/json' }
	});
}
