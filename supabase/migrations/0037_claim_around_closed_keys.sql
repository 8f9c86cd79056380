-- 0037 a claim never walks the jobs of a full model (issue 15): the open jobs are read per key from their own index when a closed key's backlog fills the front of the line, so the claim's cost does not grow with that backlog.

-- What 0032 left: a closed key was a filter on the claim's index walks (the top-priority probe, each
-- lane's head, the one-lane claim), so a claim walked past every pending job of a full model that
-- sat ahead of the first open one: with 100,000 such jobs a claim of one took 54 ms (0.5 ms open).
--
-- The order is 0032's exactly (0025's rule, the keys' room); only how the open jobs are found changes,
-- and only while some key with jobs in line is closed (no closed key: the statements are 0032's):
--   * A window of the plain order is read first, unlocked: the first p_limit + 16 due rows (of the
--     lane at the pass's priority, or of the whole line), closed keys' rows included. If it holds
--     enough open rows, or is all there is, those are the answer: when the full models' jobs do not
--     crowd the front of the line this is one short index range, as before.
--   * Otherwise the front is a closed key's backlog, and the open jobs are read around it: the line's
--     distinct pending keys by a skip scan (one index descent per key, job_queue_key_claim_idx), then,
--     for the jobs with no key and for each open key, its first p_limit jobs from its own index
--     (job_queue_key_claim_idx for the whole line, job_queue_lane_key_claim_idx for one lane at one
--     priority), merged in claim order. A closed key costs one descent, however many jobs it holds;
--     the claim costs O(keys) descents, and the keys are the models (a few).
--   * The answer is then locked (FOR UPDATE SKIP LOCKED, re-checking that each row is still pending).
--     A row another claimer holds is skipped and the next ones are read, so concurrent claimers of
--     one lane still each get jobs.
--
-- And the lane walk, whatever the keys, no longer runs on a cursor. A PL/pgSQL FOR loop fetches ten
-- rows at a time, and with FOR UPDATE SKIP LOCKED it locked the first ten lanes at once: a claim of
-- one held ten lanes, so a concurrent claimer found them all held and fell back to the plain order
-- (the oldest job, whoever's). And past the first fetch it read lanes from its opening snapshot: a
-- lane another claim served and committed meanwhile was locked in its old place (its new turn is at
-- the back), and served again, one user's second job ahead of another's first
-- (tests/integration/queue/lane-turn-race.test.ts). The walk now reads the next lane after the last
-- one by its turn index, one row and one lock per step, each step a fresh read: a lane served
-- meanwhile is met at its new place, behind the others.
-- Cost on the hot path: none while nothing is closed; the two indexes are partial to pending rows, so
-- enqueue writes two more index entries (one more than 0032, whose key index this replaces) and a
-- claim's update writes none (measured in bench/queue-gate.ts; docs/queue-position.md).

-- Every pending job by key, then claim order: the distinct keys in line (a skip scan) and each key's
-- head. Jobs with no key are the null group (a claim reads their head with "is null").
create index job_queue_key_claim_idx
  on public.job_queue (concurrency_key, priority desc, scheduled_at, id)
  where status = 'pending';
-- A lane's jobs by key, then claim order: a lane's head among its open keys, past a closed key's backlog.
create index job_queue_lane_key_claim_idx
  on public.job_queue ((coalesce(created_by, '00000000-0000-0000-0000-000000000000'::uuid)), concurrency_key, priority desc, scheduled_at, id)
  where status = 'pending';
-- 0032's "which limited keys have jobs in line" probe reads job_queue_key_claim_idx now.
drop index public.job_queue_pending_key_idx;

-- The keys of the pending jobs, less p_closed: one index descent per distinct key (a skip scan).
create function public.job_queue_pending_keys(p_closed text[]) returns text[]
language sql stable set search_path = public, pg_temp as $$
  with recursive k(key) as (
    (select j.concurrency_key from job_queue j
     where j.status = 'pending' and j.concurrency_key is not null
     order by j.concurrency_key limit 1)
    union all
    select (select j.concurrency_key from job_queue j
            where j.status = 'pending' and j.concurrency_key > k.key
            order by j.concurrency_key limit 1)
    from k where k.key is not null
  )
  select coalesce(array_agg(k.key order by k.key) filter (where k.key is not null and k.key <> all (p_closed)), '{}')
  from k;
$$;

-- The first p_limit open jobs in claim order, unlocked (header): of lane p_lane at priority p_priority
-- in (scheduled_at, id) order, or with p_lane null of the whole line in (priority desc, scheduled_at,
-- id) order. Open: pending, due, of p_job_types (null: any) and not p_paused, key null or not in
-- p_closed, not in p_exclude.
create function public.job_queue_open_candidates(
  p_lane uuid, p_priority integer, p_limit integer, p_job_types text[], p_paused text[], p_closed text[], p_exclude uuid[])
returns uuid[]
language plpgsql stable set search_path = public, pg_temp as $$
declare
  v_window integer := p_limit + 16;
  v_seen   integer;
  v_ids    uuid[];
  v_keys   text[];
begin
  if p_lane is null then
    select count(*)::integer,
           coalesce(array_agg(w.id order by w.priority desc, w.scheduled_at, w.id)
                    filter (where w.concurrency_key is null or w.concurrency_key <> all (p_closed)), '{}')
    into v_seen, v_ids
    from (
      select j.id, j.priority, j.scheduled_at, j.concurrency_key
      from job_queue j
      where j.status = 'pending'
        and j.scheduled_at <= now()
        and (p_job_types is null or j.job_type = any (p_job_types))
        and j.job_type <> all (p_paused)
        and j.id <> all (p_exclude)
      order by j.priority desc, j.scheduled_at, j.id
      limit v_window) w;
  else
    select count(*)::integer,
           coalesce(array_agg(w.id order by w.scheduled_at, w.id)
                    filter (where w.concurrency_key is null or w.concurrency_key <> all (p_closed)), '{}')
    into v_seen, v_ids
    from (
      select j.id, j.scheduled_at, j.concurrency_key
      from job_queue j
      where coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid) = p_lane
        and j.status = 'pending'
        and j.priority = p_priority
        and j.scheduled_at <= now()
        and (p_job_types is null or j.job_type = any (p_job_types))
        and j.job_type <> all (p_paused)
        and j.id <> all (p_exclude)
      order by coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid), j.priority desc, j.scheduled_at, j.id
      limit v_window) w;
  end if;
  if cardinality(v_ids) >= p_limit or v_seen < v_window then
    return v_ids[1:p_limit];
  end if;

  -- The window was a closed key's backlog: read around it, key by key.
  v_keys := job_queue_pending_keys(p_closed);
  if p_lane is null then
    select coalesce(array_agg(m.id order by m.priority desc, m.scheduled_at, m.id), '{}') into v_ids
    from (
      select h.id, h.priority, h.scheduled_at
      from (
        select n.id, n.priority, n.scheduled_at
        from (
          select j.id, j.priority, j.scheduled_at
          from job_queue j
          where j.status = 'pending'
            and j.concurrency_key is null
            and j.scheduled_at <= now()
            and (p_job_types is null or j.job_type = any (p_job_types))
            and j.job_type <> all (p_paused)
            and j.id <> all (p_exclude)
          order by j.concurrency_key, j.priority desc, j.scheduled_at, j.id
          limit p_limit) n
        union all
        select o.id, o.priority, o.scheduled_at
        from unnest(v_keys) as k(key)
        cross join lateral (
          select j.id, j.priority, j.scheduled_at
          from job_queue j
          where j.status = 'pending'
            and j.concurrency_key = k.key
            and j.scheduled_at <= now()
            and (p_job_types is null or j.job_type = any (p_job_types))
            and j.job_type <> all (p_paused)
            and j.id <> all (p_exclude)
          order by j.concurrency_key, j.priority desc, j.scheduled_at, j.id
          limit p_limit) o
      ) h
      order by h.priority desc, h.scheduled_at, h.id
      limit p_limit) m;
  else
    select coalesce(array_agg(m.id order by m.scheduled_at, m.id), '{}') into v_ids
    from (
      select h.id, h.scheduled_at
      from (
        select n.id, n.scheduled_at
        from (
          select j.id, j.scheduled_at
          from job_queue j
          where coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid) = p_lane
            and j.status = 'pending'
            and j.concurrency_key is null
            and j.priority = p_priority
            and j.scheduled_at <= now()
            and (p_job_types is null or j.job_type = any (p_job_types))
            and j.job_type <> all (p_paused)
            and j.id <> all (p_exclude)
          order by coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid), j.concurrency_key,
                   j.priority desc, j.scheduled_at, j.id
          limit p_limit) n
        union all
        select o.id, o.scheduled_at
        from unnest(v_keys) as k(key)
        cross join lateral (
          select j.id, j.scheduled_at
          from job_queue j
          where coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid) = p_lane
            and j.status = 'pending'
            and j.concurrency_key = k.key
            and j.priority = p_priority
            and j.scheduled_at <= now()
            and (p_job_types is null or j.job_type = any (p_job_types))
            and j.job_type <> all (p_paused)
            and j.id <> all (p_exclude)
          order by coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid), j.concurrency_key,
                   j.priority desc, j.scheduled_at, j.id
          limit p_limit) o
      ) h
      order by h.scheduled_at, h.id
      limit p_limit) m;
  end if;
  return v_ids;
end;
$$;

-- job_queue_open_candidates' jobs, locked (SKIP LOCKED, still pending), with their keys, in claim
-- order. A candidate another claimer holds (or has claimed since it was read) is passed over and the
-- ones after it read, until enough are locked or none are left: every round passes over at least one
-- more row, so it ends, and a claimer racing others for the same lane's head still gets jobs.
create function public.job_queue_take_open(
  p_lane uuid, p_priority integer, p_limit integer, p_job_types text[], p_paused text[], p_closed text[], p_exclude uuid[],
  out p_ids uuid[], out p_keys text[])
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_want  uuid[];
  v_ids   uuid[];
  v_keys  text[];
  v_skip  uuid[] := p_exclude;
begin
  p_ids := '{}';
  p_keys := '{}';
  loop
    v_want := job_queue_open_candidates(p_lane, p_priority, p_limit - cardinality(p_ids), p_job_types, p_paused, p_closed, v_skip);
    exit when cardinality(v_want) = 0;
    select coalesce(array_agg(t.id order by t.ord), '{}'), coalesce(array_agg(t.concurrency_key order by t.ord), '{}')
    into v_ids, v_keys
    from (
      select j.id, j.concurrency_key, w.ord
      from unnest(v_want) with ordinality as w(id, ord)
      join job_queue j on j.id = w.id
      where j.status = 'pending'
      for update of j skip locked) t;
    p_ids := p_ids || v_ids;
    p_keys := p_keys || v_keys;
    exit when cardinality(p_ids) >= p_limit or cardinality(v_ids) = cardinality(v_want);
    v_skip := v_skip || v_want;
  end loop;
end;
$$;

-- 0032's claim, the same order and guarantees; while a key with jobs in line is closed, its reads of
-- the line go through job_queue_open_candidates / job_queue_take_open (header) instead of filtering
-- the closed keys out of one index walk.
create or replace function public.claim_jobs(
  p_worker_id     text,
  p_limit         integer default 1,
  p_lease_seconds integer default 30,
  p_job_types     text[] default null
) returns setof public.job_queue
language plpgsql volatile set search_path = public, pg_temp
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_bitmapscan = off
set enable_sort = off
set enable_incremental_sort = off
as $$
declare
  v_paused    text[];
  v_closed    text[];
  v_room_keys text[];
  v_rooms     integer[];
  v_locked    text[] := '{}';
  v_budgeted  boolean;
  v_top       integer;
  v_lane      uuid;
  v_lane_seq  bigint;
  v_sync      text;
  v_keyed     boolean;
  v_lanes     integer;
  v_seq       bigint;
  v_count     integer := 0;
  v_n         integer;
  v_yielded   integer;
  v_share     integer := 1;
  v_prev_top  integer;
  v_take      uuid[];
  v_keys      text[];
  v_keep      uuid[];
  v_ids       uuid[];
  v_served    uuid[];
  v_fallback  boolean;
  v_lease     interval := make_interval(secs => p_lease_seconds);
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

  -- What the claim reads once, in one statement (each statement of a function has its own start-up
  -- cost, and the one-lane claim of one is little more than these): synchronous_commit off for this
  -- transaction (as 0002: a claim lost in a crash is reclaimed when its lease runs out), the paused
  -- types, whether any job in line has a key, and whether more than one lane has work. The probe for
  -- keys is scalar and ordered by the key, a descent of job_queue_key_claim_idx (a filter on the
  -- claim order's index would walk every job without a key: the hot path).
  select set_config('synchronous_commit', 'off', true),
         coalesce((select array_agg(p.job_type) from job_queue_paused_types p), '{}'),
         (select j.concurrency_key from job_queue j where j.status = 'pending' and j.concurrency_key is not null
          order by j.concurrency_key limit 1) is not null,
         t.lanes, t.first_lane, t.first_seq
  into v_sync, v_paused, v_keyed, v_lanes, v_lane, v_seq
  from (
    select count(*)::integer as lanes, (array_agg(f.lane))[1] as first_lane, (array_agg(f.served_seq))[1] as first_seq
    from (select l.lane, l.served_seq from job_queue_lanes l order by l.served_seq, l.lane limit 2) f
  ) t;
  v_closed := '{}';
  v_room_keys := '{}';
  v_rooms := '{}';
  if v_keyed then
    -- Each limited key's room: its free slots less its claimed jobs still in flight to one, for the
    -- keys with jobs in line (scalar probes again: an EXISTS is planned as a join over every keyed job).
    select coalesce(array_agg(k.concurrency_key) filter (where k.room <= 0), '{}'),
           coalesce(array_agg(k.concurrency_key) filter (where k.room > 0), '{}'),
           coalesce(array_agg(k.room) filter (where k.room > 0), '{}')
    into v_closed, v_room_keys, v_rooms
    from (
      select l.concurrency_key,
             l.free_slots - (select count(*)::integer from job_queue j
                             where j.status = 'processing' and j.concurrency_key = l.concurrency_key) as room
      from job_queue_concurrency_limits l
      where (select j.concurrency_key from job_queue j where j.status = 'pending' and j.concurrency_key = l.concurrency_key
             order by j.concurrency_key limit 1) is not null
    ) k;
  end if;
  v_budgeted := cardinality(v_room_keys) > 0;

  if v_lanes = 1 then
    v_fallback := true;
  else
    <<passes>>
    loop
      if cardinality(v_closed) = 0 then
        select j.priority into v_top
        from job_queue j
        where j.status = 'pending'
          and j.scheduled_at <= now()
          and (p_job_types is null or j.job_type = any (p_job_types))
          and j.job_type <> all (v_paused)
        order by j.priority desc, j.scheduled_at, j.id
        limit 1;
      else
        -- The first open job's priority, read around any closed key's backlog (header).
        select j.priority into v_top
        from job_queue j
        where j.id = (job_queue_open_candidates(null, null, 1, p_job_types, v_paused, v_closed, '{}'))[1];
      end if;
      exit passes when v_top is null;
      if v_top is distinct from v_prev_top then
        v_share := 1;
        v_prev_top := v_top;
      end if;

      v_yielded := 0;
      v_ids := '{}';
      v_served := '{}';
      -- One lane at a time, each read afresh after the last (header: no cursor locking ten ahead).
      v_lane := null;
      <<walk>>
      loop
        if v_lane is null then
          select l.lane, l.served_seq into v_lane, v_lane_seq
          from job_queue_lanes l
          order by l.served_seq, l.lane
          limit 1
          for update skip locked;
        else
          select l.lane, l.served_seq into v_lane, v_lane_seq
          from job_queue_lanes l
          where (l.served_seq, l.lane) > (v_lane_seq, v_lane)
          order by l.served_seq, l.lane
          limit 1
          for update skip locked;
        end if;
        exit walk when v_lane is null;
        if v_yielded = 0 and not v_budgeted and cardinality(v_closed) = 0 then
          -- 0031: the pass's first lane with work is claimed at once (a claim of one is this statement).
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
          -- The lane's head is locked here and claimed after the walk. Trimmed to the keys' room: a
          -- job past it is left (its key is closed now) and the lane's next jobs are looked at instead.
          v_n := 0;
          loop
            if cardinality(v_closed) = 0 then
              select coalesce(array_agg(h.id order by h.scheduled_at, h.id), '{}'),
                     coalesce(array_agg(h.concurrency_key order by h.scheduled_at, h.id), '{}')
              into v_take, v_keys
              from (
                select j.id, j.scheduled_at, j.concurrency_key
                from job_queue j
                where coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid) = v_lane
                  and j.status = 'pending'
                  and j.priority = v_top
                  and j.scheduled_at <= now()
                  and (p_job_types is null or j.job_type = any (p_job_types))
                  and j.job_type <> all (v_paused)
                  and j.id <> all (v_ids)
                order by coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid), j.priority desc, j.scheduled_at, j.id
                limit least(v_share, p_limit - v_count) - v_n
                for update skip locked) h;
            else
              select t.p_ids, t.p_keys into v_take, v_keys
              from job_queue_take_open(v_lane, v_top, least(v_share, p_limit - v_count) - v_n,
                                       p_job_types, v_paused, v_closed, v_ids) t;
            end if;
            if not v_budgeted then
              v_ids := v_ids || v_take;
              v_n := v_n + cardinality(v_take);
              exit;
            end if;
            select w.p_room_keys, w.p_rooms, w.p_closed, w.p_locked, w.p_kept into v_room_keys, v_rooms, v_closed, v_locked, v_keep
            from job_queue_within_room(v_take, v_keys, v_room_keys, v_rooms, v_closed, v_locked) w;
            v_ids := v_ids || v_keep;
            v_n := v_n + cardinality(v_keep);
            exit when cardinality(v_keep) = cardinality(v_take);
          end loop;
        end if;

        if v_n > 0 then
          v_served := v_served || v_lane;
          v_count := v_count + v_n;
          v_yielded := v_yielded + 1;
        elsif not exists (
          select 1 from job_queue j
          where coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid) = v_lane and j.status = 'pending'
        ) and pg_try_advisory_xact_lock(job_queue_lane_lock_key(), hashtext(v_lane::text)) then
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
      v_share := ceil((p_limit - v_count)::numeric / v_yielded)::integer;
    end loop;
    v_fallback := v_top is not null;
  end if;

  if v_fallback and v_count < p_limit then
    if not v_budgeted and cardinality(v_closed) = 0 then
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
    else
      -- Locked in claim order, trimmed to the room, claimed; again past any key that ran out (or, with
      -- no room to count, past the closed keys).
      v_n := 0;
      loop
        if cardinality(v_closed) = 0 then
          select coalesce(array_agg(c.id order by c.priority desc, c.scheduled_at, c.id), '{}'),
                 coalesce(array_agg(c.concurrency_key order by c.priority desc, c.scheduled_at, c.id), '{}')
          into v_take, v_keys
          from (
            select j.id, j.priority, j.scheduled_at, j.concurrency_key
            from job_queue j
            where j.status = 'pending'
              and j.scheduled_at <= now()
              and (p_job_types is null or j.job_type = any (p_job_types))
              and j.job_type <> all (v_paused)
            order by j.priority desc, j.scheduled_at, j.id
            limit p_limit - v_count
            for update skip locked) c;
        else
          select t.p_ids, t.p_keys into v_take, v_keys
          from job_queue_take_open(null, null, p_limit - v_count, p_job_types, v_paused, v_closed, '{}') t;
        end if;
        exit when cardinality(v_take) = 0;
        if v_budgeted then
          select w.p_room_keys, w.p_rooms, w.p_closed, w.p_locked, w.p_kept into v_room_keys, v_rooms, v_closed, v_locked, v_keep
          from job_queue_within_room(v_take, v_keys, v_room_keys, v_rooms, v_closed, v_locked) w;
        else
          v_keep := v_take;
        end if;
        if cardinality(v_keep) > 0 then
          return query
          with claimed as (
            update job_queue j
            set status = 'processing', attempts = j.attempts + 1, claim_count = j.claim_count + 1,
                started_at = now(), locked_by = p_worker_id, locked_until = now() + v_lease, updated_at = now()
            where j.id = any (v_keep)
            returning j.*
          )
          select c.* from unnest(v_keep) with ordinality as t(id, ord) join claimed c on c.id = t.id order by t.ord;
          v_n := v_n + cardinality(v_keep);
          v_count := v_count + cardinality(v_keep);
        end if;
        exit when cardinality(v_keep) = cardinality(v_take) or v_count >= p_limit;
      end loop;
    end if;
    if v_lanes = 1 and v_seq = 0 and v_n > 0 then
      update job_queue_lanes set served_seq = nextval('job_queue_lane_turn_seq') where lane = v_lane and served_seq = 0;
    end if;
  end if;
end;
$$;


revoke execute on function
  public.job_queue_pending_keys(text[]),
  public.job_queue_open_candidates(uuid, integer, integer, text[], text[], text[], uuid[]),
  public.job_queue_take_open(uuid, integer, integer, text[], text[], text[], uuid[])
  from public, anon, authenticated;
grant execute on function
  public.job_queue_pending_keys(text[]),
  public.job_queue_open_candidates(uuid, integer, integer, text[], text[], text[], uuid[]),
  public.job_queue_take_open(uuid, integer, integer, text[], text[], text[], uuid[])
  to service_role;
