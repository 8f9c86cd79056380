-- 0010 console overview and alerts: indexes for its time-bounded stats, and alert state shared by every app process.

-- No created_at index here: the overview's hourly throughput, last-hour failure rate and 7-day model
-- times read created_at ranges through 0011's job_queue_created_at_id_idx; one more index on
-- created_at would only slow every write to the hot table.

-- "When was a worker last alive" reads the newest last_seen_at, not every run ever recorded.
create index worker_runs_last_seen_at_idx on public.worker_runs (last_seen_at desc);

-- One row per alert condition. Every app process evaluates the conditions; a conditional upsert on
-- this row decides which one saw the change (start or clear), and a short delivery lease decides
-- which one announces it, so several processes never send the same message twice.
create table public.alert_state (
  alert_key            text primary key,
  active               boolean not null default false,
  -- What the condition said when it last started: the announcements quote it.
  title                text,
  detail               text,
  started_at           timestamptz,
  cleared_at           timestamptz,
  changed_at           timestamptz not null default now(),
  -- The state the webhook last announced (null: never announced anything).
  notified_active      boolean,
  -- A process announcing the change holds this lease; after a failed send it is the retry time.
  notify_claimed_until timestamptz,
  notify_attempts      integer not null default 0,
  notify_error         text,

  constraint alert_key_not_empty check (length(btrim(alert_key)) between 1 and 64),
  constraint notify_attempts_not_negative check (notify_attempts >= 0)
);

comment on table public.alert_state is 'Console alerts: whether each condition is active, and what the webhook last announced.';

alter table public.alert_state enable row level security;
create policy "Service role has full access" on public.alert_state
  for all to service_role using (true) with check (true);
revoke all on public.alert_state from anon, authenticated;
grant all on public.alert_state to service_role;
