// What a Supabase project already has and a plain Postgres lacks: the API roles, the auth schema,
// auth.users and auth.uid(). Each piece is created only where missing, so running it against a
// Supabase database changes nothing. It is deliberately not a migration: Supabase never receives it.
import type { Queryable } from './client';

export const BOOTSTRAP_SQL = String.raw`
do $bootstrap$
begin
  -- A Supabase project (or a database bootstrapped before) has all of it: touch nothing.
  if to_regclass('auth.users') is not null and to_regprocedure('auth.uid()') is not null
     and (select count(*) from pg_roles where rolname in ('anon', 'authenticated', 'service_role')) = 3 then
    return;
  end if;

  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  -- The connecting role must be able to switch into them, as Supabase's authenticator does.
  if not pg_has_role(current_user, 'anon', 'member') then
    execute format('grant anon to %I', current_user);
  end if;
  if not pg_has_role(current_user, 'authenticated', 'member') then
    execute format('grant authenticated to %I', current_user);
  end if;
  if not pg_has_role(current_user, 'service_role', 'member') then
    execute format('grant service_role to %I', current_user);
  end if;

  if not exists (select 1 from pg_namespace where nspname = 'auth') then
    create schema auth;
  end if;
  grant usage on schema auth to anon, authenticated, service_role;
  grant usage on schema public to anon, authenticated, service_role;

  if to_regclass('auth.users') is null then
    create table auth.users (
      id                 uuid primary key default gen_random_uuid(),
      aud                text not null default 'authenticated',
      role               text not null default 'authenticated',
      email              text unique,
      encrypted_password text,
      email_confirmed_at timestamptz,
      last_sign_in_at    timestamptz,
      raw_app_meta_data  jsonb not null default '{}'::jsonb,
      raw_user_meta_data jsonb not null default '{}'::jsonb,
      created_at         timestamptz not null default now(),
      updated_at         timestamptz not null default now()
    );
    grant select on auth.users to service_role;
  end if;

  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb
    language sql stable as $fn$
      select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb;
    $fn$;
  end if;

  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
    language sql stable as $fn$
      select nullif(
        coalesce(current_setting('request.jwt.claim.sub', true),
                 nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'),
        '')::uuid;
    $fn$;
  end if;

  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text
    language sql stable as $fn$
      select coalesce(current_setting('request.jwt.claim.role', true),
                      nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role');
    $fn$;
  end if;
  grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;
end
$bootstrap$;
`;

/** Applies the bootstrap under the migration lock, so concurrent starts do not race. */
export async function applyBootstrap(sql: Queryable, lockKey: number): Promise<void> {
	await (sql as import('./client').Sql).begin(async (tx) => {
		await tx`select pg_advisory_xact_lock(${lockKey})`;
		await tx.unsafe(BOOTSTRAP_SQL);
	});
}
