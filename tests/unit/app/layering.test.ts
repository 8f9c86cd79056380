// The house rules of the layout (CONTRIBUTING.md), checked on the sources rather than trusted to
// review: routes -> $lib/server services -> database; the queue is the only writer of job state;
// @sveltejs/kit stays at the http edge; the worker CLI's code runs outside Vite.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';

const ROOT = path.resolve('.');
const rel = (file: string) => path.relative(ROOT, file).split(path.sep).join('/');

function filesUnder(dir: string, pattern = /\.(ts|svelte|js)$/): string[] {
	const out: string[] = [];
	for (const name of readdirSync(dir)) {
		const full = path.join(dir, name);
		if (statSync(full).isDirectory()) out.push(...filesUnder(full, pattern));
		else if (pattern.test(name)) out.push(full);
	}
	return out;
}

/** Every module specifier a file imports or re-exports, with whether it is type-only. */
function importsOf(file: string): { spec: string; typeOnly: boolean }[] {
	const source = readFileSync(file, 'utf8');
	const found: { spec: string; typeOnly: boolean }[] = [];
	const statement = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/g;
	for (const match of source.matchAll(statement)) found.push({ spec: match[3]!, typeOnly: Boolean(match[2]) });
	for (const match of source.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ spec: match[1]!, typeOnly: false });
	return found;
}

/** A relative or $lib specifier as a file on disk (null for packages and virtual modules). */
function resolve(from: string, spec: string): string | null {
	let base: string;
	if (spec.startsWith('$lib/') || spec === '$lib') base = path.join(ROOT, 'src/lib', spec.slice(5));
	else if (spec.startsWith('$routes/')) base = path.join(ROOT, 'src/routes', spec.slice(8));
	else if (spec.startsWith('.')) base = path.resolve(path.dirname(from), spec);
	else return null;
	for (const candidate of [base, `${base}.ts`, `${base}.js`, path.join(base, 'index.ts')]) {
		if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
	}
	return null;
}

const sources = filesUnder(path.join(ROOT, 'src'));
const routes = sources.filter((file) => rel(file).startsWith('src/routes/'));
const lib = sources.filter((file) => rel(file).startsWith('src/lib/'));

describe('layering', () => {
	test('no route imports another route; routes reach the database only through $lib/server', () => {
		const offenders: string[] = [];
		for (const file of routes) {
			for (const { spec } of importsOf(file)) {
				const target = resolve(file, spec);
				const crossesRoutes = (spec.startsWith('..') && !spec.endsWith('.css')) || (target !== null && rel(target).startsWith('src/routes/') && path.dirname(target) !== path.dirname(file));
				const reachesDb = spec.startsWith('$lib/server/db') || spec === 'postgres';
				if (spec.startsWith('$routes')) offenders.push(`${rel(file)} imports ${spec} (the alias is for tests)`);
				if (crossesRoutes || reachesDb) offenders.push(`${rel(file)} imports ${spec}`);
			}
			if (/\bsql`|\.unsafe\(/.test(readFileSync(file, 'utf8'))) offenders.push(`${rel(file)} runs SQL itself`);
		}
		expect(offenders).toEqual([]);
	});

	test('$lib never imports from src/routes', () => {
		const offenders = lib.flatMap((file) =>
			importsOf(file)
				.filter(({ spec }) => {
					const target = resolve(file, spec);
					return spec.startsWith('$routes') || (target !== null && rel(target).startsWith('src/routes/'));
				})
				.map(({ spec }) => `${rel(file)} imports ${spec}`)
		);
		expect(offenders).toEqual([]);
	});

	test('only $lib/server/http imports @sveltejs/kit at run time (services throw, the edge maps)', () => {
		const offenders = lib
			.filter((file) => rel(file).startsWith('src/lib/server/') && !rel(file).startsWith('src/lib/server/http/'))
			.flatMap((file) => importsOf(file).filter(({ spec, typeOnly }) => spec === '@sveltejs/kit' && !typeOnly).map(() => rel(file)));
		expect(offenders).toEqual([]);
	});

	test('components and client code import server modules for their types only', () => {
		const offenders = lib
			.filter((file) => !rel(file).startsWith('src/lib/server/'))
			.flatMap((file) =>
				importsOf(file)
					.filter(({ spec, typeOnly }) => {
						const target = resolve(file, spec);
						return !typeOnly && target !== null && rel(target).startsWith('src/lib/server/');
					})
					.map(({ spec }) => `${rel(file)} imports ${spec}`)
			);
		expect(offenders).toEqual([]);
	});
});

describe('the queue is the only writer of job state', () => {
	// Table writes and the queue's state-changing functions, however they are spelled.
	const TABLE_WRITE = /\b(insert\s+into|update|delete\s+from|truncate(\s+table)?|merge\s+into|copy)\s+(only\s+)?("?public"?\s*\.\s*)?"?job_queue(_paused_types|_maintenance|_concurrency_limits)?"?\b/i;
	const QUEUE_FUNCTIONS =
		/\b(enqueue_job|enqueue_jobs|claim_jobs?|complete_job|fail_job|heartbeat_job|retry_jobs?|cancel_jobs?|cancel_all_pending_jobs|reset_stuck_jobs|reap_expired_jobs|purge_\w+|wake_job|pause_job_type|resume_job_type|record_maintenance_result|set_concurrency_limit|take_concurrency_slot)\s*\(/i;

	test('outside src/lib/server/queue/ no app or CLI code writes job_queue or calls its write functions', () => {
		const files = [...sources, ...filesUnder(path.join(ROOT, 'scripts'))].filter(
			(file) => !rel(file).startsWith('src/lib/server/queue/') && !rel(file).startsWith('scripts/chaos/')
		);
		const offenders: string[] = [];
		for (const file of files) {
			const lines = readFileSync(file, 'utf8').split('\n');
			lines.forEach((line, i) => {
				if (/^\s*(\/\/|\*|\/\*)/.test(line)) return; // comments may name them
				if (TABLE_WRITE.test(line) || QUEUE_FUNCTIONS.test(line)) offenders.push(`${rel(file)}:${i + 1}: ${line.trim()}`);
			});
		}
		expect(offenders).toEqual([]);
	});

	test('the check itself sees every spelling of a write', () => {
		for (const line of [
			'update public.job_queue set status = 1',
			'UPDATE "public"."job_queue" SET',
			'delete from job_queue where',
			'insert into public.job_queue_paused_types (job_type)',
			'truncate table job_queue',
			'update only public.job_queue set'
		]) {
			expect(TABLE_WRITE.test(line), line).toBe(true);
		}
		for (const line of ['select * from public.retry_jobs(${ids})', 'sql`select public.cancel_jobs (${ids}, ${reason})`', 'public.wake_job(${id})']) {
			expect(QUEUE_FUNCTIONS.test(line), line).toBe(true);
		}
		expect(TABLE_WRITE.test('select * from public.job_queue where status = 1')).toBe(false);
	});
});

test("the worker CLI's code imports no $app or $env module (it runs outside Vite)", () => {
	const seen = new Set<string>();
	const offenders: string[] = [];
	const visit = (file: string) => {
		if (seen.has(file)) return;
		seen.add(file);
		for (const { spec } of importsOf(file)) {
			if (spec.startsWith('$app/') || spec.startsWith('$env/')) offenders.push(`${rel(file)} imports ${spec}`);
			const target = resolve(file, spec);
			if (target && /\.(ts|js)$/.test(target)) visit(target);
		}
	};
	for (const entry of ['scripts/worker.ts', 'scripts/migrate.ts', 'scripts/start.ts']) if (existsSync(entry)) visit(path.resolve(entry));
	expect(seen.size).toBeGreaterThan(20); // it did walk the graph
	expect(offenders).toEqual([]);
});
