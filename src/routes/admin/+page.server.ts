import { error } from '@sveltejs/kit';
import { consoleReader } from '$lib/server/console/access';
import { consoleOverview } from '$lib/server/console/overview';
import { load as pageLoad } from '$lib/server/http';
import type { PageServerLoad } from './$types';

/** The first paint; afterwards the page refreshes itself from /admin/overview. */
export const load = pageLoad(async ({ locals }) => {
	const access = consoleReader(locals.user);
	const { sql, config, migrationError, log, readCache } = locals.services;
	if (migrationError) error(503, 'The database migrations are not current: see /api/health');
	return { overview: await consoleOverview(access, sql, config, { log, cache: readCache }) };
}) satisfies PageServerLoad;
