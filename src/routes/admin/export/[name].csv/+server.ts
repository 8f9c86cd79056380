import { error } from '@sveltejs/kit';
import { exportCsv } from '$lib/server/admin/export';
import { NotFoundError } from '$lib/server/errors';
import { requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** /admin/export/failed-jobs.csv, queue-health.csv, throughput.csv: streamed CSV downloads. */
export const GET: RequestHandler = async ({ params, locals }) => {
	const actor = requireUser(locals.user);
	try {
		const download = await exportCsv(locals.services.sql, actor, params.name);
		return new Response(download.body, {
			headers: {
				'content-type': 'text/csv; charset=utf-8',
				'content-disposition': `attachment; filename="${download.filename}"`,
				// Operational data: never kept by a browser or a proxy.
				'cache-control': 'no-store'
			}
		});
	} catch (err) {
		if (err instanceof NotFoundError) error(404, err.message);
		throw err;
	}
};
