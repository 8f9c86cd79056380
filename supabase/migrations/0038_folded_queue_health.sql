-- 0038 queue_health answers from folded totals of settled history plus the live rows, so it costs milliseconds at a million jobs instead of a scan of all of them.

-- queue_health (0003) groups every job by (job_type, status): 285 ms at 1,000,000 jobs, growing with
-- the history. Its answer must stay exactly the plain query's (the seed's operators read it by hand,
-- the export copies it), so the view now adds two parts:
--
--   (a) job_queue_settled_totals: per (job_type, status, created_by), the count, the sum and count of
--       durations and the oldest/newest created_at of the "folded" rows: settled (completed, failed,
--       cancelled) with completed_at <= job_queue_fold_state.folded_through (the watermark W);
--   (b) the live rows, read through the partial indexes that exist anyway: pending
--       (job_queue_pending_claim_idx), processing (job_queue_processing_lease_idx), settled with
--       completed_at > W or null (job_queue_finished_at_idx).
--
-- Exactness. The totals are, at every commit, the aggregate of exactly the folded rows:
--   * fold_settled_jobs() moves W forward and adds the rows in (W_old, W_new]. It only moves W to a
--     time t minus 5 s, where t was recorded by an earlier fold together with the snapshot's xmax,
--     and only once every transaction that had an id at t has ended. A transaction that wrote a
--     settled row before t is then committed and seen by the fold; one that writes after t either
--     writes completed_at within 5 s of its clock (so completed_at > t - 5 s = W: live, not folded),
--     or writes an older completed_at and fires the late-settle trigger below, which adds it itself.
--   * a change to a settled row (an operator's retry back to pending, a created_by set null by a
--     deleted user, any edit) fires job_queue_settled_change, which subtracts the old row if it was
--     folded and adds the new one if it is; a delete (purge, by hand) subtracts through a
--     statement-level trigger over the deleted rows; a truncate empties the totals. When the row
--     removed was its group's oldest or newest, the group's bounds are read again from job_queue.
--   * folds and those triggers serialise on the one job_queue_fold_state row (the fold: for update;
--     the triggers: for share, then the totals rows in key order), and every read that follows a
--     lock is a new statement, so it sees what the holder committed (read committed; the fold
--     refuses other isolation levels).
-- Hot path: claim, heartbeat and complete change rows that are pending or processing and write
-- completed_at = now(), so neither trigger's WHEN is true for them: no trigger call, no new index.
-- A transaction left open for a long time with writes holds W where it is (the view stays exact; the
-- live part grows until it ends). Clock steps backwards of more than 5 s are not covered.

create table public.job_queue_settled_totals (
  job_type          text not null,
  status            text not null,
  created_by        uuid,
  jobs              bigint not null,
  duration_sum      numeric,
  durations         bigint not null,
  oldest_created_at timestamptz not null,
  newest_created_at timestamptz not null,
  constraint settled_totals_status_settled check (status in ('completed', 'failed', 'cancelled')),
  constraint settled_totals_jobs_positive check (jobs > 0 and durations between 0 and jobs),
  constraint settled_totals_one_row_per_group unique nulls not distinct (job_type, status, created_by)
);

comment on table public.job_queue_settled_totals is
  'queue_health''s folded part: aggregates of settled jobs with completed_at <= job_queue_fold_state.folded_through.';

-- The console's history chart (jobs created per bucket, how many completed or failed, by type and
-- model) reads the same folded rows by the hour they were created in: 30 days of it was a walk of
-- every job created in them (580 ms at 1M jobs). Same watermark, same triggers, no bounds to keep.
create table public.job_queue_settled_hourly (
  created_hour timestamptz not null,
  job_type     text not null,
  model_id     text,
  status       text not null,
  jobs         bigint not null,
  constraint settled_hourly_status_settled check (status in ('completed', 'failed', 'cancelled')),
  constraint settled_hourly_jobs_positive check (jobs > 0),
  constraint settled_hourly_on_the_hour check (created_hour = date_trunc('hour', created_hour, 'UTC')),
  constraint settled_hourly_one_row_per_group unique nulls not distinct (created_hour, job_type, model_id, status)
);

comment on table public.job_queue_settled_hourly is
  'The history chart''s folded part: settled jobs by UTC hour created, type, model and status (same watermark as job_queue_settled_totals).';

create table public.job_queue_fold_state (
  singleton      boolean primary key default true,
  folded_through timestamptz not null default '-infinity',
  candidate_at   timestamptz,
  candidate_xmax xid8,
  folded_at      timestamptz,
  constraint fold_state_single_row check (singleton)
);
insert into public.job_queue_fold_state default values;

alter table public.job_queue_settled_totals enable row level security;
alter table public.job_queue_settled_hourly enable row level security;
alter table public.job_queue_fold_state enable row level security;

-- As job_queue: a user's view reads only their own jobs' totals.
create policy "Users can view their own totals" on public.job_queue_settled_totals
  for select to authenticated using (created_by = auth.uid());
create policy "Service role has full access" on public.job_queue_settled_totals
  for all to service_role using (true) with check (true);
create policy "Service role has full access" on public.job_queue_settled_hourly
  for all to service_role using (true) with check (true);
create policy "Signed-in users can read the watermark" on public.job_queue_fold_state
  for select to authenticated using (true);
create policy "Service role has full access" on public.job_queue_fold_state
  for all to service_role using (true) with check (true);

revoke all on public.job_queue_settled_totals, public.job_queue_settled_hourly, public.job_queue_fold_state from anon, authenticated;
grant select on public.job_queue_settled_totals, public.job_queue_fold_state to authenticated;
grant all on public.job_queue_settled_totals, public.job_queue_settled_hourly, public.job_queue_fold_state to service_role;

-- One hour's count of one (type, model, status) moved by p_jobs (negative: taken away; an emptied row goes).
create function public.count_settled_hour(
  p_created_at timestamptz, p_job_type text, p_model_id text, p_status text, p_jobs bigint
) returns void
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_hour timestamptz := date_trunc('hour', p_created_at, 'UTC');
  v_left bigint;
begin
  if p_jobs > 0 then
    insert into job_queue_settled_hourly as h (created_hour, job_type, model_id, status, jobs)
    values (v_hour, p_job_type, p_model_id, p_status, p_jobs)
    on conflict (created_hour, job_type, model_id, status) do update set jobs = h.jobs + excluded.jobs;
    return;
  end if;
  select h.jobs + p_jobs into v_left from job_queue_settled_hourly h
  where h.created_hour = v_hour and h.job_type = p_job_type and h.model_id is not distinct from p_model_id and h.status = p_status
  for update;
  if v_left is null or v_left < 0 then
    raise exception 'count_settled_hour: (%, %, %, %) holds fewer jobs than are taken away', v_hour, p_job_type, p_model_id, p_status
      using errcode = 'XX000';
  end if;
  if v_left = 0 then
    delete from job_queue_settled_hourly h
    where h.created_hour = v_hour and h.job_type = p_job_type and h.model_id is not distinct from p_model_id and h.status = p_status;
  else
    update job_queue_settled_hourly h set jobs = v_left
    where h.created_hour = v_hour and h.job_type = p_job_type and h.model_id is not distinct from p_model_id and h.status = p_status;
  end if;
end;
$$;

-- Adds one group's share (rows already known to be folded).
create function public.add_settled_totals(
  p_job_type text, p_status text, p_created_by uuid, p_jobs bigint, p_duration_sum numeric,
  p_durations bigint, p_oldest timestamptz, p_newest timestamptz
) returns void
language sql volatile security definer set search_path = public, pg_temp as $$
  insert into job_queue_settled_totals as t
    (job_type, status, created_by, jobs, duration_sum, durations, oldest_created_at, newest_created_at)
  values (p_job_type, p_status, p_created_by, p_jobs, p_duration_sum, p_durations, p_oldest, p_newest)
  on conflict (job_type, status, created_by) do update set
    jobs = t.jobs + excluded.jobs,
    duration_sum = case when t.duration_sum is null then excluded.duration_sum
                        when excluded.duration_sum is null then t.duration_sum
                        else t.duration_sum + excluded.duration_sum end,
    durations = t.durations + excluded.durations,
    oldest_created_at = least(t.oldest_created_at, excluded.oldest_created_at),
    newest_created_at = greatest(t.newest_created_at, excluded.newest_created_at);
$$;

-- Takes one group's share away (the caller holds the group's row lock); an emptied group goes, and
-- when the rows removed held the group's oldest or newest created_at the bounds are read again from
-- the folded rows still in job_queue (a new statement: it sees what earlier lock holders committed).
create function public.subtract_settled_totals(
  p_job_type text, p_status text, p_created_by uuid, p_jobs bigint, p_duration_sum numeric,
  p_durations bigint, p_oldest timestamptz, p_newest timestamptz, p_folded_through timestamptz
) returns void
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_row job_queue_settled_totals;
begin
  select * into v_row from job_queue_settled_totals t
  where t.job_type = p_job_type and t.status = p_status and t.created_by is not distinct from p_created_by
  for update;
  if not found or v_row.jobs < p_jobs then
    raise exception 'subtract_settled_totals: totals of (%, %, %) hold fewer jobs than are taken away',
      p_job_type, p_status, p_created_by using errcode = 'XX000';
  end if;
  if v_row.jobs = p_jobs then
    delete from job_queue_settled_totals t
    where t.job_type = p_job_type and t.status = p_status and t.created_by is not distinct from p_created_by;
    return;
  end if;
  update job_queue_settled_totals t set
    jobs = t.jobs - p_jobs,
    duration_sum = case when t.durations = p_durations then null
                        else t.duration_sum - coalesce(p_duration_sum, 0) end,
    durations = t.durations - p_durations
  where t.job_type = p_job_type and t.status = p_status and t.created_by is not distinct from p_created_by;
  -- Row triggers of one statement run after all its rows changed: the folded rows left may all be
  -- about to leave too (a deleted user's jobs, set null at once); then the bounds wait for the last.
  if p_oldest <= v_row.oldest_created_at or p_newest >= v_row.newest_created_at then
    update job_queue_settled_totals t set (oldest_created_at, newest_created_at) = (
      select coalesce(min(j.created_at), t.oldest_created_at), coalesce(max(j.created_at), t.newest_created_at) from job_queue j
      where j.job_type = p_job_type and j.status = p_status and j.created_by is not distinct from p_created_by
        and j.completed_at <= p_folded_through)
    where t.job_type = p_job_type and t.status = p_status and t.created_by is not distinct from p_created_by;
  end if;
end;
$$;

-- Row trigger: a settled row changed, or a row was settled with a completed_at more than 5 s older
-- than the writer's clock (see the header). Subtracts the old row if folded, adds the new if folded.
create function public.track_settled_job_change() returns trigger
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_through timestamptz;
  v_old_folded boolean := false;
  v_new_folded boolean;
begin
  select folded_through into v_through from job_queue_fold_state for share;
  if tg_op = 'UPDATE' then
    v_old_folded := old.status in ('completed', 'failed', 'cancelled') and old.completed_at <= v_through;
  end if;
  v_new_folded := new.status in ('completed', 'failed', 'cancelled') and new.completed_at <= v_through;
  if v_old_folded and v_new_folded
     and (old.job_type, old.status, old.created_by, old.created_at, old.started_at, old.completed_at, old.payload ->> 'model_id')
         is not distinct from (new.job_type, new.status, new.created_by, new.created_at, new.started_at, new.completed_at, new.payload ->> 'model_id') then
    return null;
  end if;
  -- Both groups' rows locked in key order, so two such changes cannot deadlock.
  perform 1 from job_queue_settled_totals t
  where (v_old_folded and t.job_type = old.job_type and t.status = old.status and t.created_by is not distinct from old.created_by)
     or (v_new_folded and t.job_type = new.job_type and t.status = new.status and t.created_by is not distinct from new.created_by)
  order by t.job_type, t.status, t.created_by nulls first
  for update;
  if v_old_folded then
    perform subtract_settled_totals(old.job_type, old.status, old.created_by, 1,
      extract(epoch from (old.completed_at - old.started_at)), (old.completed_at - old.started_at is not null)::int,
      old.created_at, old.created_at, v_through);
    perform count_settled_hour(old.created_at, old.job_type, old.payload ->> 'model_id', old.status, -1);
  end if;
  if v_new_folded then
    perform add_settled_totals(new.job_type, new.status, new.created_by, 1,
      extract(epoch from (new.completed_at - new.started_at)), (new.completed_at - new.started_at is not null)::int,
      new.created_at, new.created_at);
    perform count_settled_hour(new.created_at, new.job_type, new.payload ->> 'model_id', new.status, 1);
  end if;
  return null;
end;
$$;

-- Statement trigger over the deleted rows: one subtraction per group (a purge batch is one statement).
create function public.track_settled_job_delete() returns trigger
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_through timestamptz;
  v_group record;
begin
  if not exists (select 1 from deleted_jobs d where d.status in ('completed', 'failed', 'cancelled')) then
    return null;
  end if;
  select folded_through into v_through from job_queue_fold_state for share;
  perform 1 from job_queue_settled_totals t
  where exists (select 1 from deleted_jobs d
                where d.status in ('completed', 'failed', 'cancelled') and d.completed_at <= v_through
                  and d.job_type = t.job_type and d.status = t.status and d.created_by is not distinct from t.created_by)
  order by t.job_type, t.status, t.created_by nulls first
  for update;
  for v_group in
    select d.job_type, d.status, d.created_by, count(*) as jobs,
           sum(extract(epoch from (d.completed_at - d.started_at))) as duration_sum,
           count(d.completed_at - d.started_at) as durations,
           min(d.created_at) as oldest, max(d.created_at) as newest
    from deleted_jobs d
    where d.status in ('completed', 'failed', 'cancelled') and d.completed_at <= v_through
    group by d.job_type, d.status, d.created_by
    order by d.job_type, d.status, d.created_by nulls first
  loop
    perform subtract_settled_totals(v_group.job_type, v_group.status, v_group.created_by, v_group.jobs,
      v_group.duration_sum, v_group.durations, v_group.oldest, v_group.newest, v_through);
  end loop;
  for v_group in
    select date_trunc('hour', d.created_at, 'UTC') as hour, d.job_type, d.payload ->> 'model_id' as model_id, d.status, count(*) as jobs
    from deleted_jobs d
    where d.status in ('completed', 'failed', 'cancelled') and d.completed_at <= v_through
    group by 1, 2, 3, 4
    order by 1, 2, 3 nulls first, 4
  loop
    perform count_settled_hour(v_group.hour, v_group.job_type, v_group.model_id, v_group.status, -v_group.jobs);
  end loop;
  return null;
end;
$$;

create function public.clear_settled_totals() returns trigger
language plpgsql volatile security definer set search_path = public, pg_temp as $$
begin
  perform 1 from job_queue_fold_state for update;
  delete from job_queue_settled_totals;
  delete from job_queue_settled_hourly;
  return null;
end;
$$;

-- Neither WHEN holds for the queue's own writes (pending/processing rows; completed_at = now()).
create trigger job_queue_settled_change
  after update on public.job_queue
  for each row
  when (old.status in ('completed', 'failed', 'cancelled')
        or (new.status in ('completed', 'failed', 'cancelled') and new.completed_at <= clock_timestamp() - interval '5 seconds'))
  execute function public.track_settled_job_change();

create trigger job_queue_settled_insert
  after insert on public.job_queue
  for each row
  when (new.status in ('completed', 'failed', 'cancelled') and new.completed_at <= clock_timestamp() - interval '5 seconds')
  execute function public.track_settled_job_change();

create trigger job_queue_settled_delete
  after delete on public.job_queue
  referencing old table as deleted_jobs
  for each statement
  execute function public.track_settled_job_delete();

create trigger job_queue_settled_truncate
  after truncate on public.job_queue
  for each statement
  execute function public.clear_settled_totals();

-- Moves the watermark forward (to the candidate an earlier call recorded, once every transaction
-- that had an id then has ended, and by at most p_batch_size rows), adds the rows it passes, and
-- records a new candidate. Returns the rows folded; 0 when another fold holds the state or nothing
-- is safe to fold yet. Call it often (the worker's maintenance does, every 10 s): the live part of
-- queue_health is what lies above the watermark.
create function public.fold_settled_jobs(p_batch_size integer default 100000) returns integer
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_state job_queue_fold_state;
  v_safe boolean;
  v_target timestamptz;
  v_count integer := 0;
begin
  if p_batch_size is null or p_batch_size not between 1 and 1000000 then
    raise exception 'fold_settled_jobs: batch_size must be between 1 and 1000000' using errcode = '22023';
  end if;
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'fold_settled_jobs: needs read committed (each step must see what the last committed)'
      using errcode = '25000';
  end if;
  select * into v_state from job_queue_fold_state for update skip locked;
  if not found then
    return 0;
  end if;
  select v_state.candidate_xmax is not null
         and pg_snapshot_xmin(pg_current_snapshot()) >= v_state.candidate_xmax into v_safe;
  if v_safe then
    -- The p_batch_size-th settled row above the watermark bounds this step (ties come along).
    select least(v_state.candidate_at - interval '5 seconds', (
      select j.completed_at from job_queue j
      where j.status in ('completed', 'failed', 'cancelled') and j.completed_at > v_state.folded_through
      order by j.completed_at offset p_batch_size - 1 limit 1))
    into v_target;
    if v_target > v_state.folded_through then
      with folded as (
        select j.job_type, j.status, j.created_by, count(*) as jobs,
               sum(extract(epoch from (j.completed_at - j.started_at))) as duration_sum,
               count(j.completed_at - j.started_at) as durations,
               min(j.created_at) as oldest, max(j.created_at) as newest
        from job_queue j
        where j.status in ('completed', 'failed', 'cancelled')
          and j.completed_at > v_state.folded_through and j.completed_at <= v_target
        group by j.job_type, j.status, j.created_by
      ), added as (
        select add_settled_totals(f.job_type, f.status, f.created_by, f.jobs, f.duration_sum, f.durations, f.oldest, f.newest), f.jobs
        from folded f order by f.job_type, f.status, f.created_by nulls first
      )
      select coalesce(sum(a.jobs), 0)::integer into v_count from added a;
      insert into job_queue_settled_hourly as h (created_hour, job_type, model_id, status, jobs)
      select date_trunc('hour', j.created_at, 'UTC'), j.job_type, j.payload ->> 'model_id', j.status, count(*)
      from job_queue j
      where j.status in ('completed', 'failed', 'cancelled')
        and j.completed_at > v_state.folded_through and j.completed_at <= v_target
      group by 1, 2, 3, 4
      on conflict (created_hour, job_type, model_id, status) do update set jobs = h.jobs + excluded.jobs;
      update job_queue_fold_state set folded_through = v_target, folded_at = now();
    end if;
    -- A candidate is spent only when the watermark reached it (a batch-limited step keeps it).
    if v_target is null or v_target >= v_state.candidate_at - interval '5 seconds' then
      v_state.candidate_xmax := null;
    end if;
  end if;
  if v_state.candidate_xmax is null then
    -- The clock first, then a new statement's snapshot: every id handed out before that time is below its xmax.
    update job_queue_fold_state set candidate_at = clock_timestamp();
    update job_queue_fold_state set candidate_xmax = pg_snapshot_xmax(pg_current_snapshot());
  end if;
  return v_count;
end;
$$;

revoke execute on function
  public.add_settled_totals(text, text, uuid, bigint, numeric, bigint, timestamptz, timestamptz),
  public.subtract_settled_totals(text, text, uuid, bigint, numeric, bigint, timestamptz, timestamptz, timestamptz),
  public.count_settled_hour(timestamptz, text, text, text, bigint),
  public.track_settled_job_change(), public.track_settled_job_delete(), public.clear_settled_totals(),
  public.fold_settled_jobs(integer)
  from public, anon, authenticated;
grant execute on function public.fold_settled_jobs(integer) to service_role;

-- The watermark, for the view: the planner evaluates a stable function when it estimates, so the
-- live settled rows are planned as the few index entries they are (a subquery's unknown value is
-- guessed at a third of the table: a parallel scan, 5 ms of startup for nothing).
create function public.read_folded_through() returns timestamptz
language sql stable set search_path = public, pg_temp as $$
  select folded_through from job_queue_fold_state;
$$;
revoke execute on function public.read_folded_through() from public, anon;
grant execute on function public.read_folded_through() to authenticated, service_role;

-- The seed's columns, in its order and types; the folded totals plus the live rows.
create or replace view public.queue_health with (security_invoker = true) as
with parts as (
  select j.job_type, j.status, count(*) as jobs,
         sum(extract(epoch from (j.completed_at - j.started_at))) as duration_sum,
         count(j.completed_at - j.started_at) as durations,
         min(j.created_at) as oldest, max(j.created_at) as newest
  from public.job_queue j where j.status = 'pending'
  group by j.job_type, j.status
  union all
  select j.job_type, j.status, count(*), sum(extract(epoch from (j.completed_at - j.started_at))),
         count(j.completed_at - j.started_at), min(j.created_at), max(j.created_at)
  from public.job_queue j where j.status = 'processing'
  group by j.job_type, j.status
  union all
  select j.job_type, j.status, count(*), sum(extract(epoch from (j.completed_at - j.started_at))),
         count(j.completed_at - j.started_at), min(j.created_at), max(j.created_at)
  from public.job_queue j
  where j.status in ('completed', 'failed', 'cancelled')
    and j.completed_at > public.read_folded_through()
  group by j.job_type, j.status
  union all
  select j.job_type, j.status, count(*), sum(extract(epoch from (j.completed_at - j.started_at))),
         count(j.completed_at - j.started_at), min(j.created_at), max(j.created_at)
  from public.job_queue j
  where j.status in ('completed', 'failed', 'cancelled') and j.completed_at is null
  group by j.job_type, j.status
  union all
  select t.job_type, t.status, sum(t.jobs), sum(t.duration_sum), sum(t.durations),
         min(t.oldest_created_at), max(t.newest_created_at)
  from public.job_queue_settled_totals t
  group by t.job_type, t.status
)
select p.job_type, p.status, sum(p.jobs)::bigint as count,
       round(sum(p.duration_sum) / nullif(sum(p.durations), 0), 3) as avg_duration_seconds,
       min(p.oldest) as oldest_created_at, max(p.newest) as newest_created_at
from parts p
group by p.job_type, p.status;

-- The console's job list sorted by attempts (all jobs, 280 ms at 1M: a sort of every row). Nearly
-- every job ends with one attempt, and an index of all of them would take an entry on every claim;
-- this one holds the others (never-claimed and retried jobs), and the list merges it with the
-- primary key's walk of the attempts = 1 rows (console/jobs.ts). A claim of a new job (0 -> 1)
-- leaves it; an enqueue adds one entry.
create index job_queue_sort_attempts_idx on public.job_queue (attempts, id) where attempts <> 1;
