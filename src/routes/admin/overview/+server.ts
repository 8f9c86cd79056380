import { json } from '@sveltejs/kit';
import { consoleOverview } from '$lib/server/admin/overview';
import type { RequestHandler } from './$types';

const log = (message: string) => console.log(`[picture] ${message}`);

/**
 * The overview's live refresh (admins only: hooks guard /admin/**). A JSON endpoint rather than
 * invalidate(): a failed refresh leaves the last numbers on screen with a notice, instead of
 * replacing the console with an error page.
 */
export const GET: RequestHandler = async ({ locals }) => {
	const { sql, config, migrationError } = locals.services;
	if (migrationError) return json({ error: 'The database migrations are not current' }, { status: 503 });
	return json(await consoleOverview(sql, config, log), { headers: { 'cache-control': 'no-store' } });
};
