// Applies supabase/migrations/*.sql in order, each once and in its own transaction, and refuses a
// database whose history disagrees with the code (an edited or an unknown migration).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { applyBootstrap } from './bootstrap';
import type { Sql } from './client';

/** One advisory lock for bootstrap and migrations across every process sharing the database. */
export const MIGRATION_LOCK_KEY = 727_1801;

export interface Migration {
	version: string;
	name: string;
	file: string;
	sql: string;
	checksum: string;
}

export interface MigrationStatus {
	applied: number;
	expected: number;
	pending: string[];
	problems: string[];
	current: boolean;
}

export class MigrationError extends Error {
	constructor(public readonly problems: string[]) {
		super(`The database's migrations disagree with this code; nothing was applied:\n  - ${problems.join('\n  - ')}`);
		this.name = 'MigrationError';
	}
}

const FILE_PATTERN = /^(\d+)_([a-z0-9_-]+)\.sql$/i;

export async function readMigrations(dir: string): Promise<Migration[]> {
	const files = (await readdir(dir)).filter((file) => FILE_PATTERN.test(file));
	const migrations = await Promise.all(
		files.map(async (file) => {
			const [, version, name] = FILE_PATTERN.exec(file) as RegExpExecArray;
			const sql = (await readFile(path.join(dir, file), 'utf8')).replaceAll('\r\n', '\n');
			const checksum = createHash('sha256').update(sql).digest('hex');
			return { version: version as string, name: name as string, file, sql, checksum };
		})
	);
	migrations.sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : 1));
	for (let i = 1; i < migrations.length; i++) {
		if (BigInt(migrations[i]!.version) === BigInt(migrations[i - 1]!.version)) {
			throw new MigrationError([`two migration files share version ${migrations[i]!.version}`]);
		}
	}
	return migrations;
}

interface AppliedRow {
	version: string;
	name: string;
	checksum: string;
}

async function appliedMigrations(sql: Sql, migrations: Migration[]): Promise<AppliedRow[] | null> {
	const [exists] = await sql`select to_regclass('app_private.schema_migrations') is not null as present`;
	const ours = exists?.present
		? await sql<AppliedRow[]>`select version, name, checksum from app_private.schema_migrations order by version`
		: [];
	const pushed = await pushedVersions(sql);
	const known = new Set(ours.map((row) => row.version));
	const adopted = migrations
		.filter((m) => pushed.has(m.version) && !known.has(m.version))
		.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum }));
	return exists?.present || adopted.length > 0 ? [...ours, ...adopted] : null;
}

/**
 * Versions the Supabase CLI recorded as applied (`supabase db push` keeps its own history in
 * supabase_migrations.schema_migrations). Those migrations ran as these very files, so the runner
 * takes them as applied rather than running them a second time.
 */
async function pushedVersions(sql: Sql): Promise<Set<string>> {
	const [exists] = await sql`select to_regclass('supabase_migrations.schema_migrations') is not null as present`;
	if (!exists?.present) return new Set();
	const rows = await sql<{ version: string }[]>`select version from supabase_migrations.schema_migrations`;
	return new Set(rows.map((row) => row.version));
}

function compare(migrations: Migration[], applied: AppliedRow[]): { pending: Migration[]; problems: string[] } {
	const byVersion = new Map(migrations.map((m) => [m.version, m]));
	const problems: string[] = [];
	for (const row of applied) {
		const migration = byVersion.get(row.version);
		if (!migration) {
			problems.push(
				`migration ${row.version}_${row.name} is applied to the database but unknown to this code (the database is newer than the code)`
			);
		} else if (migration.checksum !== row.checksum) {
			problems.push(`migration ${migration.file} was changed after it was applied (checksum differs)`);
		}
	}
	const done = new Set(applied.map((row) => row.version));
	return { pending: migrations.filter((m) => !done.has(m.version)), problems };
}

export async function migrationStatus(sql: Sql, migrations: Migration[]): Promise<MigrationStatus> {
	const applied = (await appliedMigrations(sql, migrations)) ?? [];
	const { pending, problems } = compare(migrations, applied);
	return {
		applied: applied.length,
		expected: migrations.length,
		pending: pending.map((m) => m.file),
		problems,
		current: pending.length === 0 && problems.length === 0
	};
}

export interface MigrateOptions {
	/** Create Supabase's roles and auth schema first where missing (plain Postgres). */
	bootstrap?: boolean;
	log?: (message: string) => void;
}

const TRACKING_TABLE_SQL = `
	create schema if not exists app_private;
	revoke all on schema app_private from public;
	create table if not exists app_private.schema_migrations (
		version    text primary key,
		name       text not null,
		checksum   text not null,
		applied_at timestamptz not null default now()
	);`;

/**
 * The Supabase CLI's own history table, created exactly as `supabase db push` creates it
 * (supabase/cli pkg/migration/history.go): the schema, the table with its version primary key, then
 * the statements and name columns it added later. Only on a Supabase database: elsewhere the CLI
 * has nothing to push to.
 */
const CLI_HISTORY_SQL = [
	'CREATE SCHEMA IF NOT EXISTS supabase_migrations',
	'CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)',
	'ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]',
	'ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text'
];

/** A Supabase project's database: its platform roles exist (supabase_admin owns the cluster). */
async function isSupabaseDatabase(sql: Sql): Promise<boolean> {
	const [row] = await sql`select exists (select 1 from pg_roles where rolname = 'supabase_admin') as supabase`;
	return Boolean(row?.supabase);
}

/**
 * Records every migration this runner has applied in the CLI's history too, as the CLI records its
 * own: the version and name it derives from the file name (`<version>_<name>.sql`) and the file's
 * statements (here the whole file as one). Then `supabase db push` finds nothing to apply, whichever
 * of the two ran first.
 */
async function recordForCli(tx: Sql, migrations: Migration[], versions: Set<string>): Promise<number> {
	const [cli] = await tx`select to_regclass('supabase_migrations.schema_migrations') is not null as present`;
	if (!cli?.present) {
		if (!(await isSupabaseDatabase(tx))) return 0;
		for (const statement of CLI_HISTORY_SQL) await tx.unsafe(statement);
	}
	const recorded = new Set((await tx<{ version: string }[]>`select version from supabase_migrations.schema_migrations`).map((r) => r.version));
	const missing = migrations.filter((m) => versions.has(m.version) && !recorded.has(m.version));
	for (const m of missing) {
		await tx`insert into supabase_migrations.schema_migrations (version, name, statements)
			values (${m.version}, ${m.name}, ${[m.sql]}::text[]) on conflict (version) do nothing`;
	}
	return missing.length;
}

/** Brings the database up to date; throws MigrationError (having changed nothing) on a disagreement. */
export async function migrate(sql: Sql, migrations: Migration[], options: MigrateOptions = {}): Promise<string[]> {
	const log = options.log ?? (() => {});
	if (options.bootstrap !== false) await applyBootstrap(sql, MIGRATION_LOCK_KEY);

	const pending = await sql.begin(async (tx) => {
		await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
		await tx.unsafe(TRACKING_TABLE_SQL);
		const pushed = await pushedVersions(tx as unknown as Sql);
		const adopted = migrations.filter((m) => pushed.has(m.version));
		for (const m of adopted) {
			const [row] = await tx`insert into app_private.schema_migrations (version, name, checksum)
				values (${m.version}, ${m.name}, ${m.checksum}) on conflict (version) do nothing returning version`;
			if (row) log(`migration ${m.file} was applied by supabase db push; recorded it`);
		}
		const applied = await tx<AppliedRow[]>`select version, name, checksum from app_private.schema_migrations`;
		const result = compare(migrations, applied);
		if (result.problems.length > 0) throw new MigrationError(result.problems);
		// Migrations applied before the CLI's table existed: recorded there now.
		const backfilled = await recordForCli(tx as unknown as Sql, migrations, new Set(applied.map((row) => row.version)));
		if (backfilled > 0) log(`recorded ${backfilled} applied migration(s) in the Supabase CLI's history`);
		return result.pending;
	});

	const done: string[] = [];
	for (const migration of pending) {
		// Each migration in its own transaction, under the lock; another process may have applied it meanwhile.
		const applied = await sql
			.begin(async (tx) => {
				await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
				const [row] = await tx`select checksum from app_private.schema_migrations where version = ${migration.version}`;
				if (row) return false;
				await tx.unsafe(migration.sql);
				await tx`insert into app_private.schema_migrations (version, name, checksum)
					values (${migration.version}, ${migration.name}, ${migration.checksum})`;
				// Keep the Supabase CLI's history in step too, so a later `supabase db push` does not re-run it.
				await recordForCli(tx as unknown as Sql, [migration], new Set([migration.version]));
				return true;
			})
			.catch((error: unknown) => {
				throw new Error(`migration ${migration.file} failed and was rolled back: ${(error as Error).message}`, {
					cause: error
				});
			});
		if (applied) {
			done.push(migration.file);
			log(`applied migration ${migration.file}`);
		}
	}
	return done;
}
