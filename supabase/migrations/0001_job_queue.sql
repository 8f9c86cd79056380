-- 0001 job_queue: the durable queue table every other piece of Picture hangs on.
-- Column names follow the seed deployment guide; lease and dedupe columns are ours.

create table public.job_queue (
  id            uuid primary key default gen_random_uuid(),
  job_type      text not null,
  payload       jsonb not null default '{}'::jsonb,
  status        text not null default 'pending',
  attempts      integer not null default 0,
  max_attempts  integer not null default 3,
  scheduled_at  timestamptz not null default now(),
  started_at    timestamptz,
  completed_at  timestamptz,
  error_message text,
  error_details jsonb,
  created_by    uuid references auth.users (id) on delete set null,
  priority      integer not null default 0,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  locked_by     text,
  locked_until  timestamptz,
  dedupe_key    text,
  -- Bumped by every claim and never reset: names one claim, so a late call from an earlier
  -- claim (even by the same worker, even after a retry reset attempts) is refused.
  claim_count   integer not null default 0,

  constraint status_valid check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  constraint job_type_not_empty check (length(btrim(job_type)) between 1 and 128),
  constraint payload_is_object check (jsonb_typeof(payload) = 'object'),
  constraint attempts_not_negative check (attempts >= 0),
  constraint claim_count_not_negative check (claim_count >= 0),
  constraint max_attempts_positive check (max_attempts between 1 and 100),
  constraint priority_in_range check (priority between -1000 and 1000),
  constraint lease_only_while_processing check (status = 'processing' or (locked_by is null and locked_until is null)),
  constraint dedupe_key_not_empty check (dedupe_key is null or length(dedupe_key) between 1 and 512)
);

comment on table public.job_queue is 'Background jobs: claimed with SKIP LOCKED under a lease, retried with backoff.';

-- The claim reads only pending rows in claim order, so its cost never grows with finished history.
create index job_queue_pending_claim_idx
  on public.job_queue (priority desc, scheduled_at, id)
  where status = 'pending';

-- One live job per dedupe key; finished jobs release the key.
create unique index job_queue_dedupe_key_active_idx
  on public.job_queue (dedupe_key)
  where dedupe_key is not null and status in ('pending', 'processing');

-- The reaper and the stuck-jobs view look only at running jobs by lease expiry.
create index job_queue_processing_lease_idx
  on public.job_queue (locked_until)
  where status = 'processing';

-- Purge and the recent-failures view walk finished jobs by completion time.
create index job_queue_finished_at_idx
  on public.job_queue (completed_at)
  where status in ('completed', 'failed', 'cancelled');

-- Row level security reads a user's own jobs, newest first.
create index job_queue_created_by_idx
  on public.job_queue (created_by, created_at desc)
  where created_by is not null;

-- Hot, high-churn table: vacuum early and leave room on pages for updates.
alter table public.job_queue set (
  fillfactor = 85,
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_limit = 2000
);

-- Job types an operator has paused: the claim skips them until resumed.
create table public.job_queue_paused_types (
  job_type  text primary key,
  paused_at timestamptz not null default now(),
  paused_by uuid references auth.users (id) on delete set null,
  reason    text,
  constraint job_type_not_empty check (length(btrim(job_type)) between 1 and 128)
);

alter table public.job_queue enable row level security;
alter table public.job_queue_paused_types enable row level security;

create policy "Users can view their own jobs" on public.job_queue
  for select to authenticated
  using (created_by = auth.uid());

create policy "Service role has full access" on public.job_queue
  for all to service_role
  using (true) with check (true);

create policy "Service role has full access" on public.job_queue_paused_types
  for all to service_role
  using (true) with check (true);

revoke all on public.job_queue, public.job_queue_paused_types from anon, authenticated;
grant select on public.job_queue to authenticated;
grant all on public.job_queue, public.job_queue_paused_types to service_role;

-- Wake sleeping workers once per inserting statement (not per row); delivered at commit.
create function public.notify_job_inserted() returns trigger
language plpgsql as $$
begin
  perform pg_notify('job_queue_inserted', '');
  return null;
end;
$$;

create trigger job_queue_notify_inserted
  after insert on public.job_queue
  for each statement execute function public.notify_job_inserted();

-- The seed guide's hand-written updates (6.3 reset stuck jobs, 7.3 cancel everything) change status
-- alone: release the lease and stamp the finish, so they pass the constraints and purge finds the rows.
create function public.job_queue_settle_manual_update() returns trigger
language plpgsql as $$
begin
  if new.status <> 'processing' then
    new.locked_by := null;
    new.locked_until := null;
  end if;
  if new.status in ('completed', 'failed', 'cancelled') and new.completed_at is null then
    new.completed_at := now();
  end if;
  return new;
end;
$$;

-- Fires only for such rows; the queue functions write settled rows and never reach it.
create trigger job_queue_settle_manual_update
  before update on public.job_queue
  for each row
  when ((new.status <> 'processing' and (new.locked_by is not null or new.locked_until is not null))
        or (new.status in ('completed', 'failed', 'cancelled') and new.completed_at is null))
  execute function public.job_queue_settle_manual_update();
