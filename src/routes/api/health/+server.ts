import { json } from '@sveltejs/kit';
import { checkHealth } from '$lib/server/monitoring/health';
import { endpoint } from '$lib/server/http';
import type { RequestHandler } from './$types';

export const GET = endpoint(async ({ locals }) => {
	const report = await checkHealth(locals.services);
	return json(report, { status: report.status === 'ok' ? 200 : 503, headers: { 'cache-control': 'no-store' } });
}) satisfies RequestHandler;
