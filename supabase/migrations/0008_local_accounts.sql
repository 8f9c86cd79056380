-- 0008 local accounts: remembers failed sign-ins so repeated guessing is slowed down. (Local
-- accounts live in auth.users like Supabase's; this table is private, never exposed to the API.)

create schema if not exists app_private;
revoke all on schema app_private from public;

create table app_private.sign_in_failures (
  id        bigint generated always as identity primary key,
  email     text not null,
  failed_at timestamptz not null default now()
);

-- Counting an address's recent failures reads only that address, newest first.
create index sign_in_failures_email_idx on app_private.sign_in_failures (lower(email), failed_at desc);
