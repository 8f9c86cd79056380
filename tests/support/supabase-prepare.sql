-- Prepares a plain Postgres database the way Supabase prepares a project's, so our migrations can be
-- applied to it exactly as `supabase db push` applies them: connected as a NON-superuser `postgres`.
-- Run as the cluster's bootstrap superuser `supabase_admin` (initdb -U supabase_admin), as on Supabase.
-- Mirrored from Supabase's published schema (facts, not copies):
--   supabase/postgres migrations/db/init-scripts/00000000000000-initial-schema.sql .. 00000000000003-post-setup.sql
--     (roles, extensions schema, the supabase_realtime publication, default privileges)
--   supabase/postgres migrations/db/migrations/10000000000000_demote-postgres.sql (postgres: NOSUPERUSER
--     CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS, ALL on auth/storage tables and routines),
--     20230529180330_alter_api_roles_for_inherit.sql, 20250421084701_revoke_admin_roles_from_postgres.sql
--   supabase/auth migrations (auth.users, auth.uid()/role()/email() reading request.jwt.claim(s), auth.jwt())
--   supabase/storage migrations (storage.buckets, storage.objects with RLS on, storage.foldername())
-- Roles are cluster-wide, so their part is idempotent: several databases of one cluster may be prepared.
--   supabase/postgres migrations/db/init-scripts: the event triggers (PostgREST's pgrst_ddl_watch and
--     pgrst_drop_watch, the pg_cron and pg_net access grants) owned by supabase_admin, which fire on
--     every DDL statement postgres runs; the authenticator's timeouts; supabase_auth_admin's settings;
--     postgres' pg_monitor, pg_read_all_data and pg_signal_backend; the realtime and graphql_public schemas
--   supabase/auth migrations: auth.identities and auth.sessions next to auth.users (GoTrue's own schema,
--     which is how an app can tell the auth schema is GoTrue's and not a plain-Postgres stand-in)
--   supabase/vault 0.3: functions that run with the caller's rights and search_path '' (not definer)
-- Not mirrored: supautils itself (its policy_grants let Supabase's `postgres` create policies on
-- storage.objects and auth's tables without owning them: the tests grant the owning roles to postgres
-- as a stand-in, see tests/integration/supabase-migrations.test.ts) and pgsodium's encryption.

-- Roles -------------------------------------------------------------------------------------------
do $roles$
begin
  if not exists (select from pg_roles where rolname = 'postgres') then
    create role postgres;
  end if;
  alter role postgres nosuperuser createdb createrole login replication bypassrls;
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  alter role anon inherit;
  alter role authenticated inherit;
  alter role service_role inherit;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin noinherit createrole login noreplication;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_storage_admin') then
    create role supabase_storage_admin noinherit createrole login noreplication;
  end if;
  alter role postgres set search_path to "$user", public, extensions;
  alter role anon set statement_timeout = '3s';
  alter role authenticated set statement_timeout = '8s';
  -- PostgREST logs in as authenticator: its settings are the ones every API request runs under.
  alter role authenticator set statement_timeout = '8s';
  alter role authenticator set lock_timeout = '8s';
  alter role supabase_auth_admin nocreaterole;
  alter role supabase_auth_admin set search_path = auth;
  alter role supabase_auth_admin set idle_in_transaction_session_timeout = '60s';
  alter role supabase_storage_admin set search_path = storage;
end
$roles$;

grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;

grant anon, authenticated, service_role to authenticator;
-- The dashboard's SQL editor and `supabase db push` connect as postgres, which may switch into the API roles.
grant anon, authenticated, service_role to postgres;

-- The database and public ----------------------------------------------------------------------------
do $database$
begin
  execute format('grant all on database %I to postgres', current_database());
end
$database$;
grant usage, create on schema public to postgres;
grant usage on schema public to anon, authenticated, service_role;
-- Supabase exposes what postgres creates in public to the API roles unless a migration revokes it.
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;

create schema if not exists extensions;
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;
alter schema extensions owner to postgres;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
do $owner$
begin
  execute format('alter database %I owner to postgres', current_database());
end
$owner$;

create schema if not exists realtime;
create schema if not exists graphql_public;
grant usage on schema graphql_public to postgres, anon, authenticated, service_role;

-- PostgREST reloads its schema cache on DDL: these event triggers, owned by the superuser, fire on
-- every DDL statement of every role, migrations included.
create or replace function extensions.pgrst_ddl_watch() returns event_trigger language plpgsql as $$
declare
  cmd record;
begin
  for cmd in select * from pg_event_trigger_ddl_commands() loop
    if cmd.command_tag in ('CREATE SCHEMA', 'ALTER SCHEMA', 'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE',
                           'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE', 'CREATE VIEW', 'ALTER VIEW',
                           'CREATE MATERIALIZED VIEW', 'ALTER MATERIALIZED VIEW', 'CREATE FUNCTION', 'ALTER FUNCTION',
                           'CREATE TRIGGER', 'CREATE TYPE', 'ALTER TYPE', 'CREATE RULE', 'COMMENT')
       and cmd.schema_name is distinct from 'pg_temp' then
      perform pg_notify('pgrst', 'reload schema');
    end if;
  end loop;
end
$$;
create or replace function extensions.pgrst_drop_watch() returns event_trigger language plpgsql as $$
declare
  obj record;
begin
  for obj in select * from pg_event_trigger_dropped_objects() loop
    if obj.object_type in ('schema', 'table', 'foreign table', 'view', 'materialized view', 'function', 'trigger', 'type', 'rule')
       and obj.is_temporary is false then
      perform pg_notify('pgrst', 'reload schema');
    end if;
  end loop;
end
$$;
-- The platform grants the API roles the cron and net schemas when those extensions are created.
create or replace function extensions.grant_pg_cron_access() returns event_trigger language plpgsql as $$
begin
  if exists (select from pg_event_trigger_ddl_commands() ev join pg_extension e on ev.objid = e.oid where e.extname = 'pg_cron') then
    grant usage on schema cron to postgres with grant option;
    grant all on all tables in schema cron to postgres with grant option;
    grant all on all functions in schema cron to postgres with grant option;
  end if;
end
$$;
create or replace function extensions.grant_pg_net_access() returns event_trigger language plpgsql as $$
begin
  if exists (select from pg_event_trigger_ddl_commands() ev join pg_extension e on ev.objid = e.oid where e.extname = 'pg_net') then
    grant usage on schema net to postgres, anon, authenticated, service_role;
  end if;
end
$$;
do $events$
begin
  if not exists (select from pg_event_trigger where evtname = 'pgrst_ddl_watch') then
    create event trigger pgrst_ddl_watch on ddl_command_end execute procedure extensions.pgrst_ddl_watch();
    create event trigger pgrst_drop_watch on sql_drop execute procedure extensions.pgrst_drop_watch();
    create event trigger issue_pg_cron_access on ddl_command_end when tag in ('CREATE EXTENSION')
      execute procedure extensions.grant_pg_cron_access();
    create event trigger issue_pg_net_access on ddl_command_end when tag in ('CREATE EXTENSION')
      execute procedure extensions.grant_pg_net_access();
  end if;
end
$events$;

-- Realtime: an empty publication the project's owner (postgres) adds tables to.
create publication supabase_realtime;
alter publication supabase_realtime owner to postgres;

-- Auth ---------------------------------------------------------------------------------------------
create schema auth authorization supabase_admin;
create table auth.users (
  instance_id                 uuid,
  id                          uuid not null primary key,
  aud                         varchar(255),
  role                        varchar(255),
  email                       varchar(255),
  encrypted_password          varchar(255),
  email_confirmed_at          timestamptz,
  invited_at                  timestamptz,
  confirmation_token          varchar(255),
  confirmation_sent_at        timestamptz,
  recovery_token              varchar(255),
  recovery_sent_at            timestamptz,
  email_change_token_new      varchar(255),
  email_change                varchar(255),
  email_change_sent_at        timestamptz,
  last_sign_in_at             timestamptz,
  raw_app_meta_data           jsonb,
  raw_user_meta_data          jsonb,
  is_super_admin              boolean,
  created_at                  timestamptz,
  updated_at                  timestamptz,
  phone                       text unique default null,
  phone_confirmed_at          timestamptz,
  phone_change                text default '',
  phone_change_token          varchar(255) default '',
  phone_change_sent_at        timestamptz,
  confirmed_at                timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current  varchar(255) default '',
  email_change_confirm_status smallint default 0,
  banned_until                timestamptz,
  reauthentication_token      varchar(255) default '',
  reauthentication_sent_at    timestamptz,
  is_sso_user                 boolean not null default false,
  deleted_at                  timestamptz,
  is_anonymous                boolean not null default false
);
create index users_instance_id_idx on auth.users (instance_id);
alter table auth.users enable row level security;
alter table auth.users owner to supabase_auth_admin;

-- GoTrue's sign-in identities and sessions, both cascading from auth.users as GoTrue's do.
create table auth.identities (
  provider_id     text not null,
  user_id         uuid not null references auth.users (id) on delete cascade,
  identity_data   jsonb not null,
  provider        text not null,
  last_sign_in_at timestamptz,
  created_at      timestamptz,
  updated_at      timestamptz,
  email           text generated always as (lower(identity_data ->> 'email')) stored,
  id              uuid not null default gen_random_uuid() primary key,
  constraint identities_provider_id_provider_unique unique (provider_id, provider)
);
create table auth.sessions (
  id           uuid not null primary key,
  user_id      uuid not null references auth.users (id) on delete cascade,
  created_at   timestamptz,
  updated_at   timestamptz,
  factor_id    uuid,
  aal          text,
  not_after    timestamptz,
  refreshed_at timestamp,
  user_agent   text,
  ip           inet,
  tag          text
);
alter table auth.identities enable row level security;
alter table auth.sessions enable row level security;
alter table auth.identities owner to supabase_auth_admin;
alter table auth.sessions owner to supabase_auth_admin;

create function auth.uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
create function auth.role() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
create function auth.email() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text
$$;
create function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;

grant usage on schema auth to anon, authenticated, service_role, postgres;
grant all on schema auth to supabase_auth_admin;
grant all on all tables in schema auth to supabase_auth_admin, postgres;
grant all on all routines in schema auth to postgres;

-- Storage ------------------------------------------------------------------------------------------
create schema storage authorization supabase_admin;
grant usage on schema storage to postgres, anon, authenticated, service_role;
grant all on schema storage to postgres with grant option;
grant all on schema storage to supabase_storage_admin with grant option;

create table storage.buckets (
  id                 text not null primary key,
  name               text not null,
  owner              uuid,
  created_at         timestamptz default now(),
  updated_at         timestamptz default now(),
  public             boolean default false,
  avif_autodetection boolean default false,
  file_size_limit    bigint,
  allowed_mime_types text[],
  owner_id           text
);
create unique index bname on storage.buckets using btree (name);

create table storage.objects (
  id               uuid not null default gen_random_uuid() primary key,
  bucket_id        text references storage.buckets (id),
  name             text,
  owner            uuid,
  created_at       timestamptz default now(),
  updated_at       timestamptz default now(),
  last_accessed_at timestamptz default now(),
  metadata         jsonb,
  path_tokens      text[] generated always as (string_to_array(name, '/')) stored,
  version          text,
  owner_id         text,
  user_metadata    jsonb
);
create unique index bucketid_objname on storage.objects using btree (bucket_id, name);

create function storage.foldername(name text) returns text[] language plpgsql immutable as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1:array_length(_parts, 1) - 1];
end
$$;

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;
alter function storage.foldername(text) owner to supabase_storage_admin;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;
grant all on storage.buckets, storage.objects to postgres with grant option;
grant all on all routines in schema storage to postgres, anon, authenticated, service_role;

-- Vault (stand-in: supabase_vault cannot be installed here) ------------------------------------------
-- Same names and call shapes as supabase_vault: vault.create_secret(secret, name, description) and the
-- vault.decrypted_secrets view with its decrypted_secret column. Nothing is encrypted here.
create schema vault authorization supabase_admin;
create table vault.secrets (
  id          uuid not null default gen_random_uuid() primary key,
  name        text,
  description text not null default '',
  secret      text not null,
  key_id      uuid,
  nonce       bytea,
  created_at  timestamptz not null default current_timestamp,
  updated_at  timestamptz not null default current_timestamp
);
create unique index secrets_name_idx on vault.secrets (name) where name is not null;
create view vault.decrypted_secrets as
  select id, name, description, secret, secret as decrypted_secret, key_id, nonce, created_at, updated_at
  from vault.secrets;
-- Vault 0.3: the functions run with the caller's rights (security invoker) and an empty search_path.
create function vault.create_secret(new_secret text, new_name text default null, new_description text default '',
                                    new_key_id uuid default null) returns uuid
language sql security invoker set search_path = '' as $$
  insert into vault.secrets (secret, name, description, key_id)
  values (new_secret, new_name, coalesce(new_description, ''), new_key_id)
  returning id;
$$;
create function vault.update_secret(secret_id uuid, new_secret text default null, new_name text default null,
                                    new_description text default null, new_key_id uuid default null) returns void
language sql security invoker set search_path = '' as $$
  update vault.secrets
  set secret = coalesce(new_secret, secret), name = coalesce(new_name, name),
      description = coalesce(new_description, description), key_id = coalesce(new_key_id, key_id),
      updated_at = now()
  where id = secret_id;
$$;
revoke all on all tables in schema vault from public;
revoke all on function vault.create_secret(text, text, text, uuid), vault.update_secret(uuid, text, text, text, uuid) from public;
grant usage on schema vault to postgres, service_role;
-- With invoker rights the caller needs the table itself: postgres and the service role may write secrets.
grant select, insert, update, delete on vault.secrets to postgres, service_role;
grant select on vault.decrypted_secrets to postgres, service_role;
grant execute on function vault.create_secret(text, text, text, uuid), vault.update_secret(uuid, text, text, text, uuid)
  to postgres, service_role;
