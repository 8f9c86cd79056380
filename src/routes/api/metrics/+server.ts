import { json } from '@sveltejs/kit';
import { hasCronSecret } from '$lib/server/cron-auth';
import { PROMETHEUS_CONTENT_TYPE, readMetrics, readProcessMetrics, renderMetrics, renderProcessMetrics } from '$lib/server/admin/metrics';
import type { RequestHandler } from './$types';

/**
 * Prometheus scrape target. Not under the /api/admin guard in hooks, because a scraper has no
 * session: it sends Authorization: Bearer <METRICS_TOKEN>. An administrator's session works too.
 */
export const GET: RequestHandler = async ({ request, locals }) => {
	const { config, sql, migrationError, events } = locals.services;
	if (!hasCronSecret(request.headers.get('authorization'), config.metricsToken)) {
		if (!locals.user) {
			const how = config.metricsToken ? 'send Authorization: Bearer <METRICS_TOKEN>' : 'set METRICS_TOKEN for scrapers';
			return json({ error: `Sign in as an administrator, or ${how}` }, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
		}
		if (!locals.user.isAdmin) return json({ error: 'Metrics are for administrators' }, { status: 403 });
	}
	if (migrationError) return json({ error: 'Database migrations are not current' }, { status: 503 });
	const body = renderMetrics(await readMetrics(sql)) + renderProcessMetrics(readProcessMetrics(events.subscriberCount));
	return new Response(body, {
		headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' }
	});
};
