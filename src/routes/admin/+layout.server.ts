import { consoleReader } from '$lib/server/console/access';
import { consoleEnvironment } from '$lib/server/console/environment';
import { load as layoutLoad } from '$lib/server/http';
import type { LayoutServerLoad } from './$types';

/** What every console page shows in its header: which deployment this is, and whether the viewer may act. */
export const load = layoutLoad(async ({ locals }) => {
	const access = consoleReader(locals.user);
	return {
		console: {
			environment: consoleEnvironment(locals.services.config.environment),
			canAct: access.canAct,
			role: access.canAct ? ('administrator' as const) : ('operator' as const)
		}
	};
}) satisfies LayoutServerLoad;
