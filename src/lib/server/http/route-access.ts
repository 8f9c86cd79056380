// Which routes need a signed-in user or the console, for the guard in hooks.server.ts.

export type RouteAccess = 'public' | 'user' | 'console';

/**
 * What a route needs, decided by the route SvelteKit matched: never by how the URL was spelled
 * (SvelteKit routes on the decoded path, so /%61dmin is /admin). No route, no page: a 404 for all.
 * The (app) group holds the signed-in pages; /admin is the console. Endpoints under /api check
 * their callers themselves (sessions, the cron secret, a webhook signature), as do all services.
 */
export function routeAccess(routeId: string | null): RouteAccess {
	if (routeId === null) return 'public';
	if (routeId === '/admin' || routeId.startsWith('/admin/')) return 'console';
	if (routeId === '/(app)' || routeId.startsWith('/(app)/')) return 'user';
	return 'public';
}
