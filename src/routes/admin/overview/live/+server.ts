import { json } from '@sveltejs/kit';
import { consoleReader } from '$lib/server/console/access';
import { cachedLiveSeries } from '$lib/server/console/live';
import { endpoint } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** The overview's realtime chart: polled every few seconds while the page is visible. */
export const GET = endpoint(async ({ locals }) => {
	const access = consoleReader(locals.user);
	const { sql, migrationError, readCache } = locals.services;
	if (migrationError) return json({ error: 'The database migrations are not current' }, { status: 503 });
	return json(await cachedLiveSeries(access, sql, readCache), { headers: { 'cache-control': 'no-store' } });
}) satisfies RequestHandler;
