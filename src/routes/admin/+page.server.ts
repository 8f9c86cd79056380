import { error } from '@sveltejs/kit';
import { consoleOverview } from '$lib/server/admin/overview';
import type { PageServerLoad } from './$types';

const log = (message: string) => console.log(`[picture] ${message}`);

/** The first paint; afterwards the page refreshes itself from /admin/overview. */
export const load: PageServerLoad = async ({ locals }) => {
	const { sql, config, migrationError } = locals.services;
	if (migrationError) error(503, 'The database migrations are not current: see /api/health');
	return { overview: await consoleOverview(sql, config, log) };
};
