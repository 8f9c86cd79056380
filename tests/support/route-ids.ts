// The route SvelteKit would match for a path, found from the files under src/routes the way the
// router does it (groups dropped, [param] a segment), so tests that run the hooks see the same
// event.route.id as the built app. Paths are decoded first, as SvelteKit decodes them.
import { readdirSync } from 'node:fs';
import path from 'node:path';

interface RouteEntry {
	id: string;
	pattern: RegExp;
	/** Static segments count more, as in SvelteKit's sort: /admin/export beats /admin/[x]. */
	rank: number;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function entryFor(id: string): RouteEntry {
	const segments = id.split('/').filter((segment) => segment && !/^\(.+\)$/.test(segment));
	let rank = 0;
	const parts = segments.map((segment) => {
		if (!segment.includes('[')) {
			rank += 2;
			return escape(segment);
		}
		rank += 1;
		return segment.split(/(\[[^\]]+\])/).map((piece) => (/^\[.+\]$/.test(piece) ? '([^/]+?)' : escape(piece))).join('');
	});
	return { id, pattern: new RegExp(`^/${parts.join('/')}/?$`), rank };
}

let routes: RouteEntry[] | null = null;

function allRoutes(): RouteEntry[] {
	if (routes) return routes;
	const root = path.resolve('src/routes');
	const files = (readdirSync(root, { recursive: true }) as string[]).filter((file) => /(^|\/)\+(page\.svelte|server\.ts)$/.test(file));
	const ids = [...new Set(files.map((file) => `/${path.dirname(file)}`.replace(/\/\.$/, '')))];
	routes = ids.map((id) => entryFor(id || '/')).sort((a, b) => b.rank - a.rank);
	return routes;
}

/** The matched route id for a URL path (null when nothing matches, as for a 404). */
export function routeIdFor(pathname: string): string | null {
	let decoded: string;
	try {
		decoded = decodeURI(pathname);
	} catch {
		return null;
	}
	const stripped = decoded.replace(/\/__data\.json$/, '') || '/';
	if (stripped === '/') return '/';
	return allRoutes().find((route) => route.pattern.test(stripped))?.id ?? null;
}
