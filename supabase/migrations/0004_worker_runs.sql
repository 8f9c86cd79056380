-- 0004 worker_runs: one row per worker invocation (cron call, continuous process, manual run) for the console.

create table public.worker_runs (
  id           bigint generated always as identity primary key,
  worker_id    text not null,
  trigger      text not null,
  started_at   timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  finished_at  timestamptz,
  processed    integer not null default 0,
  errors       integer not null default 0,
  reaped       integer not null default 0,
  message      text,

  constraint trigger_valid check (trigger in ('cron', 'continuous', 'manual')),
  constraint counts_not_negative check (processed >= 0 and errors >= 0 and reaped >= 0)
);

create index worker_runs_started_at_idx on public.worker_runs (started_at desc);

alter table public.worker_runs enable row level security;
create policy "Service role has full access" on public.worker_runs
  for all to service_role using (true) with check (true);
revoke all on public.worker_runs from anon, authenticated;
grant all on public.worker_runs to service_role;
