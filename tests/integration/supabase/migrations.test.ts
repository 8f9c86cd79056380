// Our migrations on a database prepared as Supabase prepares a project's (tests/support/supabase-prepare.sql):
// applied WITHOUT the plain-Postgres bootstrap, connected as Supabase's non-superuser `postgres`, then
// checked with the seed guide's own verification queries (steps 1.3-1.7, 5.4, 5.6) and storage RLS.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BOOTSTRAP_SQL, applyBootstrap } from '$lib/server/db/bootstrap';
import { createSql, type Sql, type TransactionSql } from '$lib/server/db/client';
import { MIGRATION_LOCK_KEY, migrate, migrationStatus, type Migration } from '$lib/server/db/migrate';
import { withUser, type JwtClaims } from '$lib/server/db/with-user';
import { createTestDatabase, loadMigrations } from '../../support/db';
import { startSystemPostgres, type SystemPostgres } from '../../support/system-postgres';


let cluster: SystemPostgres;
let admin: Sql; // supabase_admin, the superuser: only for preparing, never for our migrations
let sql: Sql; // postgres, as `supabase db push` and the dashboard connect
let migrations: Migration[];
let prepareSql: string;
let storageMigration: string;

beforeAll(async () => {
	prepareSql = await readFile(path.resolve('tests/support/supabase-prepare.sql'), 'utf8');
	storageMigration = await readFile(path.resolve('supabase/migrations/0013_supabase_realtime_and_storage.sql'), 'utf8');
	cluster = await startSystemPostgres({ superuser: 'supabase_admin' });
	admin = createSql(cluster.url(), { max: 1 });
	await admin.unsafe(prepareSql);
	// Stand-in for supautils' policy_grants, which lets Supabase's postgres create policies on
	// storage.objects without owning it (supautils cannot be installed here). The last describe block
	// takes it away again to see the migration cope without it.
	await admin.unsafe('grant supabase_storage_admin to postgres');
	sql = createSql(cluster.url('postgres'), { max: 4 });
	migrations = await loadMigrations();
}, 60_000);

afterAll(async () => {
	await sql?.end({ timeout: 5 });
	await admin?.end({ timeout: 5 });
	await cluster?.stop();
});

/** Roles, their memberships and the auth schema's objects: what the bootstrap would create. */
async function supabaseSurface(db: Sql) {
	return db`
		select
		  (select json_agg(json_build_array(rolname, rolsuper, rolinherit, rolcreaterole, rolbypassrls, rolcanlogin) order by rolname)
		     from pg_roles where rolname !~ '^pg_') as roles,
		  (select json_agg(json_build_array(r.rolname, m.rolname) order by r.rolname, m.rolname)
		     from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member) as memberships,
		  (select json_agg(json_build_array(p.oid, p.proname, p.proowner::regrole::text, p.prosrc, p.proacl::text) order by p.proname)
		     from pg_proc p where p.pronamespace = 'auth'::regnamespace) as auth_functions,
		  (select json_agg(json_build_array(attname, format_type(atttypid, atttypmod)) order by attnum)
		     from pg_attribute where attrelid = 'auth.users'::regclass and attnum > 0 and not attisdropped) as auth_users,
		  (select nspacl::text from pg_namespace where nspname = 'auth') as auth_acl,
		  (select nspacl::text from pg_namespace where nspname = 'public') as public_acl`;
}

test('the database is Supabase-shaped: postgres is not a superuser, and the bootstrap finds nothing to do', async () => {
	const [me] = await sql`
		select current_user as name, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,
		       pg_has_role('anon', 'member') and pg_has_role('authenticated', 'member') and pg_has_role('service_role', 'member') as api_roles
		from pg_roles where rolname = current_user`;
	expect(me).toEqual({ name: 'postgres', rolsuper: false, rolcreaterole: true, rolcreatedb: true, rolbypassrls: true, api_roles: true });
	const [superuser] = await admin`select rolname from pg_roles where rolsuper order by rolname`;
	expect(superuser!.rolname).toBe('supabase_admin');

	// In a read-only transaction any CREATE or GRANT would fail: the bootstrap must return before all of them.
	await sql.begin('read only', async (tx) => {
		await tx.unsafe(BOOTSTRAP_SQL);
	});
	const before = await supabaseSurface(sql);
	await applyBootstrap(sql, MIGRATION_LOCK_KEY);
	expect(await supabaseSurface(sql)).toEqual(before);

	// The same check has teeth: on a database without Supabase's auth schema the bootstrap does work.
	await admin.unsafe('create database bare');
	const bare = createSql(cluster.url('supabase_admin', 'bare'), { max: 1 });
	try {
		await expect(bare.begin('read only', (tx) => tx.unsafe(BOOTSTRAP_SQL))).rejects.toThrow(/read-only transaction/);
	} finally {
		await bare.end();
		await admin.unsafe('drop database bare');
	}
});

test('every migration applies without the bootstrap, as the non-superuser postgres', async () => {
	const applied = await migrate(sql, migrations, { bootstrap: false });
	expect(applied).toEqual(migrations.map((m) => m.file));
	expect(applied).toContain('0013_supabase_realtime_and_storage.sql');
	expect(await migrationStatus(sql, migrations)).toMatchObject({ current: true, problems: [] });
	const owners = await sql`select distinct tableowner from pg_tables where schemaname = 'public'`;
	expect(owners).toEqual([{ tableowner: 'postgres' }]);
	// What the Supabase services own was left to them.
	const platform = await sql`
		select c.oid::regclass::text as name, pg_get_userbyid(c.relowner) as owner, c.relrowsecurity as rls
		from pg_class c where c.oid in ('auth.users'::regclass, 'storage.objects'::regclass, 'storage.buckets'::regclass)
		order by 1`;
	expect(platform).toEqual([
		{ name: 'auth.users', owner: 'supabase_auth_admin', rls: true },
		{ name: 'storage.buckets', owner: 'supabase_storage_admin', rls: true },
		{ name: 'storage.objects', owner: 'supabase_storage_admin', rls: true }
	]);
});

describe("the seed's verification queries", () => {
	test('1.3 job_queue has the seed columns', async () => {
		const rows = await sql.unsafe(`
			SELECT table_name, column_name, data_type
			FROM information_schema.columns
			WHERE table_name = 'job_queue'`);
		const seedColumns = ['id', 'job_type', 'payload', 'status', 'attempts', 'max_attempts', 'scheduled_at', 'started_at',
			'completed_at', 'error_message', 'error_details', 'created_by', 'priority', 'created_at', 'updated_at'];
		expect(seedColumns).toHaveLength(15);
		expect(rows.map((r) => r.column_name)).toEqual(expect.arrayContaining(seedColumns));
		const types = Object.fromEntries(rows.map((r) => [r.column_name, r.data_type]));
		expect(types).toMatchObject({ id: 'uuid', payload: 'jsonb', created_by: 'uuid', scheduled_at: 'timestamp with time zone' });
	});

	test('1.4 the three functions', async () => {
		const rows = await sql.unsafe(`
			SELECT routine_name, routine_type
			FROM information_schema.routines
			WHERE routine_schema = 'public'
			AND routine_name IN ('enqueue_job', 'claim_next_job', 'complete_job')`);
		expect(rows.map((r) => `${r.routine_name}:${r.routine_type}`).sort()).toEqual([
			'claim_next_job:FUNCTION',
			'complete_job:FUNCTION',
			'enqueue_job:FUNCTION'
		]);
	});

	test('1.5 the three views, as VIEW', async () => {
		const rows = await sql.unsafe(`
			SELECT table_name, table_type
			FROM information_schema.tables
			WHERE table_schema = 'public'
			AND table_name IN ('queue_health', 'failed_jobs_recent', 'stuck_jobs')`);
		expect(rows.map((r) => `${r.table_name}:${r.table_type}`).sort()).toEqual([
			'failed_jobs_recent:VIEW',
			'queue_health:VIEW',
			'stuck_jobs:VIEW'
		]);
	});

	test('1.6 the two policies on job_queue', async () => {
		const rows = await sql.unsafe(`
			SELECT schemaname, tablename, policyname, permissive, roles, cmd
			FROM pg_policies
			WHERE tablename = 'job_queue'`);
		expect(rows.map((r) => `${r.policyname}:${r.cmd}:${r.permissive}`).sort()).toEqual([
			'Service role has full access:ALL:PERMISSIVE',
			'Users can view their own jobs:SELECT:PERMISSIVE'
		]);
		const roles = await sql`select policyname, roles::text[] as roles from pg_policies where tablename = 'job_queue' order by policyname`;
		expect(roles).toEqual([
			{ policyname: 'Service role has full access', roles: ['service_role'] },
			{ policyname: 'Users can view their own jobs', roles: ['authenticated'] }
		]);
	});

	test('1.7 enqueue_job returns a uuid, and the test job can be cleaned up', async () => {
		const [row] = await sql.unsafe(`
			SELECT enqueue_job(
			'generate-image'::text,
			'{"test": true, "prompt": "Test prompt"}'::jsonb,
			0,
			NOW(),
			3
			) AS job_id;`);
		expect(row!.job_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
		const deleted = await sql.unsafe(`DELETE FROM job_queue WHERE payload->>'test' = 'true'`);
		expect(deleted.count).toBe(1);
	});

	test("5.6 get_user_limits answers in the seed's shape", async () => {
		const user = await supabaseUser('limits@example.test');
		const [row] = await sql.unsafe(`SELECT get_user_limits('${user.id}')`);
		expect(row!.get_user_limits).toMatchObject({
			can_generate: true,
			daily_limit: 100,
			daily_used: 0,
			hourly_limit: 20,
			hourly_used: 0
		});
	});

	test('5.4 job_queue and image_generations are published to Realtime', async () => {
		const rows = await sql.unsafe(`SELECT * FROM pg_publication_tables WHERE pubname = 'supabase_realtime'`);
		expect(rows.map((r) => `${r.schemaname}.${r.tablename}`).sort()).toEqual(['public.image_generations', 'public.job_queue']);
	});
});

/** A user as Supabase Auth creates one: auth.users has no default id there. */
async function supabaseUser(email: string) {
	const [row] = await sql<{ id: string }[]>`
		insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
		values (gen_random_uuid(), 'authenticated', 'authenticated', ${email}, '{"provider":"email"}', '{}', now(), now())
		returning id`;
	const claims: JwtClaims = { sub: row!.id, role: 'authenticated', email };
	return { id: row!.id, claims };
}

describe('API roles under Supabase default privileges', () => {
	test('anon can read the models catalogue and no other table, and cannot run the queue', async () => {
		const tables = await sql`
			select c.relname as name from pg_class c
			where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v', 'p')
			  and (has_table_privilege('anon', c.oid, 'select') or has_table_privilege('anon', c.oid, 'insert')
			       or has_table_privilege('anon', c.oid, 'update') or has_table_privilege('anon', c.oid, 'delete'))
			order by 1`;
		expect(tables.map((t) => t.name)).toEqual(['models']);
		const callable = await sql`
			select p.proname from pg_proc p
			where p.pronamespace = 'public'::regnamespace and has_function_privilege('anon', p.oid, 'execute')
			  and p.proname in ('enqueue_job', 'claim_jobs', 'claim_next_job', 'complete_job', 'start_generation',
			                    'get_user_limits', 'cancel_all_pending_jobs', 'retry_jobs', 'purge_finished_jobs')`;
		expect(callable).toEqual([]);
	});

	test("the claim's helpers (0032, 0037) and the fold (0038) are the service role's alone", async () => {
		const helpers = ['job_queue_pending_keys', 'job_queue_open_candidates', 'job_queue_take_open', 'job_queue_within_room',
			'take_concurrency_slot', 'set_concurrency_limit', 'fold_settled_jobs'];
		const rows = await sql<{ proname: string; anon: boolean; authenticated: boolean; service_role: boolean }[]>`
			select p.proname, has_function_privilege('anon', p.oid, 'execute') as anon,
			       has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
			       has_function_privilege('service_role', p.oid, 'execute') as service_role
			from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname = any (${helpers})`;
		expect(rows.map((r) => r.proname).sort()).toEqual([...helpers].sort());
		expect(rows.filter((r) => r.anon || r.authenticated || !r.service_role)).toEqual([]);
		// Called as a signed-in user, the one that locks rows is refused outright.
		const user = await supabaseUser('lock-taker@example.test');
		const refused = await withUser(sql, user.claims, (tx) => tx`
			select * from job_queue_take_open(null, null, 10, null, '{}', '{x}', '{}')`).catch((error: { code?: string }) => error.code);
		expect(refused).toBe('42501');
	});

	test("a signed-in user sees only their own jobs and generations", async () => {
		const alice = await supabaseUser('alice@example.test');
		const bob = await supabaseUser('bob@example.test');
		const [started] = await sql`
			select start_generation(${alice.id}, 'a lighthouse', 'local/preview', 512, 512, 7) as result`;
		expect(started!.result.outcome).toBe('created');
		const asAlice = await withUser(sql, alice.claims, (tx) => tx`select (select count(*)::int from job_queue) as jobs,
			(select count(*)::int from image_generations) as generations`);
		const asBob = await withUser(sql, bob.claims, (tx) => tx`select (select count(*)::int from job_queue) as jobs,
			(select count(*)::int from image_generations) as generations`);
		expect(asAlice).toEqual([{ jobs: 1, generations: 1 }]);
		expect(asBob).toEqual([{ jobs: 0, generations: 0 }]);
	});
});

describe('storage', () => {
	test('the generations bucket exists and is private', async () => {
		const buckets = await sql`select id, name, public from storage.buckets where id = 'generations'`;
		expect(buckets).toEqual([{ id: 'generations', name: 'generations', public: false }]);
	});

	test('an authenticated user reads only their own images; the service role reads all', async () => {
		const alice = await supabaseUser('alice-images@example.test');
		const bob = await supabaseUser('bob-images@example.test');
		await sql`insert into storage.buckets (id, name, public) values ('elsewhere', 'elsewhere', false) on conflict do nothing`;
		// Laid out as the app writes them (src/lib/server/generations/handler.ts), by the service role.
		const objects = [
			['generations', `${alice.id}/g1.png`],
			['generations', `${alice.id}/g1.thumb.webp`],
			['generations', `${bob.id}/g2.png`],
			['elsewhere', `${alice.id}/other.png`]
		];
		for (const [bucket, name] of objects) {
			await sql`insert into storage.objects (bucket_id, name) values (${bucket!}, ${name!})`;
		}
		const names = (tx: TransactionSql) =>
			tx`select bucket_id || ':' || name as key from storage.objects order by 1`.then((rows) => rows.map((r) => r.key));

		expect(await withUser(sql, alice.claims, names)).toEqual([`generations:${alice.id}/g1.png`, `generations:${alice.id}/g1.thumb.webp`]);
		expect(await withUser(sql, bob.claims, names)).toEqual([`generations:${bob.id}/g2.png`]);
		const service = await withUser(sql, { sub: alice.id, role: 'service_role' }, names);
		expect(service.filter((key: string) => key.startsWith('generations:'))).toHaveLength(3);
		const anon = await sql.begin(async (tx) => {
			await tx`select set_config('role', 'anon', true)`;
			return names(tx);
		});
		expect(anon).toEqual([]);

		// Reading is all a user may do: writing their own folder is refused by row level security.
		await expect(
			withUser(sql, alice.claims, (tx) => tx`insert into storage.objects (bucket_id, name) values ('generations', ${`${alice.id}/forged.png`})`)
		).rejects.toThrow(/row-level security/);
	});

	test('running 0013 again changes nothing', async () => {
		const snapshot = () => sql`
			select (select count(*)::int from pg_publication_tables where pubname = 'supabase_realtime') as published,
			       (select count(*)::int from storage.buckets where id = 'generations') as buckets,
			       (select json_agg(policyname order by policyname) from pg_policies where schemaname = 'storage') as policies`;
		const before = await snapshot();
		expect(before[0]!.policies).toEqual(['generations: owners read their own images', 'generations: service role has full access']);
		await sql.begin((tx) => tx.unsafe(storageMigration));
		expect(await snapshot()).toEqual(before);
	});
});

test('0013 leaves a plain Postgres (no Realtime, no Storage) untouched', async () => {
	const db = await createTestDatabase({ max: 1 });
	try {
		const [row] = await db.sql`
			select exists (select from app_private.schema_migrations where version = '0013') as applied,
			       to_regclass('storage.buckets') is null as no_storage,
			       not exists (select from pg_publication) as no_publication`;
		expect(row).toEqual({ applied: true, no_storage: true, no_publication: true });
		// And it can run there again.
		await db.sql.begin((tx) => tx.unsafe(storageMigration));
	} finally {
		await db.drop();
	}
});

describe('a project where postgres may not create policies on storage.objects', () => {
	test('the migrations still apply: the bucket is made, the policies are skipped with a warning', async () => {
		await admin.unsafe('revoke supabase_storage_admin from postgres');
		await admin.unsafe('create database hosted');
		const prepare = createSql(cluster.url('supabase_admin', 'hosted'), { max: 1 });
		await prepare.unsafe(prepareSql);
		await prepare.end();

		const warnings: string[] = [];
		const hosted = postgres(cluster.url('postgres', 'hosted'), {
			max: 2,
			onnotice: (notice) => {
				if (notice.severity === 'WARNING') warnings.push(String(notice.message));
			}
		}) as unknown as Sql;
		try {
			await expect(hosted.unsafe(`create policy probe on storage.objects for select using (false)`)).rejects.toThrow(
				/must be owner of table objects/
			);
			expect(await migrate(hosted, migrations, { bootstrap: false })).toHaveLength(migrations.length);
			expect(warnings.some((w) => /not allowed to create policies on storage\.objects/.test(w))).toBe(true);
			const [state] = await hosted`
				select (select count(*)::int from storage.buckets where id = 'generations' and not public) as buckets,
				       (select count(*)::int from pg_policies where schemaname = 'storage') as policies,
				       (select count(*)::int from pg_publication_tables where pubname = 'supabase_realtime') as published`;
			expect(state).toEqual({ buckets: 1, policies: 0, published: 2 });
		} finally {
			await hosted.end({ timeout: 5 });
		}
	});
});
