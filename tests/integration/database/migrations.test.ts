import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { inject } from 'vitest';
import { createSql, type Sql } from '$lib/server/db/client';
import { MigrationError, migrate, migrationStatus, type Migration } from '$lib/server/db/migrate';
import { withDatabase } from '../../support/global-setup';
import { loadMigrations } from '../../support/db';

// A blank database (not the migrated template), to watch the runner start from nothing.
const name = `m_${randomBytes(5).toString('hex')}`;
let admin: Sql;
let sql: Sql;
let migrations: Migration[];
beforeAll(async () => {
	admin = createSql(inject('pgAdminUrl'), { max: 1 });
	await admin.unsafe(`create database ${name}`);
	sql = createSql(withDatabase(inject('pgAdminUrl'), name), { max: 4 });
	migrations = await loadMigrations();
});
afterAll(async () => {
	await sql.end();
	await admin.unsafe(`drop database if exists ${name} with (force)`);
	await admin.end();
});

test('applies every migration once, in order, then has nothing to do', async () => {
	const applied = await migrate(sql, migrations);
	expect(applied).toEqual(migrations.map((m) => m.file));
	expect(await migrate(sql, migrations)).toEqual([]);
	const rows = await sql`select version from app_private.schema_migrations order by version`;
	expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
	expect(await migrationStatus(sql, migrations)).toMatchObject({ current: true, pending: [], problems: [] });
});

test('two processes migrating at once take turns', async () => {
	const other = `m_${randomBytes(5).toString('hex')}`;
	await admin.unsafe(`create database ${other}`);
	const a = createSql(withDatabase(inject('pgAdminUrl'), other), { max: 2 });
	const b = createSql(withDatabase(inject('pgAdminUrl'), other), { max: 2 });
	try {
		const [first, second] = await Promise.all([migrate(a, migrations), migrate(b, migrations)]);
		expect([...first, ...second].sort()).toEqual(migrations.map((m) => m.file).sort());
	} finally {
		await a.end();
		await b.end();
		await admin.unsafe(`drop database if exists ${other} with (force)`);
	}
});

test('the plain-Postgres bootstrap provided the roles and auth.uid() reading the JWT claims', async () => {
	const roles = await sql`select rolname, rolbypassrls from pg_roles where rolname in ('anon','authenticated','service_role') order by rolname`;
	expect(roles).toEqual([
		{ rolname: 'anon', rolbypassrls: false },
		{ rolname: 'authenticated', rolbypassrls: false },
		{ rolname: 'service_role', rolbypassrls: true }
	]);
	const uid = '6f1c2a9e-0000-4000-8000-000000000001';
	const [row] = await sql.begin(async (tx) => {
		await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub: uid, role: 'authenticated' })}, true)`;
		return tx`select auth.uid() as uid`;
	});
	expect(row!.uid).toBe(uid);
});

test('a migration changed after it was applied is reported, and nothing is applied', async () => {
	const edited = migrations.map((m, i) => (i === 1 ? { ...m, checksum: 'f'.repeat(64) } : m));
	const extra: Migration = { version: '9999', name: 'later', file: '9999_later.sql', sql: 'create table should_not_exist (id int);', checksum: 'x' };
	await expect(migrate(sql, [...edited, extra])).rejects.toThrow(MigrationError);
	await expect(migrate(sql, [...edited, extra])).rejects.toThrow(/0002_queue_functions\.sql was changed after it was applied/);
	const [exists] = await sql`select to_regclass('public.should_not_exist') as t`;
	expect(exists!.t).toBeNull();
	expect((await migrationStatus(sql, edited)).current).toBe(false);
});

test('a database newer than the code is reported, and left untouched', async () => {
	const older = migrations.slice(0, -1);
	const error = await migrate(sql, older).catch((e: unknown) => e);
	expect(error).toBeInstanceOf(MigrationError);
	expect((error as MigrationError).problems[0]).toMatch(/unknown to this code \(the database is newer than the code\)/);
	const status = await migrationStatus(sql, older);
	expect(status.current).toBe(false);
	expect(status.problems).toHaveLength(1);
});

test('migrations applied by `supabase db push` are recorded, not run again; ours are recorded for the CLI', async () => {
	const other = `m_${randomBytes(5).toString('hex')}`;
	await admin.unsafe(`create database ${other}`);
	const db = createSql(withDatabase(inject('pgAdminUrl'), other), { max: 2 });
	try {
		// What the CLI leaves behind: its history table, and the first migrations applied as files.
		await migrate(db, [], {}); // the plain-Postgres bootstrap only (roles, auth), as Supabase provides them
		await db.unsafe(`create schema supabase_migrations;
			create table supabase_migrations.schema_migrations (version text primary key, statements text[], name text)`);
		const pushed = migrations.slice(0, 3);
		for (const m of pushed) {
			await db.begin(async (tx) => {
				await tx.unsafe(m.sql);
				await tx`insert into supabase_migrations.schema_migrations (version, name) values (${m.version}, ${m.name})`;
			});
		}
		await db.unsafe('drop table app_private.schema_migrations');
		expect((await migrationStatus(db, migrations)).pending).toEqual(migrations.slice(3).map((m) => m.file));

		const applied = await migrate(db, migrations);
		expect(applied).toEqual(migrations.slice(3).map((m) => m.file));
		const cli = await db<{ version: string }[]>`select version from supabase_migrations.schema_migrations order by version`;
		expect(cli.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
		expect(await migrationStatus(db, migrations)).toMatchObject({ current: true, problems: [] });
	} finally {
		await db.end();
		await admin.unsafe(`drop database if exists ${other} with (force)`);
	}
});
