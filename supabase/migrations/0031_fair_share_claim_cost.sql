-- 0031 the fair-share claim in fewer statements (issue 15: within 10% of 0002's claim): same order, same guarantees as 0025.

-- What 0025's claim paid for, measured (pg_stat_statements, one claimer): with one lane (all
-- system jobs, the hot path) a top-priority probe, a lane walk and a non-HOT lane-row update per
-- claim on top of the job update, and at 10 concurrent claimers every claimer but the lane's
-- holder walked to an empty result and then ran the old claim as the fallback. With several
-- lanes, a claim of 50 ran one UPDATE per lane visited (35 for 20 lanes), each paying the
-- executor's start-up on job_queue (its indexes and triggers) for one or two rows.
--
-- So, keeping 0025's order exactly (its header is the rule):
--   * One lane with pending work (job_queue_lanes has one row: every pending job has its lane's
--     row, so all pending work is in it). Round-robin over one lane is that lane's own order,
--     priority desc, scheduled_at, id, which is 0002's claim order: 0002's claim takes it, every
--     claimer at once (SKIP LOCKED on jobs), without the lane row's lock. Its turn is marked
--     once, when it has never been served (served_seq 0): a later serving would move it behind
--     nothing (every other lane that appears starts at 0, every later serving draws a larger
--     number), so the order it leads to is the same.
--   * Several lanes: the walk is 0025's, lane by lane under FOR UPDATE SKIP LOCKED. A pass claims
--     its first lane's head at once (so a claim of one is still one job UPDATE); the heads of the
--     lanes after it are only selected and locked during the walk, then claimed in one UPDATE
--     (rows returned in walk order). The lanes it served go to the back in one UPDATE, in walk
--     order (the sequence is drawn in that order, after the sort).
--   * The fallback when every lane at the top priority is held, the empty-lane drop under the
--     advisory try-lock, leases, attempts and synchronous_commit are 0025's, unchanged.
create or replace function public.claim_jobs(
  p_worker_id     text,
  p_limit         integer default 1,
  p_lease_seconds integer default 30,
  p_job_types     text[] default null
) returns setof public.job_queue
language plpgsql volatile set search_path = public, pg_temp
-- As 0002: one generic plan per session, every read of job_queue an ordered index walk.
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_bitmapscan = off
set enable_sort = off
set enable_incremental_sort = off
as $$
declare
  v_paused   text[];
  v_top      integer;
  v_lane     uuid;
  v_lanes    integer;
  v_seq      bigint;
  v_count    integer := 0;
  v_n        integer;
  v_yielded  integer;
  v_share    integer := 1;
  v_prev_top integer;
  v_take     uuid[];
  v_ids      uuid[];
  v_served   uuid[];
  v_fallback boolean;
  v_lease    interval := make_interval(secs => p_lease_seconds);
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

  -- At most two lane rows, through the turn index, unlocked: is there exactly one lane?
  select count(*)::integer, (array_agg(t.lane))[1], (array_agg(t.served_seq))[1]
  into v_lanes, v_lane, v_seq
  from (select l.lane, l.served_seq from job_queue_lanes l order by l.served_seq, l.lane limit 2) t;

  if v_lanes = 1 then
    -- One lane holds all pending work: its order is the plain claim order, so the claim below,
    -- over job_queue_pending_claim_idx, is the fair claim (the lane's own index would give the
    -- same rows with wider keys to read). A lane committed since the read above is served in that
    -- order by this one claim, as 0025's fallback would.
    v_fallback := true;
  else
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
      v_ids := '{}';
      v_served := '{}';
      -- Lanes in turn order; a lane another claimer holds is skipped (it is being served).
      <<walk>>
      for v_lane in
        select l.lane from job_queue_lanes l order by l.served_seq, l.lane for update skip locked
      loop
        -- This lane's head (v_share of its oldest due jobs at the top priority), by its own index.
        if v_yielded = 0 then
          -- The pass's first lane with work is claimed at once (a claim of one is this statement).
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
        else
          -- The others' heads are locked here and claimed after the walk, in one UPDATE.
          v_take := array(
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
            for update skip locked);
          v_n := cardinality(v_take);
          v_ids := v_ids || v_take;
        end if;

        if v_n > 0 then
          v_served := v_served || v_lane;
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
        exit walk when v_count >= p_limit;
      end loop;
      -- A pass that took nothing: the top priority's lanes are all held by other claimers.
      exit passes when v_yielded = 0;

      -- The rest of the pass's jobs, locked above, claimed at once and returned in walk order.
      if cardinality(v_ids) > 0 then
        return query
        with claimed as (
          update job_queue j
          set status = 'processing', attempts = j.attempts + 1, claim_count = j.claim_count + 1,
              started_at = now(), locked_by = p_worker_id, locked_until = now() + v_lease, updated_at = now()
          where j.id = any (v_ids)
          returning j.*
        )
        select c.* from unnest(v_ids) with ordinality as t(id, ord) join claimed c on c.id = t.id order by t.ord;
      end if;
      -- Served lanes to the back, in the order they were served (nextval is evaluated after the sort).
      if v_yielded = 1 then
        update job_queue_lanes set served_seq = nextval('job_queue_lane_turn_seq') where lane = v_served[1];
      else
        update job_queue_lanes l
        set served_seq = s.seq
        from (
          select t.lane, nextval('job_queue_lane_turn_seq') as seq
          from unnest(v_served) with ordinality as t(lane, ord)
          order by t.ord
        ) s
        where l.lane = s.lane;
      end if;

      exit passes when v_count >= p_limit;
      -- The next pass gives each lane that had work an equal share of the room left, so a batch is
      -- split evenly without one pass per job.
      v_share := ceil((p_limit - v_count)::numeric / v_yielded)::integer;
    end loop;
    v_fallback := v_top is not null;
  end if;

  -- The plain claim order: the one lane's, or (several lanes) the fallback for what is left when
  -- every lane at the top priority is held by another claimer.
  if v_fallback and v_count < p_limit then
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
    get diagnostics v_n = row_count;
    if v_lanes = 1 and v_seq = 0 and v_n > 0 then
      -- The one lane's first serving (a concurrent claimer may have marked it already: a no-op then).
      update job_queue_lanes set served_seq = nextval('job_queue_lane_turn_seq') where lane = v_lane and served_seq = 0;
    end if;
  end if;
end;
$$;
