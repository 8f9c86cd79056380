-- 0025 fair share: at equal priority the claim serves the user who has waited longest for a turn, not the oldest job overall (issue 15 part 1).

-- The rule, in DESIGN terms (section 4, Claim):
--   * Every pending job belongs to a lane: its `created_by` (the user of a generation), or the one
--     system lane (created_by null, spelled as the nil uuid below).
--   * Priority still wins: a claim first finds the highest priority among due, claimable jobs
--     (unpaused types, the caller's p_job_types), exactly as before.
--   * Within that priority, lanes take turns (round-robin): the lane served longest ago goes first,
--     and gives its oldest due job at that priority (scheduled_at, then id, as before). Serving a
--     lane moves it to the back of the line. A lane that appears (a user's first queued job, or the
--     first after their lane emptied) has never been served, so it goes to the front: one user's
--     burst of 500 delays another user's first job by at most one free worker slot.
--   * A claim of p_limit > 1 walks the lanes in turn order taking one job per lane; while it still
--     has room it walks again, giving each lane that had work an equal share of the room left (so a
--     batch of 500 from one lane is two statements, not 500 passes). A batch is split evenly.
--   * Lanes whose work is not due (scheduled later, paused type, filtered out, lower priority) are
--     passed over and keep their place: they have not been waiting for a turn.
--
-- Why its cost does not grow with history or with one user's backlog: the claim never walks jobs
-- in age order across users. It reads `job_queue_lanes` (one small row per lane that has pending
-- work) through its turn index, and for each lane it visits it probes that lane's head through
-- `job_queue_lane_claim_idx` (lane, priority desc, scheduled_at, id), partial to pending: an index
-- descent that stops at the first due row, however many jobs the lane holds. A claim costs one
-- probe for the top priority, plus one probe per lane it passes over, plus one per job it takes.
--
-- Concurrency: lane rows are taken FOR UPDATE SKIP LOCKED, so concurrent claimers serve different
-- lanes, and job rows SKIP LOCKED as before. When every lane at the top priority is held by another
-- claimer (e.g. all jobs are system jobs, one lane, and several workers claim at once) the claim
-- falls back to the old order (priority, scheduled_at, id) for what is left: it never idles a worker
-- while due work exists.
--
-- Lane rows appear without races: enqueue (a statement trigger) and every return to pending (a row
-- trigger: retry, backoff, snooze, release, reaper) insert the lane `on conflict do nothing` while
-- holding a shared advisory lock on the lane; a claim that finds a lane empty deletes its row only
-- under the exclusive form of that lock (try-lock, never waiting) after checking again that nothing
-- is pending in it (for any lane a walk finds without claimable work; an emptied lane's row lingers
-- until a walk reaches it, which costs that walk one probe). So a job committed into a lane always has its lane row.

create table public.job_queue_lanes (
  lane       uuid primary key,
  -- From job_queue_lane_turn_seq at each serving; 0 = never served (front of the line).
  served_seq bigint not null default 0,
  created_at timestamptz not null default now()
);

comment on table public.job_queue_lanes is
  'One row per lane (user, or the system lane) with pending jobs: whose turn it is in the fair-share claim.';

create sequence public.job_queue_lane_turn_seq;

create index job_queue_lanes_turn_idx on public.job_queue_lanes (served_seq, lane);

-- Small and rewritten by every claim: vacuum it often.
alter table public.job_queue_lanes set (
  fillfactor = 50,
  autovacuum_vacuum_scale_factor = 0.0,
  autovacuum_vacuum_threshold = 200
);

-- A lane's head job at a given priority, without reading the rest of its backlog.
create index job_queue_lane_claim_idx
  on public.job_queue ((coalesce(created_by, '00000000-0000-0000-0000-000000000000'::uuid)), priority desc, scheduled_at, id)
  where status = 'pending';

alter table public.job_queue_lanes enable row level security;
create policy "Service role has full access" on public.job_queue_lanes
  for all to service_role using (true) with check (true);
revoke all on public.job_queue_lanes from public, anon, authenticated;
grant all on public.job_queue_lanes to service_role;
revoke all on sequence public.job_queue_lane_turn_seq from public, anon, authenticated;
grant usage, select on sequence public.job_queue_lane_turn_seq to service_role;

-- Lanes that already have pending work when this migration runs.
insert into public.job_queue_lanes (lane)
select distinct coalesce(created_by, '00000000-0000-0000-0000-000000000000'::uuid)
from public.job_queue where status = 'pending'
on conflict do nothing;

-- The advisory lock class of lane rows (two-key form: class, hash of the lane).
create function public.job_queue_lane_lock_key() returns integer
language sql immutable parallel safe as $$ select 1515 $$;

-- Enqueue side: make sure the lanes of the given pending jobs exist (shared lock: enqueuers of one
-- lane never wait for each other, only for a claim deleting that lane's row).
create function public.ensure_job_lanes(p_lanes uuid[]) returns void
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_lane uuid;
begin
  -- Sorted, so two enqueues of the same lanes take the locks in one order.
  foreach v_lane in array array(select distinct unnest(p_lanes) order by 1) loop
    perform pg_advisory_xact_lock_shared(job_queue_lane_lock_key(), hashtext(v_lane::text));
  end loop;
  insert into job_queue_lanes (lane) select unnest(p_lanes) order by 1 on conflict do nothing;
end;
$$;

create function public.job_queue_lanes_after_insert() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  v_lanes uuid[];
begin
  select array_agg(distinct coalesce(created_by, '00000000-0000-0000-0000-000000000000'::uuid))
  into v_lanes from new_jobs where status = 'pending';
  if v_lanes is not null then
    perform ensure_job_lanes(v_lanes);
  end if;
  return null;
end;
$$;

create trigger job_queue_lanes_inserted
  after insert on public.job_queue
  referencing new table as new_jobs
  for each statement execute function public.job_queue_lanes_after_insert();

create function public.job_queue_lanes_after_pending() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  perform ensure_job_lanes(array[coalesce(new.created_by, '00000000-0000-0000-0000-000000000000'::uuid)]);
  return null;
end;
$$;

-- Only rows that become pending (the WHEN is checked without calling the function, so claims,
-- heartbeats, progress and completions pay nothing).
create trigger job_queue_lanes_back_to_pending
  after update of status, created_by on public.job_queue
  for each row
  when (new.status = 'pending' and (old.status <> 'pending' or old.created_by is distinct from new.created_by))
  execute function public.job_queue_lanes_after_pending();

revoke execute on function
  public.ensure_job_lanes(uuid[]),
  public.job_queue_lanes_after_insert(),
  public.job_queue_lanes_after_pending(),
  public.job_queue_lane_lock_key()
from public, anon, authenticated;
grant execute on function public.ensure_job_lanes(uuid[]), public.job_queue_lane_lock_key() to service_role;

-- 0002's claim_jobs, same signature, lease, attempt and synchronous_commit rules; the order is the
-- fair-share rule above.
create or replace function public.claim_jobs(
  p_worker_id     text,
  p_limit         integer default 1,
  p_lease_seconds integer default 30,
  p_job_types     text[] default null
) returns setof public.job_queue
language plpgsql volatile set search_path = public, pg_temp
-- As 0002: one generic plan per session, every read an ordered index walk, never a scan or a sort.
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_bitmapscan = off
set enable_sort = off
set enable_incremental_sort = off
as $$
declare
  v_paused text[];
  v_top    integer;
  v_lane   uuid;
  v_count  integer := 0;
  v_n      integer;
  v_yielded integer;
  v_share  integer := 1;
  v_prev_top integer;
  v_lease  interval := make_interval(secs => p_lease_seconds);
begin
  if p_worker_id is null or btrim(p_worker_id) = '' then
    raise exception 'claim_jobs: worker_id must not be empty' using errcode = '22023';
  end if;
  if p_limit is null or p_limit not between 1 and 1000 then
    raise exception 'claim_jobs: limit must be between 1 and 1000' using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds not between 1 and 86400 then
    raise exception 'claim_jobs: lease_seconds must be between 1 and 86400' using errcode = '22023';
  end if;

  select coalesce(array_agg(job_type), '{}') into v_paused from job_queue_paused_types;
  -- See 0002: a claim is a lease, its commit need not wait for the disk flush.
  perform set_config('synchronous_commit', 'off', true);

  <<passes>>
  loop
    -- Priority wins: fairness applies among the jobs of the highest due priority only.
    select j.priority into v_top
    from job_queue j
    where j.status = 'pending'
      and j.scheduled_at <= now()
      and (p_job_types is null or j.job_type = any (p_job_types))
      and j.job_type <> all (v_paused)
    order by j.priority desc, j.scheduled_at, j.id
    limit 1;
    exit passes when v_top is null;
    -- A new priority level starts its round-robin afresh, one job per lane.
    if v_top is distinct from v_prev_top then
      v_share := 1;
      v_prev_top := v_top;
    end if;

    v_yielded := 0;
    -- Lanes in turn order; a lane another claimer holds is skipped (it is being served).
    for v_lane in
      select l.lane from job_queue_lanes l order by l.served_seq, l.lane for update skip locked
    loop
      -- This lane's head (v_share of its oldest due jobs at the top priority), by its own index.
      return query
      with head as (
        select j.id
        from job_queue j
        where coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid) = v_lane
          and j.status = 'pending'
          and j.priority = v_top
          and j.scheduled_at <= now()
          and (p_job_types is null or j.job_type = any (p_job_types))
          and j.job_type <> all (v_paused)
        order by coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid), j.priority desc, j.scheduled_at, j.id
        limit least(v_share, p_limit - v_count)
        for update skip locked
      )
      update job_queue j
      set status = 'processing', attempts = j.attempts + 1, claim_count = j.claim_count + 1,
          started_at = now(), locked_by = p_worker_id, locked_until = now() + v_lease, updated_at = now()
      from head h
      where j.id = h.id
      returning j.*;
      get diagnostics v_n = row_count;

      if v_n > 0 then
        update job_queue_lanes set served_seq = nextval('job_queue_lane_turn_seq') where lane = v_lane;
        v_count := v_count + v_n;
        v_yielded := v_yielded + 1;
      elsif not exists (
        select 1 from job_queue j
        where coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid) = v_lane and j.status = 'pending'
      ) and pg_try_advisory_xact_lock(job_queue_lane_lock_key(), hashtext(v_lane::text)) then
        -- Empty lane: drop its row, unless an enqueue committed into it since the check above
        -- (one still in flight holds the shared lock, so the try-lock failed).
        delete from job_queue_lanes l
        where l.lane = v_lane
          and not exists (
            select 1 from job_queue j
            where coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid) = v_lane and j.status = 'pending');
      end if;
      exit passes when v_count >= p_limit;
    end loop;
    -- A pass that took nothing: the top priority's lanes are all held by other claimers.
    exit passes when v_yielded = 0;
    -- The next pass gives each lane that had work an equal share of the room left, so a batch is
    -- split evenly without one pass (and one lane-row update) per job.
    v_share := ceil((p_limit - v_count)::numeric / v_yielded)::integer;
  end loop;

  if v_top is not null and v_count < p_limit then
    return query
    with candidates as (
      select j.id
      from job_queue j
      where j.status = 'pending'
        and j.scheduled_at <= now()
        and (p_job_types is null or j.job_type = any (p_job_types))
        and j.job_type <> all (v_paused)
      order by j.priority desc, j.scheduled_at, j.id
      limit p_limit - v_count
      for update skip locked
    )
    update job_queue j
    set status = 'processing', attempts = j.attempts + 1, claim_count = j.claim_count + 1,
        started_at = now(), locked_by = p_worker_id, locked_until = now() + v_lease, updated_at = now()
    from candidates c
    where j.id = c.id
    returning j.*;
  end if;
end;
$$;
