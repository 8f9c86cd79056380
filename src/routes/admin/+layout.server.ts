import { error } from '@sveltejs/kit';
import { consoleReader } from '$lib/server/console/access';
import { consoleEnvironment } from '$lib/server/console/environment';
import { load as layoutLoad } from '$lib/server/http';
import type { LayoutServerLoad } from './$types';

/**
 * The guard in hooks refuses non-administrators; for a browser opening a console page it lets the
 * request through with the refusal in locals, so the refusal is drawn as an error page inside the
 * app's layout. The pages' own loads refuse too (their console services demand access).
 * For everyone else: what every console page shows in its header, which deployment this is and
 * whether the viewer may act.
 */
export const load = layoutLoad(async ({ locals }) => {
	if (locals.refusal) error(locals.refusal.status, locals.refusal.message);
	const access = consoleReader(locals.user);
	return {
		console: {
			environment: consoleEnvironment(locals.services.config.environment),
			canAct: access.canAct,
			role: access.canAct ? ('administrator' as const) : ('operator' as const)
		}
	};
}) satisfies LayoutServerLoad;
