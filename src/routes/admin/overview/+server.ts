import { json } from '@sveltejs/kit';
import { consoleReader } from '$lib/server/console/access';
import { consoleOverview } from '$lib/server/console/overview';
import { endpoint } from '$lib/server/http';
import type { RequestHandler } from './$types';

/**
 * The overview's live refresh. A JSON endpoint rather than invalidate(): a failed refresh leaves the
 * last numbers on screen with a notice, instead of replacing the console with an error page.
 */
export const GET = endpoint(async ({ locals }) => {
	const access = consoleReader(locals.user);
	const { sql, config, migrationError, log, readCache } = locals.services;
	if (migrationError) return json({ error: 'The database migrations are not current' }, { status: 503 });
	return json(await consoleOverview(access, sql, config, { log, cache: readCache }), { headers: { 'cache-control': 'no-store' } });
}) satisfies RequestHandler;
