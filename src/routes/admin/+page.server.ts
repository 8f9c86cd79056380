import { error } from '@sveltejs/kit';
import { consoleReader } from '$lib/server/console/access';
import { consoleOverview } from '$lib/server/console/overview';
import { load as pageLoad } from '$lib/server/http';
import type { PageServerLoad } from './$types';

const log = (message: string) => console.log(`[picture] ${message}`);

/** The first paint; afterwards the page refreshes itself from /admin/overview. */
export const load = pageLoad(async ({ locals }) => {
	const access = consoleReader(locals.user);
	const { sql, config, migrationError } = locals.services;
	if (migrationError) error(503, 'The database migrations are not current: see /api/health');
	return { overview: await consoleOverview(access, sql, config, log) };
}) satisfies PageServerLoad;
