// Picture on a database prepared as the Supabase platform prepares a project's (tests/support/
// supabase-prepare.sql: GoTrue's auth schema, Storage, the event triggers, the roles and settings),
// connected as the platform's non-superuser `postgres`: the Supabase CLI and the app's runner keep
// one history in either order, local sign-up says plainly that accounts are Supabase Auth's, a user
// deleted by GoTrue's own role takes their waiting work along, and the bucket follows the config.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LocalAccountsUnavailableError, signIn, signUp } from '$lib/server/auth/local';
import { createSql, type Sql } from '$lib/server/db/client';
import { migrate, migrationStatus, type Migration } from '$lib/server/db/migrate';
import { startGeneration } from '$lib/server/generations/start';
import { ensureImageBucket } from '$lib/server/storage/bucket';
import { isActionFailure } from '@sveltejs/kit';
import { actions as signUpActions, load as signUpLoad } from '$routes/auth/signup/+page.server';
import { loadMigrations } from '../../support/db';
import { testServices } from '../../support/services';
import { startSystemPostgres, type SystemPostgres } from '../../support/system-postgres';

let cluster: SystemPostgres;
let admin: Sql;
let prepareSql: string;
let migrations: Migration[];
const opened: Sql[] = [];

beforeAll(async () => {
	prepareSql = await readFile(path.resolve('tests/support/supabase-prepare.sql'), 'utf8');
	cluster = await startSystemPostgres({ superuser: 'supabase_admin' });
	admin = createSql(cluster.url(), { max: 1 });
	migrations = await loadMigrations();
}, 60_000);
afterAll(async () => {
	for (const sql of opened) await sql.end({ timeout: 5 });
	await admin?.end({ timeout: 5 });
	await cluster?.stop();
});

/** A fresh Supabase-prepared database; `as` connects as that role (postgres by default). */
async function project(name: string, as = 'postgres'): Promise<Sql> {
	await admin.unsafe(`create database ${name}`);
	const prepare = createSql(cluster.url('supabase_admin', name), { max: 1 });
	await prepare.unsafe(prepareSql);
	// supautils' policy_grants stand-in: postgres may create policies on tables it does not own.
	await prepare.unsafe('grant supabase_storage_admin, supabase_auth_admin to postgres');
	await prepare.end();
	const sql = createSql(cluster.url(as, name), { max: 4 });
	opened.push(sql);
	return sql;
}

/** What `supabase db push` does for each pending file (pkg/migration/apply.go, history.go), as the CLI's SQL. */
async function cliPush(sql: Sql, files: Migration[]): Promise<void> {
	await sql.unsafe(`SET lock_timeout = '4s'`);
	await sql.unsafe('CREATE SCHEMA IF NOT EXISTS supabase_migrations');
	await sql.unsafe('CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)');
	await sql.unsafe('ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]');
	await sql.unsafe('ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text');
	for (const file of files) {
		await sql.begin(async (tx) => {
			await tx.unsafe(file.sql);
			await tx`INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES(${file.version}, ${file.name}, ${[file.sql]})`;
		});
	}
}

/**
 * The CLI's own check before a push (FindPendingMigrations in pkg/migration/apply.go): walk local
 * versions against the remote history in order; remote versions missing locally, or local ones
 * older than the last remote, are errors; the rest is what it would apply.
 */
async function cliPending(sql: Sql): Promise<{ pending: string[]; error: string | null }> {
	const [present] = await sql`select to_regclass('supabase_migrations.schema_migrations') is not null as ok`;
	const remote = present!.ok ? (await sql<{ version: string }[]>`SELECT version FROM supabase_migrations.schema_migrations ORDER BY version`).map((r) => r.version) : [];
	const local = migrations.map((m) => m.version);
	const unapplied: string[] = [];
	const missing: string[] = [];
	let i = 0;
	let j = 0;
	while (i < remote.length && j < local.length) {
		if (remote[i] === local[j]) (i++, j++);
		else if (remote[i]! < local[j]!) missing.push(remote[i++]!);
		else unapplied.push(local[j++]!);
	}
	if (j === local.length) missing.push(...remote.slice(i));
	if (missing.length) return { pending: missing, error: 'Remote migration versions not found in local migrations directory.' };
	if (unapplied.length) return { pending: unapplied, error: 'Found local migration files to be inserted before the last migration on remote database.' };
	return { pending: local.slice(remote.length), error: null };
}

describe('the Supabase CLI and the app keep one history, in either order', () => {
	test('the app first: the CLI then finds nothing to apply, and its table is the one the CLI makes', async () => {
		const sql = await project('app_first');
		expect((await cliPending(sql)).pending).toHaveLength(migrations.length); // nothing recorded yet
		await migrate(sql, migrations, { bootstrap: false });
		expect(await cliPending(sql)).toEqual({ pending: [], error: null });
		const columns = await sql`
			select column_name, data_type, is_nullable from information_schema.columns
			where table_schema = 'supabase_migrations' and table_name = 'schema_migrations' order by ordinal_position`;
		expect(columns).toEqual([
			{ column_name: 'version', data_type: 'text', is_nullable: 'NO' },
			{ column_name: 'statements', data_type: 'ARRAY', is_nullable: 'YES' },
			{ column_name: 'name', data_type: 'text', is_nullable: 'YES' }
		]);
		const rows = await sql`select version, name, cardinality(statements) as statements from supabase_migrations.schema_migrations order by version`;
		expect(rows).toEqual(migrations.map((m) => ({ version: m.version, name: m.name, statements: 1 })));
		// A push now would run nothing, and a second start of the app changes nothing either.
		await migrate(sql, migrations, { bootstrap: false });
		expect(await cliPending(sql)).toEqual({ pending: [], error: null });
	});

	test('the CLI first: the app then re-applies nothing and records the history as its own', async () => {
		const sql = await project('push_first');
		await cliPush(sql, migrations);
		expect(await migrate(sql, migrations, { bootstrap: false })).toEqual([]);
		expect(await migrationStatus(sql, migrations)).toMatchObject({ current: true, problems: [] });
	});

	test('half and half: pushed up to one version, the app applies the rest, the CLI is content', async () => {
		const sql = await project('half_and_half');
		const half = Math.floor(migrations.length / 2);
		await cliPush(sql, migrations.slice(0, half));
		expect(await migrate(sql, migrations, { bootstrap: false })).toEqual(migrations.slice(half).map((m) => m.file));
		expect(await cliPending(sql)).toEqual({ pending: [], error: null });
	});

	test('an app that migrated before this rule recorded nothing for the CLI: its next start fills the history in', async () => {
		const sql = await project('old_app');
		await migrate(sql, migrations, { bootstrap: false });
		await sql`drop schema supabase_migrations cascade`;
		expect((await cliPending(sql)).pending).toHaveLength(migrations.length);
		expect(await migrate(sql, migrations, { bootstrap: false })).toEqual([]);
		expect(await cliPending(sql)).toEqual({ pending: [], error: null });
	});
});

describe("on GoTrue's auth schema", () => {
	let sql: Sql;
	beforeAll(async () => {
		sql = await project('gotrue_accounts');
		await migrate(sql, migrations, { bootstrap: false });
	});

	test('local sign-up and sign-in say that accounts are Supabase Auth\'s, and write nothing', async () => {
		const [before] = await sql`select count(*)::int as n from auth.users`;
		await expect(signUp(sql, 'new@example.test', 'a-long-password-1', [])).rejects.toBeInstanceOf(LocalAccountsUnavailableError);
		await expect(signIn(sql, 'new@example.test', 'a-long-password-1')).rejects.toThrow(/belong to Supabase Auth.*PUBLIC_SUPABASE_URL/);
		expect(await sql`select count(*)::int as n from auth.users`).toEqual([before]);
	});

	test('the sign-up page says so before anyone types, and its form answers 503 with the same words, never a 500', async () => {
		const services = await testServices({ sql, url: cluster.url('postgres', 'gotrue_accounts') });
		const url = new URL('http://localhost/auth/signup');
		const page = (await signUpLoad({ locals: { services, user: null }, url } as never)) as { unavailable: string | null };
		expect(page.unavailable).toMatch(/belong to Supabase Auth/);
		const body = new FormData();
		body.append('email', 'someone@example.test');
		body.append('password', 'a-long-password-1');
		const answer = await signUpActions.default({ request: new Request(url, { method: 'POST', body }), url, locals: { services, user: null }, cookies: { set() {}, delete() {} } } as never);
		expect(isActionFailure(answer) && answer.status).toBe(503);
		expect((answer as { data: { error: string } }).data.error).toMatch(/PUBLIC_SUPABASE_URL and PUBLIC_SUPABASE_ANON_KEY/);
	});

	test("deleting a user as GoTrue does (supabase_auth_admin) works, and cancels the user's waiting work", async () => {
		const [user] = await sql<{ id: string }[]>`
			insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
			values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', 'leaving@example.test',
			        '{"provider":"email","providers":["email"]}', '{}', now(), now())
			returning id`;
		const id = user!.id;
		await sql`insert into auth.identities (provider_id, user_id, identity_data, provider) values (${id}, ${id}, ${sql.json({ sub: id, email: 'leaving@example.test' })}, 'email')`;
		await sql`insert into auth.sessions (id, user_id, created_at) values (gen_random_uuid(), ${id}, now())`;
		const waiting = await startGeneration(sql, id, { prompt: 'never to be', model_id: 'local/preview', width: 256, height: 256, seed: 1, negative_prompt: null, idempotency_key: null }, { replicateConfigured: false });
		await sql`insert into user_limits (user_id, hourly_limit, updated_by) values (${id}, 5, ${id})`;
		await sql`insert into admin_audit_log (actor_id, actor_email, action) values (${id}, 'leaving@example.test', 'test.action')`;
		await sql`select app_private.create_session(${id}, interval '1 day')`;

		const gotrue = createSql(cluster.url('supabase_auth_admin', 'gotrue_accounts'), { max: 1 });
		try {
			await gotrue`delete from auth.users where id = ${id}`;
		} finally {
			await gotrue.end();
		}
		const [left] = await sql`
			select (select count(*)::int from image_generations where user_id = ${id}) as generations,
			       (select count(*)::int from generation_usage where user_id = ${id}) as usage,
			       (select count(*)::int from app_private.sessions where user_id = ${id}) as sessions,
			       (select count(*)::int from user_limits where user_id = ${id}) as limits,
			       (select status from job_queue where id = ${waiting.job_id}) as job,
			       (select created_by from job_queue where id = ${waiting.job_id}) as job_owner,
			       (select actor_id from admin_audit_log where action = 'test.action') as audit_actor`;
		expect(left).toEqual({ generations: 0, usage: 0, sessions: 0, limits: 0, job: 'cancelled', job_owner: null, audit_actor: null });
	});
});

describe('the image bucket follows SUPABASE_STORAGE_BUCKET', () => {
	test('any bucket name gets made private with the same two policies, once', async () => {
		const sql = await project('custom_bucket');
		await migrate(sql, migrations, { bootstrap: false });
		expect(await ensureImageBucket(sql, 'my-pictures')).toBe('ready');
		expect(await ensureImageBucket(sql, 'my-pictures')).toBe('ready');
		expect(await sql`select id, public from storage.buckets where id = 'my-pictures'`).toEqual([{ id: 'my-pictures', public: false }]);
		const policies = await sql`select policyname, roles::text from pg_policies where schemaname = 'storage' and policyname like 'my-pictures:%' order by 1`;
		expect(policies).toEqual([
			{ policyname: 'my-pictures: owners read their own images', roles: '{authenticated}' },
			{ policyname: 'my-pictures: service role has full access', roles: '{service_role}' }
		]);
		await expect(ensureImageBucket(sql, "x'; drop table job_queue; --")).rejects.toThrow(/not a bucket name/);
	});

	test('without Storage (a plain Postgres) there is nothing to make, and nothing breaks', async () => {
		await admin.unsafe('create database no_storage');
		const sql = createSql(cluster.url('supabase_admin', 'no_storage'), { max: 1 });
		opened.push(sql);
		await migrate(sql, migrations);
		expect(await ensureImageBucket(sql, 'generations')).toBe('no-storage-schema');
	});
});
