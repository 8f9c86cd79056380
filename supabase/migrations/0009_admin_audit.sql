-- 0009 admin audit log: every action an operator takes in the console, who, what, when, how many rows.

create table public.admin_audit_log (
  id            bigint generated always as identity primary key,
  actor_id      uuid references auth.users (id) on delete set null,
  actor_email   text not null,
  action        text not null,
  target        text,
  details       jsonb not null default '{}'::jsonb,
  affected_rows integer not null default 0,
  created_at    timestamptz not null default now(),

  constraint action_not_empty check (length(btrim(action)) between 1 and 100),
  constraint affected_rows_not_negative check (affected_rows >= 0),
  constraint details_is_object check (jsonb_typeof(details) = 'object')
);

-- The audit page lists newest first.
create index admin_audit_log_created_at_idx on public.admin_audit_log (created_at desc, id desc);

alter table public.admin_audit_log enable row level security;
create policy "Service role has full access" on public.admin_audit_log for all to service_role using (true) with check (true);
revoke all on public.admin_audit_log from anon, authenticated;
grant all on public.admin_audit_log to service_role;
