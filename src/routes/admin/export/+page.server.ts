import { consoleReader } from '$lib/server/console/access';
import { listExports } from '$lib/server/console/export';
import { load as pageLoad } from '$lib/server/http';
import type { PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals }) => {
	consoleReader(locals.user);
	return { exports: listExports() };
}) satisfies PageServerLoad;
