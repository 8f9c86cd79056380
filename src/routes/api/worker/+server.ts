import { json } from '@sveltejs/kit';
import { hasCronSecret } from '$lib/server/http/cron-auth';
import { endpoint } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** The cron entry point: work the queue for one time budget and report, in the seed's shape. */
export const POST = endpoint(async ({ request, locals, url }) => {
	const { config, migrationError } = locals.services;
	if (!hasCronSecret(request.headers.get('authorization'), config.cronSecret)) {
		const message = config.cronSecret
			? 'Missing or wrong cron secret: send Authorization: Bearer <CRON_SECRET>'
			: 'The worker endpoint is disabled until CRON_SECRET is set';
		return json({ success: false, error: message }, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
	}
	if (migrationError) return json({ success: false, error: 'Database migrations are not current' }, { status: 503 });

	const budgetParam = url.searchParams.get('budget_seconds');
	const budgetSeconds = budgetParam === null ? config.worker.budgetSeconds : Number(budgetParam);
	if (!Number.isInteger(budgetSeconds) || budgetSeconds < 1 || budgetSeconds > config.worker.budgetSeconds) {
		return json(
			{ success: false, error: `budget_seconds must be a whole number from 1 to ${config.worker.budgetSeconds}` },
			{ status: 400 }
		);
	}
	const result = await locals.services.worker.runFor(budgetSeconds, 'cron');
	return json({
		success: true,
		processed: result.processed,
		errors: result.errors,
		message: `Processed ${result.processed} job(s) with ${result.errors} error(s)`,
		reaped: result.reaped,
		returned: result.returned,
		duration_ms: result.durationMs,
		run_id: result.runId,
		worker_id: result.workerId
	});
}) satisfies RequestHandler;

/**
 * Vercel Cron can only send GET (with Authorization: Bearer <CRON_SECRET>), so GET does the same,
 * under the same secret. Without it a GET changes nothing and answers 401.
 */
export const GET = endpoint((event) => POST(event)) satisfies RequestHandler;
