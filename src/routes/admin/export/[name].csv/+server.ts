import { consoleReader } from '$lib/server/console/access';
import { exportCsv } from '$lib/server/console/export';
import { endpoint } from '$lib/server/http';
import type { RequestHandler } from './$types';

/**
 * /admin/export/failed-jobs.csv, queue-health.csv, throughput.csv, and jobs.csv?<the job list's
 * filter>: streamed CSV downloads.
 */
export const GET = endpoint(async ({ params, locals, url }) => {
	const access = consoleReader(locals.user);
	const download = await exportCsv(access, locals.services.sql, params.name, url.searchParams);
	return new Response(download.body, {
		headers: {
			'content-type': 'text/csv; charset=utf-8',
			'content-disposition': `attachment; filename="${download.filename}"`,
			// Operational data: never kept by a browser or a proxy.
			'cache-control': 'no-store'
		}
	});
}) satisfies RequestHandler;
