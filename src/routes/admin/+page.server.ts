import { error } from '@sveltejs/kit';
import { consoleReader } from '$lib/server/console/access';
import { consoleHistory, historyChoices, parseHistoryQuery } from '$lib/server/console/history';
import { cachedLiveSeries } from '$lib/server/console/live';
import { consoleOverview } from '$lib/server/console/overview';
import { load as pageLoad } from '$lib/server/http';
import type { PageServerLoad } from './$types';

/**
 * The first paint; afterwards the page refreshes itself from /admin/overview and /admin/overview/live.
 * The history's range and filters are the URL's (?range=7d&type=...&model=...), checked against
 * allowlists before anything is read: a bad value is a 400.
 */
export const load = pageLoad(async ({ locals, url }) => {
	const access = consoleReader(locals.user);
	const { sql, config, migrationError, log, readCache, handlers } = locals.services;
	if (migrationError) error(503, 'The database migrations are not current: see /api/health');
	const choices = await historyChoices(access, sql, Object.keys(handlers));
	const query = parseHistoryQuery(url.searchParams, choices);
	const [overview, history, live] = await Promise.all([
		consoleOverview(access, sql, config, { log, cache: readCache }),
		consoleHistory(access, sql, query, choices, readCache),
		cachedLiveSeries(access, sql, readCache)
	]);
	return { overview, history, live };
}) satisfies PageServerLoad;
