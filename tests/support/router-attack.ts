// What the router-attack test needs: the built app's own route table (its manifest, so every route
// the server can reach is attacked without anyone listing it), every spelling of a path an attacker
// would try, and a digest of the tables an action could change.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type postgres from 'postgres';

export interface BuiltRoute {
	id: string;
	/** A concrete path for the route, parameters filled in. */
	path: string;
	page: boolean;
	methods: string[];
	actions: string[];
}

type Manifest = {
	_: {
		nodes: Array<() => Promise<{ server?: { actions?: Record<string, unknown> } }>>;
		routes: Array<{ id: string; page: { leaf: number } | null; endpoint: (() => Promise<Record<string, unknown>>) | null }>;
	};
};

function findManifest(dir: string): string | null {
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) {
			const found = findManifest(full);
			if (found) return found;
		} else if (/^manifest\.js-[\w-]+\.js$/.test(entry.name)) return full;
	}
	return null;
}

const PARAMS: Record<string, string> = { id: '4b1c7a2e-9d3f-4e8a-b6c5-0f1e2d3c4b5a', name: 'failed-jobs' };

/** Every route of the built app (BUILD_DIR or build/), read from the manifest SvelteKit routes by. */
export async function builtRoutes(): Promise<BuiltRoute[]> {
	const file = findManifest(path.resolve(process.env.BUILD_DIR ?? 'build', 'server'));
	if (!file) throw new Error('No manifest in the build: run vite build first');
	const module = (await import(file)) as Record<string, Manifest>;
	const manifest = Object.values(module).find((value) => value && typeof value === 'object' && '_' in value)!;
	const routes: BuiltRoute[] = [];
	for (const route of manifest._.routes) {
		const concrete = route.id
			.split('/')
			.filter((segment) => !/^\(.+\)$/.test(segment))
			.join('/')
			.replace(/\[(\w+)\]/g, (_m, name: string) => PARAMS[name] ?? 'x') || '/';
		const endpoint = route.endpoint ? await route.endpoint() : null;
		const leaf = route.page ? await manifest._.nodes[route.page.leaf]!() : null;
		routes.push({
			id: route.id,
			path: concrete,
			page: route.page !== null,
			methods: endpoint ? Object.keys(endpoint).filter((key) => /^(GET|POST|PUT|PATCH|DELETE)$/.test(key)) : [],
			actions: Object.keys(leaf?.server?.actions ?? {})
		});
	}
	return routes;
}

const hex = (char: string, upper: boolean) => {
	const code = char.charCodeAt(0).toString(16);
	return `%${upper ? code.toUpperCase() : code.toLowerCase()}`;
};

export interface Spelling {
	label: string;
	path: string;
	/** Decodes to the route itself (so it must answer as the plain path does), or to no route at all. */
	same: boolean;
}

/**
 * The spellings of one path: each letter percent-encoded (upper- and lower-case hex where they
 * differ), every letter at once, a trailing slash, and ones that name no route: double-encoded
 * letters, doubled slashes, an encoded slash, upper-case letters.
 */
export function spellings(plain: string): Spelling[] {
	const out: Spelling[] = [{ label: 'plain', path: plain, same: true }];
	const letters = [...plain].map((char, index) => ({ char, index })).filter(({ char }) => /[a-z]/i.test(char));
	for (const { char, index } of letters) {
		for (const upper of [true, false]) {
			const escaped = hex(char, upper);
			if (!upper && escaped === hex(char, true)) continue;
			out.push({ label: `${char}@${index} as ${escaped}`, path: plain.slice(0, index) + escaped + plain.slice(index + 1), same: true });
		}
	}
	if (letters.length > 0) {
		out.push({ label: 'every letter encoded', path: [...plain].map((c) => (/[a-z]/i.test(c) ? hex(c, true) : c)).join(''), same: true });
		const first = letters[0]!;
		out.push({ label: 'double-encoded', path: plain.slice(0, first.index) + `%25${hex(first.char, false).slice(1)}` + plain.slice(first.index + 1), same: false });
		out.push({ label: 'upper-case letters', path: plain.toUpperCase(), same: plain === plain.toUpperCase() });
	}
	if (plain !== '/') {
		out.push({ label: 'trailing slash', path: `${plain}/`, same: true });
		out.push({ label: 'leading double slash', path: `/${plain}`, same: false });
		const cut = plain.indexOf('/', 1);
		if (cut > 0) {
			out.push({ label: 'inner double slash', path: `${plain.slice(0, cut)}/${plain.slice(cut)}`, same: false });
			out.push({ label: 'encoded slash', path: `${plain.slice(0, cut)}%2F${plain.slice(cut + 1)}`, same: false });
		}
	}
	return out;
}

/** The tables any console or user action may write, as one digest per table (volatile columns left out). */
export async function digestTables(sql: postgres.Sql): Promise<Record<string, string>> {
	const queries: Record<string, string> = {
		job_queue: 'select id, job_type, status, attempts, max_attempts, priority, payload from public.job_queue',
		image_generations: 'select id, user_id, status, prompt, model_id, image_path from public.image_generations',
		models: 'select id, enabled, max_concurrency from public.models',
		user_limits: 'select user_id, hourly_limit, daily_limit from public.user_limits',
		paused_types: 'select job_type, reason from public.job_queue_paused_types',
		audit: 'select id, action, target from public.admin_audit_log',
		manual_runs: "select id from public.worker_runs where trigger = 'manual'",
		users: 'select id, email, raw_app_meta_data from auth.users',
		sessions: 'select id, user_id, expires_at from app_private.sessions'
	};
	const digest: Record<string, string> = {};
	for (const [name, query] of Object.entries(queries)) {
		const [row] = await sql.unsafe(`select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as d, count(*)::int as n from (${query}) t`);
		digest[name] = `${row!.n}:${row!.d}`;
	}
	return digest;
}
