import { json } from '@sveltejs/kit';
import { consoleReader } from '$lib/server/console/access';
import { endpoint } from '$lib/server/http';
import { hasCronSecret } from '$lib/server/http/cron-auth';
import { PROMETHEUS_CONTENT_TYPE, readMetrics, readProcessMetrics, renderMetrics, renderProcessMetrics } from '$lib/server/monitoring/metrics';
import type { RequestHandler } from './$types';

/**
 * Prometheus scrape target. Outside the console, because a scraper has no session: it sends
 * Authorization: Bearer <METRICS_TOKEN>. A signed-in administrator or operator may read it too.
 */
export const GET = endpoint(async ({ request, locals }) => {
	const { config, sql, migrationError, events } = locals.services;
	if (!hasCronSecret(request.headers.get('authorization'), config.metricsToken)) {
		if (!locals.user) {
			const how = config.metricsToken ? 'send Authorization: Bearer <METRICS_TOKEN>' : 'set METRICS_TOKEN for scrapers';
			return json({ error: `Sign in as an administrator, or ${how}` }, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
		}
		consoleReader(locals.user);
	}
	if (migrationError) return json({ error: 'Database migrations are not current' }, { status: 503 });
	const body = renderMetrics(await readMetrics(sql, { cache: locals.services.readCache })) + renderProcessMetrics(readProcessMetrics(events.subscriberCount));
	return new Response(body, {
		headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' }
	});
}) satisfies RequestHandler;
