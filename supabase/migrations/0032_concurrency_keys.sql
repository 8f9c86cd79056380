-- 0032 claims skip jobs whose model is full (issue 15): a job may carry a concurrency key, and a claim takes no more jobs of a key than the key has room for, so a job of a full model keeps its place in line and a freed slot is used at once.

-- What went wrong before: a generate-image job was claimed whatever its model ran; admit_generation
-- (0017) found the model at max_concurrency, and the handler snoozed the job 2 s, behind every job
-- queued meanwhile. With a limit of 1 and 4 worker slots the jobs at places 2-4 were claimed, found
-- busy and pushed back, over and over (the place shown stepped back), and a freed slot sat idle up
-- to the snooze.
--
-- The queue stays generic (DESIGN 4, "Claim"):
--   * job_queue.concurrency_key (nullable): the job needs a slot of that key before it can run.
--   * job_queue_concurrency_limits (key, free_slots): keys with a limit and how many of their slots
--     are free. A key with no row has no limit. Whoever owns the slots writes free_slots, through
--     set_concurrency_limit(), in the transactions that take and free them.
--   * The claim reads the room of every limited key once per claim, as it reads the paused types:
--     room = free_slots - jobs of the key it has claimed that still hold their key (claimed, not yet
--     admitted). A key with no room is closed: its jobs are passed over (they keep their place: the
--     order is unchanged, they are only not taken yet). A key with room r gives at most r jobs to one
--     claim; the claim's passes go on past them to other keys' jobs.
--   * A job that has taken its slot gives up its key (take_concurrency_slot): it is claimable
--     whatever the key's room (a Replicate prediction still running holds its slot while its job is
--     snoozed for polling; its job must come back, or the model deadlocks).
--
-- The generation domain (models.max_concurrency, the processing generations):
--   * A generate-image job is enqueued with its model's id as its key (a trigger on insert, so
--     start_generation, start_generation_group and any other insert agree). It gets the key back
--     whenever it returns to line needing a slot again: the same transitions in which 0017's
--     sync_generation_with_job puts its generation back to queued (a retry after a failure, a
--     reaped lease, an operator's retry or reset). A snooze or a release (attempt refunded) keeps
--     what it had.
--   * free_slots = max_concurrency - processing generations, recomputed under 0016's per-model
--     advisory lock by a trigger whenever a generation enters or leaves processing (admission,
--     completion, failure, cancel, reap, delete) and when the console changes max_concurrency or
--     enabled. A disabled model has no limit row: its jobs are claimed and fail as unavailable.
--   * admit_generation locks the generation row before the model lock (the order a cancel takes
--     them), so the trigger adds no new lock cycle. When it admits, the job gives up its key in the
--     same transaction (room is unchanged: a free slot becomes a held one, an in-flight claim ends).
--   * Claimers race (a worker's pool runs several claims at once): the first time a claim is about to
--     take a job of a limited key it locks the key's row and reads its room afresh, so a claim that
--     took the last slot meanwhile is counted (job_queue_within_room). What remains (the limit lowered
--     while jobs are in flight to a slot) is decided by admission under the model lock, and 'busy'
--     now hands the job back with release_jobs (0029: attempt refunded, scheduled_at unchanged, so it
--     keeps its place; the key is closed by then) instead of snoozing it behind everyone.
--
-- Cost: with no job of a limited key in line the claim is 0031's plus a probe per limited key.
-- Closed keys are a filter on the same index walk, so a claim walks past the pending jobs of closed
-- keys that sit ahead of the first open job (measured in bench/queue-gate.ts; docs/queue-position.md).

alter table public.job_queue add column concurrency_key text;
alter table public.job_queue add constraint concurrency_key_length
  check (concurrency_key is null or length(concurrency_key) between 1 and 200);

-- The claim counts, per limited key, the claimed jobs that still hold their key (in flight to a slot).
create index job_queue_claimed_key_idx on public.job_queue (concurrency_key)
  where status = 'processing' and concurrency_key is not null;
-- And asks which limited keys have jobs in line at all (most claims: none, then it is 0031's claim).
create index job_queue_pending_key_idx on public.job_queue (concurrency_key)
  where status = 'pending' and concurrency_key is not null;

create table public.job_queue_concurrency_limits (
  concurrency_key text primary key,
  free_slots      integer not null,
  updated_at      timestamptz not null default now(),
  constraint concurrency_key_not_empty check (length(concurrency_key) between 1 and 200),
  constraint free_slots_not_negative check (free_slots >= 0)
);

alter table public.job_queue_concurrency_limits enable row level security;
create policy "Service role has full access" on public.job_queue_concurrency_limits
  for all to service_role using (true) with check (true);
revoke all on public.job_queue_concurrency_limits from public, anon, authenticated;
grant all on public.job_queue_concurrency_limits to service_role;

-- Sets how many of a key's slots are free (null: the key has no limit). Written by the slots' owner
-- in the transaction that takes or frees one; unchanged values are not rewritten (the row is hot).
create function public.set_concurrency_limit(p_key text, p_free_slots integer) returns void
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  if p_key is null or length(p_key) not between 1 and 200 then
    raise exception 'set_concurrency_limit: key must be 1 to 200 characters' using errcode = '22023';
  end if;
  if p_free_slots is null then
    delete from job_queue_concurrency_limits where concurrency_key = p_key;
    return;
  end if;
  if p_free_slots < 0 then
    raise exception 'set_concurrency_limit: free_slots must not be negative' using errcode = '22023';
  end if;
  insert into job_queue_concurrency_limits (concurrency_key, free_slots) values (p_key, p_free_slots)
  on conflict (concurrency_key) do update set free_slots = excluded.free_slots, updated_at = now()
  where job_queue_concurrency_limits.free_slots <> excluded.free_slots;
end;
$$;

-- The job has taken its key's slot (under its live claim): from now on it is claimable whatever its
-- key's room, until it returns to line needing a slot again. True when the claim was the live one.
create function public.take_concurrency_slot(p_job_id uuid, p_worker_id text, p_claim_count integer) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  update job_queue set concurrency_key = null
  where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count
    and concurrency_key is not null;
  return found or exists (
    select 1 from job_queue
    where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count);
end;
$$;

-- Keeps, of jobs locked in claim order, those their keys have room for, counting the room down; a key
-- whose room runs out joins the closed keys. Jobs without a key, or whose key has no limit, are kept.
-- Claimers race for a key's last slots (a worker's pool claims several times at once), so the first
-- time a claim is about to take a job of a limited key it locks that key's row and reads its room
-- afresh: a claim that took one of its jobs meanwhile has committed by then and is counted. Only the
-- claim's first key is waited for; a later one held by another claimer counts as closed (no claim
-- waits while it holds a key, so claims cannot deadlock on keys).
create function public.job_queue_within_room(
  p_ids uuid[], p_keys text[], inout p_room_keys text[], inout p_rooms integer[], inout p_closed text[],
  inout p_locked text[], out p_kept uuid[])
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  i       integer;
  k       integer;
  v_key   text;
  v_room  integer;
begin
  p_kept := '{}';
  for i in 1 .. coalesce(cardinality(p_ids), 0) loop
    v_key := p_keys[i];
    k := case when v_key is not null then array_position(p_room_keys, v_key) end;
    if k is not null and v_key <> all (p_locked) then
      if cardinality(p_locked) = 0 then
        perform 1 from job_queue_concurrency_limits where concurrency_key = v_key for update;
      else
        perform 1 from job_queue_concurrency_limits where concurrency_key = v_key for update skip locked;
      end if;
      if found then
        -- A new statement, so a new snapshot: it sees what the claims it waited for took.
        select l.free_slots - (select count(*)::integer from job_queue j
                               where j.status = 'processing' and j.concurrency_key = l.concurrency_key)
        into v_room
        from job_queue_concurrency_limits l where l.concurrency_key = v_key;
        p_rooms[k] := greatest(v_room, 0);
      else
        p_rooms[k] := 0; -- held by another claimer (or its limit is being changed): closed for this claim
      end if;
      p_locked := p_locked || v_key;
      if p_rooms[k] = 0 then
        p_closed := p_closed || v_key;
      end if;
    end if;
    if k is null then
      p_kept := p_kept || p_ids[i];
    elsif p_rooms[k] > 0 then
      p_kept := p_kept || p_ids[i];
      p_rooms[k] := p_rooms[k] - 1;
      if p_rooms[k] = 0 then
        p_closed := p_closed || v_key;
      end if;
    end if;
  end loop;
end;
$$;

-- 0031's claim, same order, same guarantees, same planner settings, plus the keys' room (header). With
-- no key that has room but a limit (the common case: nothing limited, or every limited key closed)
-- the statements are 0031's with one more filter. Otherwise every take is locked first, trimmed to
-- the room, then claimed; rows locked and not taken stay pending and are released at commit.
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

  select coalesce(array_agg(job_type), '{}') into v_paused from job_queue_paused_types;
  -- Each limited key's room, once per claim: its free slots less its claimed jobs still in flight to
  -- one. Only keys with jobs in line matter (a probe of a small partial index each): with none, the
  -- claim is 0031's.
  select coalesce(array_agg(r.concurrency_key) filter (where r.room <= 0), '{}'),
         coalesce(array_agg(r.concurrency_key) filter (where r.room > 0), '{}'),
         coalesce(array_agg(r.room) filter (where r.room > 0), '{}')
  into v_closed, v_room_keys, v_rooms
  from (
    select l.concurrency_key,
           l.free_slots - (select count(*)::integer from job_queue j
                           where j.status = 'processing' and j.concurrency_key = l.concurrency_key) as room
    from job_queue_concurrency_limits l
    where exists (select 1 from job_queue j where j.status = 'pending' and j.concurrency_key = l.concurrency_key)
  ) r;
  v_budgeted := cardinality(v_room_keys) > 0;
  perform set_config('synchronous_commit', 'off', true);

  select count(*)::integer, (array_agg(t.lane))[1], (array_agg(t.served_seq))[1]
  into v_lanes, v_lane, v_seq
  from (select l.lane, l.served_seq from job_queue_lanes l order by l.served_seq, l.lane limit 2) t;

  if v_lanes = 1 then
    v_fallback := true;
  else
    <<passes>>
    loop
      select j.priority into v_top
      from job_queue j
      where j.status = 'pending'
        and j.scheduled_at <= now()
        and (p_job_types is null or j.job_type = any (p_job_types))
        and j.job_type <> all (v_paused)
        and (j.concurrency_key is null or j.concurrency_key <> all (v_closed))
      order by j.priority desc, j.scheduled_at, j.id
      limit 1;
      exit passes when v_top is null;
      if v_top is distinct from v_prev_top then
        v_share := 1;
        v_prev_top := v_top;
      end if;

      v_yielded := 0;
      v_ids := '{}';
      v_served := '{}';
      <<walk>>
      for v_lane in
        select l.lane from job_queue_lanes l order by l.served_seq, l.lane for update skip locked
      loop
        if v_yielded = 0 and not v_budgeted then
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
              and (j.concurrency_key is null or j.concurrency_key <> all (v_closed))
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
                and (j.concurrency_key is null or j.concurrency_key <> all (v_closed))
                and j.id <> all (v_ids)
              order by coalesce(j.created_by, '00000000-0000-0000-0000-000000000000'::uuid), j.priority desc, j.scheduled_at, j.id
              limit least(v_share, p_limit - v_count) - v_n
              for update skip locked) h;
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
    if not v_budgeted then
      return query
      with candidates as (
        select j.id
        from job_queue j
        where j.status = 'pending'
          and j.scheduled_at <= now()
          and (p_job_types is null or j.job_type = any (p_job_types))
          and j.job_type <> all (v_paused)
          and (j.concurrency_key is null or j.concurrency_key <> all (v_closed))
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
      -- Locked in claim order, trimmed to the room, claimed; again past any key that ran out.
      v_n := 0;
      loop
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
            and (j.concurrency_key is null or j.concurrency_key <> all (v_closed))
          order by j.priority desc, j.scheduled_at, j.id
          limit p_limit - v_count
          for update skip locked) c;
        exit when cardinality(v_take) = 0;
        select w.p_room_keys, w.p_rooms, w.p_closed, w.p_locked, w.p_kept into v_room_keys, v_rooms, v_closed, v_locked, v_keep
        from job_queue_within_room(v_take, v_keys, v_room_keys, v_rooms, v_closed, v_locked) w;
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

-- The generation domain's side: a model's free slots, written under 0016's per-model lock.
create function public.refresh_model_slots(p_model_id text) returns void
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_model   models;
  v_running integer;
begin
  perform pg_advisory_xact_lock(hashtextextended('model-slots:' || p_model_id, 0));
  select * into v_model from models where id = p_model_id;
  if not found or not v_model.enabled then
    -- No limit: its jobs are claimed and end as unavailable instead of waiting for ever.
    perform set_concurrency_limit(p_model_id, null);
    return;
  end if;
  select count(*)::integer into v_running from image_generations where model_id = p_model_id and status = 'processing';
  perform set_concurrency_limit(p_model_id, greatest(coalesce(v_model.max_concurrency, 1) - v_running, 0));
end;
$$;

-- A generation entering or leaving processing takes or frees its model's slot, in the same transaction.
-- Security definer, as 0020's delete trigger: an account's deletion cascades here as GoTrue's role.
create function public.image_generations_refresh_slots() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  if tg_op = 'DELETE' then
    perform public.refresh_model_slots(old.model_id);
  else
    perform public.refresh_model_slots(new.model_id);
    if tg_op = 'UPDATE' and old.model_id is distinct from new.model_id then
      perform public.refresh_model_slots(old.model_id);
    end if;
  end if;
  return null;
end;
$$;

create trigger image_generations_refresh_slots_on_status
  after update of status, model_id on public.image_generations
  for each row
  when ((old.status = 'processing') is distinct from (new.status = 'processing')
        or (new.status = 'processing' and old.model_id is distinct from new.model_id))
  execute function public.image_generations_refresh_slots();

create trigger image_generations_refresh_slots_on_insert
  after insert on public.image_generations
  for each row when (new.status = 'processing')
  execute function public.image_generations_refresh_slots();

create trigger image_generations_refresh_slots_on_delete
  after delete on public.image_generations
  for each row when (old.status = 'processing')
  execute function public.image_generations_refresh_slots();

-- The console's change of a model's limit (or its enabling) opens or closes its key at once.
create function public.models_refresh_slots() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  if tg_op = 'DELETE' then
    perform public.set_concurrency_limit(old.id, null);
  else
    perform public.refresh_model_slots(new.id);
  end if;
  return null;
end;
$$;

create trigger models_refresh_slots_on_change
  after update of max_concurrency, enabled on public.models
  for each row when (old.max_concurrency is distinct from new.max_concurrency or old.enabled is distinct from new.enabled)
  execute function public.models_refresh_slots();

create trigger models_refresh_slots_on_insert
  after insert on public.models
  for each row execute function public.models_refresh_slots();

create trigger models_refresh_slots_on_delete
  after delete on public.models
  for each row execute function public.models_refresh_slots();

-- A generate-image job needs a slot of its model: its key is the model's id, from its payload (so
-- every way of enqueueing one agrees), and comes back whenever the job returns to line needing a slot
-- again: 0017's sync_generation_with_job puts the generation back to queued in exactly these
-- transitions (a failed try with attempts left, a reaped lease, an operator's retry or reset). A snooze
-- or a release refunds the attempt and keeps what the job had (its slot, or its key).
create function public.job_queue_generation_key() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    new.concurrency_key := coalesce(new.concurrency_key, left(nullif(new.payload ->> 'model_id', ''), 200));
  elsif old.status in ('failed', 'cancelled') or (old.status = 'processing' and new.attempts >= old.attempts) then
    new.concurrency_key := left(nullif(new.payload ->> 'model_id', ''), 200);
  end if;
  return new;
end;
$$;

create trigger job_queue_generation_key_on_insert
  before insert on public.job_queue
  for each row when (new.job_type = 'generate-image')
  execute function public.job_queue_generation_key();

create trigger job_queue_generation_key_on_return
  before update of status on public.job_queue
  for each row
  when (new.job_type = 'generate-image' and new.status = 'pending' and old.status is distinct from 'pending')
  execute function public.job_queue_generation_key();

-- 0017's admission, same signature and answers. The generation row is locked before the model lock
-- (a cancel and the slots trigger take them in that order). Admitted: the job gives up its key in the
-- same transaction. Busy (two claimers raced for the last slot): the job goes back to line with its
-- attempt refunded and its scheduled_at unchanged (release_jobs), so it keeps its place; the key is
-- closed by then (free_slots is 0), so no claimer takes it again until a slot frees.
create or replace function public.admit_generation(p_generation_id uuid, p_job_id uuid, p_worker_id text, p_claim_count integer)
returns text
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_generation image_generations;
  v_limit      integer;
  v_running    integer;
begin
  if not generation_run_holds(p_job_id, p_worker_id, p_claim_count) then
    return 'lost';
  end if;
  select * into v_generation from image_generations where id = p_generation_id for update;
  if not found or v_generation.status not in ('queued', 'processing') then
    return 'lost';
  end if;
  if v_generation.status = 'processing' then
    -- Resumed after a snooze: it holds its slot (and gave up its key when it was admitted).
    perform take_concurrency_slot(p_job_id, p_worker_id, p_claim_count);
    return 'admitted';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('model-slots:' || v_generation.model_id, 0));
  select max_concurrency into v_limit from models where id = v_generation.model_id;
  select count(*) into v_running from image_generations
  where model_id = v_generation.model_id and status = 'processing';
  if v_running >= coalesce(v_limit, 1) then
    perform refresh_model_slots(v_generation.model_id);
    perform release_jobs(array[p_job_id], p_worker_id, array[p_claim_count]);
    return 'busy';
  end if;
  update image_generations
  set status = 'processing', started_at = coalesce(started_at, now()), run_started_at = now(), retry_at = null,
      queue_paused = false, failure_class = null
  where id = p_generation_id and status = 'queued';
  if not found then
    return 'lost';
  end if;
  perform take_concurrency_slot(p_job_id, p_worker_id, p_claim_count);
  return 'admitted';
end;
$$;

-- What is in line now: generate-image jobs that need a slot carry their key; those whose generation
-- holds one (a snoozed prediction) do not.
update public.job_queue j
set concurrency_key = left(nullif(j.payload ->> 'model_id', ''), 200)
where j.job_type = 'generate-image'
  and j.status in ('pending', 'processing')
  and not exists (select 1 from public.image_generations g where g.job_id = j.id and g.status = 'processing');

select public.refresh_model_slots(m.id) from public.models m;

revoke execute on function
  public.set_concurrency_limit(text, integer),
  public.take_concurrency_slot(uuid, text, integer),
  public.job_queue_within_room(uuid[], text[], text[], integer[], text[], text[]),
  public.claim_jobs(text, integer, integer, text[]),
  public.refresh_model_slots(text),
  public.image_generations_refresh_slots(),
  public.models_refresh_slots(),
  public.job_queue_generation_key(),
  public.admit_generation(uuid, uuid, text, integer)
  from public, anon, authenticated;
grant execute on function
  public.set_concurrency_limit(text, integer),
  public.take_concurrency_slot(uuid, text, integer),
  public.job_queue_within_room(uuid[], text[], text[], integer[], text[], text[]),
  public.claim_jobs(text, integer, integer, text[]),
  public.refresh_model_slots(text),
  public.admit_generation(uuid, uuid, text, integer)
  to service_role;
