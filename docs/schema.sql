-- The schema the migrations make (generated: see tests/integration/database/schema-snapshot.test.ts). Do not edit by hand.

CREATE SCHEMA app_private;

CREATE SCHEMA public;

COMMENT ON SCHEMA public IS 'standard public schema';

CREATE TYPE public.claimed_job AS (
	id uuid,
	job_type text,
	payload jsonb,
	status text,
	attempts integer,
	max_attempts integer,
	scheduled_at timestamp with time zone,
	started_at timestamp with time zone,
	completed_at timestamp with time zone,
	error_message text,
	error_details jsonb,
	created_by uuid,
	priority integer,
	created_at timestamp with time zone,
	updated_at timestamp with time zone,
	locked_by text,
	locked_until timestamp with time zone,
	dedupe_key text,
	claim_count integer,
	attempt_log jsonb,
	concurrency_key text
);

COMMENT ON TYPE public.claimed_job IS 'A job as claim_jobs returns it: job_queue''s columns, without the table''s constraints (0043).';

CREATE FUNCTION app_private.create_session(p_user_id uuid, p_ttl interval, p_user_agent text DEFAULT NULL::text) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO 'app_private', 'pg_temp'
    AS $$
declare
  v_id uuid;
begin
  if p_ttl is null or p_ttl <= interval '0' or p_ttl > interval '90 days' then
    raise exception 'create_session: ttl must be between 0 and 90 days' using errcode = '22023';
  end if;
  -- A little housekeeping per sign-in keeps the table to live sessions without a scheduler.
  delete from sessions where id in (select id from sessions where expires_at < now() limit 100);
  insert into sessions (user_id, expires_at, user_agent)
  values (p_user_id, now() + p_ttl, left(p_user_agent, 300))
  returning id into v_id;
  return v_id;
end;
$$;

CREATE FUNCTION app_private.end_session(p_session_id uuid) RETURNS boolean
    LANGUAGE sql
    SET search_path TO 'app_private', 'pg_temp'
    AS $$
  with gone as (delete from sessions where id = p_session_id returning 1)
  select exists (select 1 from gone);
$$;

CREATE FUNCTION app_private.end_user_sessions(p_user_id uuid, p_keep uuid DEFAULT NULL::uuid) RETURNS integer
    LANGUAGE sql
    SET search_path TO 'app_private', 'pg_temp'
    AS $$
  with gone as (
    delete from sessions where user_id = p_user_id and (p_keep is null or id <> p_keep) returning 1
  )
  select count(*)::integer from gone;
$$;

CREATE FUNCTION app_private.reserve_sign_in_attempt(p_email text, p_max integer, p_window interval) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'app_private', 'pg_temp'
    AS $$
declare
  v_count  integer;
  v_oldest timestamptz;
begin
  if p_max is null or p_max < 1 or p_window is null or p_window <= interval '0' then
    raise exception 'reserve_sign_in_attempt: max must be positive and window longer than 0' using errcode = '22023';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('picture.sign_in:' || lower(p_email), 0));
  select count(*), min(failed_at) into v_count, v_oldest
  from sign_in_failures
  where lower(email) = lower(p_email) and failed_at > now() - p_window;
  if v_count >= p_max then
    return greatest(1, ceil(extract(epoch from (v_oldest + p_window - now()))))::integer;
  end if;
  insert into sign_in_failures (email) values (lower(p_email));
  return null;
end;
$$;

CREATE FUNCTION app_private.resolve_session(p_session_id uuid) RETURNS TABLE(user_id uuid, email text, app_metadata jsonb)
    LANGUAGE plpgsql
    SET search_path TO 'app_private', 'pg_temp'
    AS $$
begin
  update sessions s set last_seen_at = now()
  where s.id = p_session_id and s.expires_at > now() and s.last_seen_at < now() - interval '1 minute';
  return query
  select s.user_id, u.email::text, coalesce(u.raw_app_meta_data, '{}'::jsonb)
  from sessions s join auth.users u on u.id = s.user_id
  where s.id = p_session_id and s.expires_at > now();
end;
$$;

CREATE FUNCTION public.add_settled_totals(p_job_type text, p_status text, p_created_by uuid, p_jobs bigint, p_duration_sum numeric, p_durations bigint, p_oldest timestamp with time zone, p_newest timestamp with time zone) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.admit_generation(p_generation_id uuid, p_job_id uuid, p_worker_id text, p_claim_count integer) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.append_attempt_log(p_log jsonb, p_entry jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
  select case when jsonb_array_length(v_log) > 25 then jsonb_path_query_array(v_log, '$[last - 24 to last]') else v_log end
  from (select coalesce(p_log, '[]'::jsonb) || jsonb_build_array(p_entry) as v_log) as appended;
$_$;

CREATE FUNCTION public.cancel_all_pending_jobs(p_as_of timestamp with time zone DEFAULT now(), p_include_processing boolean DEFAULT false, p_max_rows integer DEFAULT NULL::integer, p_reason text DEFAULT NULL::text) RETURNS TABLE(cancelled integer, matched integer)
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_ids uuid[];
begin
  if p_as_of is null then
    raise exception 'cancel_all_pending_jobs: as_of must not be null' using errcode = '22023';
  end if;
  if p_max_rows is not null and p_max_rows < 0 then
    raise exception 'cancel_all_pending_jobs: max_rows must not be negative' using errcode = '22023';
  end if;

  -- Lock the matching rows first: the count and the update then see the same set. Claimers skip
  -- locked rows, so they carry on with anything newer meanwhile. One status per statement, so each
  -- reads its partial index instead of the whole table.
  select coalesce(array_agg(s.id), '{}') into v_ids
  from (select j.id from job_queue j where j.status = 'pending' and j.created_at <= p_as_of for update) s;
  if coalesce(p_include_processing, false) then
    select v_ids || coalesce(array_agg(s.id), '{}') into v_ids
    from (select j.id from job_queue j where j.status = 'processing' and j.created_at <= p_as_of for update) s;
  end if;

  matched := cardinality(v_ids);
  if p_max_rows is not null and matched > p_max_rows then
    cancelled := 0;
    return next;
    return;
  end if;

  update job_queue j
  set status = 'cancelled', completed_at = now(), locked_by = null, locked_until = null,
      error_message = coalesce(p_reason, j.error_message), updated_at = now()
  where j.id = any (v_ids);
  get diagnostics cancelled = row_count;
  return next;
end;
$$;

CREATE TABLE public.image_generations (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    prompt text NOT NULL,
    negative_prompt text,
    model_id text NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    seed bigint NOT NULL,
    params jsonb DEFAULT '{}'::jsonb NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    progress integer DEFAULT 0 NOT NULL,
    job_id uuid,
    prediction_id text,
    image_path text,
    thumbnail_path text,
    image_content_type text,
    image_bytes integer,
    predict_time_seconds numeric(10,3),
    error_message text,
    idempotency_key text,
    history jsonb DEFAULT '[]'::jsonb NOT NULL,
    event_seq bigint DEFAULT 1 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    failure_class text,
    retry_at timestamp with time zone,
    attempts_used integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    run_started_at timestamp with time zone,
    queue_paused boolean DEFAULT false NOT NULL,
    cost_usd numeric(14,6),
    cost_estimate_usd numeric(14,6),
    group_id uuid,
    group_position smallint,
    CONSTRAINT completed_has_image CHECK (((status <> 'completed'::text) OR (image_path IS NOT NULL))),
    CONSTRAINT cost_estimate_not_negative CHECK (((cost_estimate_usd IS NULL) OR (cost_estimate_usd >= (0)::numeric))),
    CONSTRAINT cost_usd_not_negative CHECK (((cost_usd IS NULL) OR (cost_usd >= (0)::numeric))),
    CONSTRAINT failure_class_valid CHECK (((failure_class IS NULL) OR (failure_class = ANY (ARRAY['storage'::text, 'input'::text, 'safety'::text, 'provider'::text, 'model'::text, 'timeout'::text, 'worker_lost'::text, 'unavailable'::text, 'cancelled_by_operator'::text, 'internal'::text])))),
    CONSTRAINT group_position_in_range CHECK (((group_position IS NULL) OR ((group_position >= 0) AND (group_position <= 15)))),
    CONSTRAINT idempotency_key_length CHECK (((idempotency_key IS NULL) OR ((char_length(idempotency_key) >= 1) AND (char_length(idempotency_key) <= 255)))),
    CONSTRAINT negative_prompt_length CHECK (((negative_prompt IS NULL) OR (char_length(negative_prompt) <= 2000))),
    CONSTRAINT progress_in_range CHECK (((progress >= 0) AND (progress <= 100))),
    CONSTRAINT prompt_length CHECK (((char_length(btrim(prompt)) >= 1) AND (char_length(btrim(prompt)) <= 2000))),
    CONSTRAINT seed_not_negative CHECK ((seed >= 0)),
    CONSTRAINT size_positive CHECK ((((width >= 64) AND (width <= 4096)) AND ((height >= 64) AND (height <= 4096)))),
    CONSTRAINT status_valid CHECK ((status = ANY (ARRAY['queued'::text, 'processing'::text, 'completed'::text, 'failed'::text, 'cancelled'::text])))
)
WITH (fillfactor='85', autovacuum_vacuum_scale_factor='0.05');

CREATE FUNCTION public.cancel_generation(p_generation_id uuid, p_user_id uuid) RETURNS SETOF public.image_generations
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_row image_generations;
begin
  update image_generations set status = 'cancelled', completed_at = now(), error_message = null
  where id = p_generation_id and user_id = p_user_id and status in ('queued', 'processing')
  returning * into v_row;
  if found then
    if v_row.job_id is not null then
      perform cancel_job(v_row.job_id, 'cancelled by the user');
    end if;
    return next v_row;
    return;
  end if;
  return query select * from image_generations where id = p_generation_id and user_id = p_user_id;
end;
$$;

CREATE FUNCTION public.cancel_generation_group(p_group_id uuid, p_user_id uuid) RETURNS SETOF public.image_generations
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_member uuid;
begin
  if not exists (select 1 from generation_groups where id = p_group_id and user_id = p_user_id) then
    return;
  end if;
  for v_member in
    select id from image_generations
    where group_id = p_group_id and user_id = p_user_id and status in ('queued', 'processing')
    order by group_position
  loop
    perform cancel_generation(v_member, p_user_id);
  end loop;
  return query select * from image_generations where group_id = p_group_id and user_id = p_user_id order by group_position;
end;
$$;

CREATE FUNCTION public.cancel_job(p_job_id uuid, p_reason text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE sql
    SET search_path TO 'public', 'pg_temp'
    AS $$
  select exists (select 1 from cancel_jobs(array[p_job_id], p_reason));
$$;

CREATE FUNCTION public.cancel_job_of_deleted_generation() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  if old.job_id is not null and old.status in ('queued', 'processing') then
    perform public.cancel_job(old.job_id, 'its generation was deleted');
  end if;
  return null;
end;
$$;

CREATE FUNCTION public.cancel_jobs(p_job_ids uuid[], p_reason text DEFAULT NULL::text) RETURNS SETOF uuid
    LANGUAGE sql
    SET search_path TO 'public', 'pg_temp'
    AS $$
  update job_queue
  set status = 'cancelled', completed_at = now(), locked_by = null, locked_until = null,
      error_message = coalesce(p_reason, error_message),
      attempt_log = case when status = 'processing' then append_attempt_log(attempt_log, jsonb_build_object(
        'kind', 'attempt', 'attempt', attempts, 'claim', claim_count, 'worker', locked_by,
        'started_at', started_at, 'ended_at', now(), 'outcome', 'cancelled',
        'error', left(coalesce(p_reason, 'cancelled while running'), 2000), 'details', null,
        'permanent', false, 'counted', true, 'next', null, 'retry_at', null))
        else attempt_log end,
      updated_at = now()
  where id = any (p_job_ids) and status in ('pending', 'processing')
  returning id;
$$;

CREATE FUNCTION public.cap_error_details(p_details jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select case
    when p_details is null then null
    when octet_length(p_details::text) <= 4000 then p_details
    else jsonb_build_object('truncated', true, 'excerpt', left(p_details::text, 4000)) end;
$$;

CREATE FUNCTION public.claim_jobs(p_worker_id text, p_limit integer DEFAULT 1, p_lease_seconds integer DEFAULT 30, p_job_types text[] DEFAULT NULL::text[]) RETURNS SETOF public.claimed_job
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    SET enable_sort TO 'off'
    SET enable_incremental_sort TO 'off'
    AS $$
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

CREATE FUNCTION public.claim_maintenance_run(p_task text, p_every interval) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_claimed boolean;
begin
  if p_every is null or p_every < interval '0' then
    raise exception 'claim_maintenance_run: every must not be negative' using errcode = '22023';
  end if;
  insert into queue_maintenance (task) values (p_task) on conflict (task) do nothing;
  update queue_maintenance set last_run_at = now()
  where task = p_task and last_run_at <= now() - p_every
  returning true into v_claimed;
  return coalesce(v_claimed, false);
end;
$$;

CREATE TABLE public.job_queue (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    job_type text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    scheduled_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    error_message text,
    error_details jsonb,
    created_by uuid,
    priority integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    locked_by text,
    locked_until timestamp with time zone,
    dedupe_key text,
    claim_count integer DEFAULT 0 NOT NULL,
    attempt_log jsonb DEFAULT '[]'::jsonb NOT NULL,
    concurrency_key text,
    CONSTRAINT attempts_not_negative CHECK ((attempts >= 0)),
    CONSTRAINT claim_count_not_negative CHECK ((claim_count >= 0)),
    CONSTRAINT concurrency_key_length CHECK (((concurrency_key IS NULL) OR ((length(concurrency_key) >= 1) AND (length(concurrency_key) <= 200)))),
    CONSTRAINT dedupe_key_not_empty CHECK (((dedupe_key IS NULL) OR ((length(dedupe_key) >= 1) AND (length(dedupe_key) <= 512)))),
    CONSTRAINT job_type_not_empty CHECK (((length(btrim(job_type)) >= 1) AND (length(btrim(job_type)) <= 128))),
    CONSTRAINT lease_only_while_processing CHECK (((status = 'processing'::text) OR ((locked_by IS NULL) AND (locked_until IS NULL)))),
    CONSTRAINT max_attempts_positive CHECK (((max_attempts >= 1) AND (max_attempts <= 100))),
    CONSTRAINT payload_is_object CHECK ((jsonb_typeof(payload) = 'object'::text)),
    CONSTRAINT priority_in_range CHECK (((priority >= '-1000'::integer) AND (priority <= 1000))),
    CONSTRAINT status_valid CHECK ((status = ANY (ARRAY['pending'::text, 'processing'::text, 'completed'::text, 'failed'::text, 'cancelled'::text])))
)
WITH (fillfactor='80', autovacuum_vacuum_threshold='1000', autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_insert_threshold='1000', autovacuum_vacuum_insert_scale_factor='0.05', autovacuum_analyze_threshold='1000', autovacuum_analyze_scale_factor='0.02', autovacuum_vacuum_cost_delay='0', autovacuum_vacuum_cost_limit='2000');

COMMENT ON TABLE public.job_queue IS 'Background jobs: claimed with SKIP LOCKED under a lease, retried with backoff.';

COMMENT ON COLUMN public.job_queue.attempt_log IS 'Tries that ended without success and operator retries, oldest first, the last 25 (0018).';

CREATE FUNCTION public.claim_next_job(p_worker_id text DEFAULT NULL::text, p_lease_seconds integer DEFAULT 30, p_job_types text[] DEFAULT NULL::text[]) RETURNS SETOF public.job_queue
    LANGUAGE sql
    SET search_path TO 'public', 'pg_temp'
    AS $$
  select * from claim_jobs(coalesce(p_worker_id, 'session-' || pg_backend_pid()), 1, p_lease_seconds, p_job_types);
$$;

CREATE FUNCTION public.clear_settled_totals() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  perform 1 from job_queue_fold_state for update;
  delete from job_queue_settled_totals;
  delete from job_queue_settled_hourly;
  return null;
end;
$$;

CREATE FUNCTION public.clear_usage_hours() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  truncate public.generation_usage_hours;
  return null;
end;
$$;

CREATE FUNCTION public.complete_generation(p_generation_id uuid, p_job_id uuid, p_worker_id text, p_claim_count integer, p_image_path text, p_thumbnail_path text, p_content_type text, p_image_bytes integer, p_predict_seconds numeric, p_prediction_id text, p_price_per_second numeric DEFAULT NULL::numeric) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  perform 1 from job_queue
  where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count
  for update;
  if not found then
    return false;
  end if;
  update image_generations g
  set status = 'completed', progress = 100, completed_at = now(), image_path = p_image_path,
      thumbnail_path = p_thumbnail_path, image_content_type = p_content_type, image_bytes = p_image_bytes,
      predict_time_seconds = p_predict_seconds, prediction_id = coalesce(p_prediction_id, g.prediction_id),
      error_message = null,
      cost_usd = round(p_predict_seconds * coalesce(p_price_per_second,
                                                    (select m.cost_per_second from models m where m.id = g.model_id)), 6)
  where g.id = p_generation_id and g.job_id = p_job_id and g.status = 'processing';
  return found;
end;
$$;

CREATE FUNCTION public.complete_job(p_job_id uuid, p_success boolean, p_error_message text DEFAULT NULL::text, p_error_details jsonb DEFAULT NULL::jsonb, p_worker_id text DEFAULT NULL::text, p_claim_count integer DEFAULT NULL::integer, p_permanent boolean DEFAULT false, p_retry_after_seconds numeric DEFAULT NULL::numeric) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_job     job_queue;
  v_final   boolean;
  v_retry   timestamptz;
  v_message text := coalesce(p_error_message, 'job failed without a message');
begin
  if p_success is null then
    raise exception 'complete_job: success must be true or false' using errcode = '22023';
  end if;

  if p_success then
    update job_queue j
    set status = 'completed', completed_at = now(), locked_by = null, locked_until = null, updated_at = now()
    where j.id = p_job_id
      and j.status = 'processing'
      and (p_worker_id is null or j.locked_by = p_worker_id)
      and (p_claim_count is null or j.claim_count = p_claim_count);
    return found;
  end if;

  select * into v_job from job_queue j
  where j.id = p_job_id
    and j.status = 'processing'
    and (p_worker_id is null or j.locked_by = p_worker_id)
    and (p_claim_count is null or j.claim_count = p_claim_count)
  for update;
  if not found then
    return false;
  end if;

  v_final := coalesce(p_permanent, false) or v_job.attempts >= v_job.max_attempts;
  v_retry := case
    when v_final then null
    when p_retry_after_seconds is not null then now() + make_interval(secs => greatest(p_retry_after_seconds, 0))
    else now() + compute_backoff(v_job.attempts) end;

  update job_queue j
  set status = case when v_final then 'failed' else 'pending' end,
      completed_at = case when v_final then now() end,
      scheduled_at = coalesce(v_retry, j.scheduled_at),
      error_message = v_message,
      error_details = p_error_details,
      attempt_log = append_attempt_log(j.attempt_log, jsonb_build_object(
        'kind', 'attempt', 'attempt', j.attempts, 'claim', j.claim_count, 'worker', j.locked_by,
        'started_at', j.started_at, 'ended_at', now(), 'outcome', 'error',
        'error', left(v_message, 2000), 'details', cap_error_details(p_error_details),
        'permanent', coalesce(p_permanent, false), 'counted', true,
        'next', case when v_final then 'failed' else 'retry' end, 'retry_at', v_retry)),
      locked_by = null,
      locked_until = null,
      updated_at = now()
  where j.id = p_job_id;
  return true;
end;
$$;

CREATE FUNCTION public.complete_jobs(p_job_ids uuid[], p_worker_id text, p_claim_counts integer[] DEFAULT NULL::integer[]) RETURNS SETOF uuid
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_seqscan TO 'off'
    SET enable_bitmapscan TO 'off'
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    AS $$
begin
  return query
  update job_queue j
  set status = 'completed', completed_at = now(), locked_by = null, locked_until = null, updated_at = now()
  from unnest(p_job_ids, coalesce(p_claim_counts, array_fill(null::integer, array[cardinality(p_job_ids)])))
       as t(id, claim_count)
  where j.id = t.id
    and j.locked_by = p_worker_id
    and (t.claim_count is null or j.claim_count = t.claim_count)
  returning j.id;
end;
$$;

CREATE FUNCTION public.compute_backoff(p_attempts integer) RETURNS interval
    LANGUAGE sql PARALLEL SAFE
    AS $$
  select make_interval(secs =>
    least(3600, 5 * power(2, greatest(p_attempts, 1) - 1)) * (0.8 + random() * 0.4));
$$;

CREATE FUNCTION public.count_settled_hour(p_created_at timestamp with time zone, p_job_type text, p_model_id text, p_status text, p_jobs bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.count_usage_hour() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
declare
  v_hour timestamptz := public.usage_hour(new.created_at);
begin
  -- No start now or later reads an hour this old (readers go back 25 hours).
  if v_hour < public.usage_hour(now() - interval '2 days') then
    return null;
  end if;
  update public.generation_usage_hours set uses = uses + 1
  where user_id = new.user_id and hour = v_hour;
  if not found then
    -- A user's first use of an hour: drop their hours no one reads any more, then open this one.
    delete from public.generation_usage_hours
    where user_id = new.user_id and hour < public.usage_hour(now() - interval '2 days');
    insert into public.generation_usage_hours (user_id, hour, uses) values (new.user_id, v_hour, 1)
    on conflict (user_id, hour) do update set uses = public.generation_usage_hours.uses + 1;
  end if;
  return null;
end;
$$;

CREATE FUNCTION public.default_user_limits(OUT hourly integer, OUT daily integer) RETURNS record
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  hourly := 20;
  daily := 100;
end;
$$;

CREATE FUNCTION public.enqueue_job(p_job_type text, p_payload jsonb DEFAULT '{}'::jsonb, p_priority integer DEFAULT 0, p_scheduled_at timestamp with time zone DEFAULT now(), p_max_attempts integer DEFAULT 3, p_dedupe_key text DEFAULT NULL::text, p_created_by uuid DEFAULT NULL::uuid) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_id uuid;
begin
  if p_job_type is null or btrim(p_job_type) = '' then
    raise exception 'enqueue_job: job_type must not be empty' using errcode = '22023';
  end if;
  if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
    raise exception 'enqueue_job: payload must be a JSON object, not %', coalesce(jsonb_typeof(p_payload), 'null')
      using errcode = '22023';
  end if;
  if p_max_attempts is null or p_max_attempts < 1 or p_max_attempts > 100 then
    raise exception 'enqueue_job: max_attempts must be between 1 and 100, not %', coalesce(p_max_attempts::text, 'null')
      using errcode = '22023';
  end if;
  if p_priority is null or p_priority not between -1000 and 1000 then
    raise exception 'enqueue_job: priority must be between -1000 and 1000, not %', coalesce(p_priority::text, 'null')
      using errcode = '22023';
  end if;

  if p_dedupe_key is null then
    insert into job_queue (job_type, payload, priority, scheduled_at, max_attempts, created_by)
    values (p_job_type, p_payload, p_priority, coalesce(p_scheduled_at, now()), p_max_attempts,
            coalesce(p_created_by, auth.uid()))
    returning id into v_id;
    return v_id;
  end if;

  -- A live job with this key wins; if it finishes between our insert and our read, try again.
  loop
    insert into job_queue (job_type, payload, priority, scheduled_at, max_attempts, created_by, dedupe_key)
    values (p_job_type, p_payload, p_priority, coalesce(p_scheduled_at, now()), p_max_attempts,
            coalesce(p_created_by, auth.uid()), p_dedupe_key)
    on conflict (dedupe_key) where dedupe_key is not null and status in ('pending', 'processing')
    do nothing
    returning id into v_id;
    if v_id is not null then
      return v_id;
    end if;

    select id into v_id
    from job_queue
    where dedupe_key = p_dedupe_key and status in ('pending', 'processing');
    if v_id is not null then
      return v_id;
    end if;
  end loop;
end;
$$;

CREATE FUNCTION public.ensure_image_bucket(p_bucket text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $_$
declare
  v_owners  text := p_bucket || ': owners read their own images';
  v_service text := p_bucket || ': service role has full access';
begin
  if p_bucket is null or p_bucket !~ '^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$' then
    raise exception 'ensure_image_bucket: % is not a bucket name (3-63 of a-z 0-9 . _ -)', p_bucket using errcode = '22023';
  end if;
  if to_regclass('storage.buckets') is null or to_regclass('storage.objects') is null then
    return false;
  end if;
  insert into storage.buckets (id, name) values (p_bucket, p_bucket) on conflict (id) do nothing;
  begin
    if not exists (select from pg_policies where schemaname = 'storage' and tablename = 'objects' and policyname = v_owners) then
      execute format('create policy %I on storage.objects for select to authenticated '
                     'using (bucket_id = %L and (storage.foldername(name))[1] = (select auth.uid()::text))', v_owners, p_bucket);
    end if;
    if not exists (select from pg_policies where schemaname = 'storage' and tablename = 'objects' and policyname = v_service) then
      execute format('create policy %I on storage.objects for all to service_role '
                     'using (bucket_id = %L) with check (bucket_id = %L)', v_service, p_bucket, p_bucket);
    end if;
  exception when insufficient_privilege then
    raise warning 'Picture: not allowed to create policies on storage.objects for bucket % (%)', p_bucket, sqlerrm;
    return false;
  end;
  return true;
end;
$_$;

CREATE FUNCTION public.ensure_job_lanes(p_lanes uuid[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.fold_settled_jobs(p_batch_size integer DEFAULT 100000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.generation_cost_estimate(p_model_id text, p_price numeric) RETURNS numeric
    LANGUAGE plpgsql STABLE
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  return (
  with recent as (
    select g.predict_time_seconds, g.cost_usd from image_generations g
    where g.model_id = p_model_id and g.status = 'completed' and g.completed_at is not null
    order by g.completed_at desc limit 50
  )
  select round(coalesce(
    p_price * coalesce((select percentile_cont(0.5) within group (order by predict_time_seconds) from recent)::numeric, 10),
    (select percentile_cont(0.5) within group (order by cost_usd) from recent)::numeric,
    0), 6));
end;
$$;

CREATE FUNCTION public.generation_run_holds(p_job_id uuid, p_worker_id text, p_claim_count integer) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  return exists (
    select 1 from job_queue
    where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count);
end;
$$;

CREATE FUNCTION public.get_user_limits(p_user_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  return (
  with limits as (
    select coalesce(l.hourly_limit, d.hourly) as hourly_limit, coalesce(l.daily_limit, d.daily) as daily_limit,
           l.daily_budget_usd, l.monthly_budget_usd
    from default_user_limits() d
    left join user_limits l on l.user_id = p_user_id
  ), usage as (
    select count(*) filter (where u.created_at > now() - interval '1 hour') as hourly_used,
           count(*) as daily_used,
           min(u.created_at) filter (where u.created_at > now() - interval '1 hour') as oldest_in_hour,
           min(u.created_at) as oldest_in_day
    from generation_usage u
    where u.user_id = p_user_id and u.created_at > now() - interval '1 day' and u.refunded_at is null
  ), periods as (
    select date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' as day_start,
           date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' as month_start
  ), spend as (
    select coalesce(sum(c.amount) filter (where g.created_at >= p.day_start), 0) as daily_spent,
           coalesce(sum(c.amount), 0) as monthly_spent
    from periods p
    join image_generations g on g.user_id = p_user_id and g.created_at >= p.month_start
    cross join lateral (select coalesce(g.cost_usd,
      case when g.status in ('queued', 'processing') then g.cost_estimate_usd end, 0) as amount) c
  ), state as (
    select l.*, u.*, s.*, p.*,
           p.day_start + interval '1 day' as daily_resets_at,
           p.month_start + interval '1 month' as monthly_resets_at,
           l.daily_budget_usd is not null and s.daily_spent >= l.daily_budget_usd as daily_budget_out,
           l.monthly_budget_usd is not null and s.monthly_spent >= l.monthly_budget_usd as monthly_budget_out
    from limits l, usage u, periods p, spend s
  )
  select jsonb_build_object(
    'can_generate', hourly_used < hourly_limit and daily_used < daily_limit and not daily_budget_out and not monthly_budget_out,
    'daily_limit', daily_limit,
    'daily_used', daily_used,
    'hourly_limit', hourly_limit,
    'hourly_used', hourly_used,
    -- When the next slot frees up, for Retry-After; null for a blocked account (a limit of 0 never frees up).
    'retry_after_seconds', case
      when daily_limit = 0 or hourly_limit = 0 then null
      -- A budget frees up only when its period ends: the latest of the ones that ran out.
      when monthly_budget_out then greatest(1, ceil(extract(epoch from (monthly_resets_at - now()))))::integer
      when daily_budget_out then greatest(1, ceil(extract(epoch from (daily_resets_at - now()))))::integer
      -- Bounded by the window: a concurrent start may have committed with a later now() than ours.
      when daily_used >= daily_limit then
        least(86400, greatest(1, ceil(extract(epoch from (oldest_in_day + interval '1 day' - now())))))::integer
      when hourly_used >= hourly_limit then
        least(3600, greatest(1, ceil(extract(epoch from (oldest_in_hour + interval '1 hour' - now())))))::integer
      end,
    'blocked', daily_limit = 0 or hourly_limit = 0,
    'budget_exhausted', case when monthly_budget_out then 'monthly' when daily_budget_out then 'daily' end,
    'daily_budget_usd', daily_budget_usd,
    'daily_spent_usd', round(daily_spent, 4),
    'daily_remaining_usd', case when daily_budget_usd is not null then greatest(0, round(daily_budget_usd - daily_spent, 4)) end,
    'daily_budget_resets_at', daily_resets_at,
    'monthly_budget_usd', monthly_budget_usd,
    'monthly_spent_usd', round(monthly_spent, 4),
    'monthly_remaining_usd', case when monthly_budget_usd is not null then greatest(0, round(monthly_budget_usd - monthly_spent, 4)) end,
    'monthly_budget_resets_at', monthly_resets_at)
  from state
  -- Callers with claims (RLS-scoped sessions) see only their own limits.
  where auth.uid() is null or auth.uid() = p_user_id);
end;
$$;

CREATE FUNCTION public.heartbeat_job(p_job_id uuid, p_worker_id text, p_lease_seconds integer DEFAULT 30, p_claim_count integer DEFAULT NULL::integer) RETURNS boolean
    LANGUAGE sql
    SET search_path TO 'public', 'pg_temp'
    AS $$
  select exists (select 1 from heartbeat_jobs(array[p_job_id], p_worker_id, p_lease_seconds, array[p_claim_count]));
$$;

CREATE FUNCTION public.heartbeat_jobs(p_job_ids uuid[], p_worker_id text, p_lease_seconds integer DEFAULT 30, p_claim_counts integer[] DEFAULT NULL::integer[]) RETURNS SETOF uuid
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  -- A null or non-positive lease would leave a running job the reaper can never return.
  if p_lease_seconds is null or p_lease_seconds not between 1 and 86400 then
    raise exception 'heartbeat_jobs: lease_seconds must be between 1 and 86400' using errcode = '22023';
  end if;
  if p_claim_counts is not null and cardinality(p_claim_counts) <> cardinality(p_job_ids) then
    raise exception 'heartbeat_jobs: one claim count per job id' using errcode = '22023';
  end if;
  return query
  update job_queue j
  set locked_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
  from unnest(p_job_ids, coalesce(p_claim_counts, array_fill(null::integer, array[cardinality(p_job_ids)])))
       as t(id, claim_count)
  where j.id = t.id and j.status = 'processing' and j.locked_by = p_worker_id
    and (t.claim_count is null or j.claim_count = t.claim_count)
  returning j.id;
end;
$$;

CREATE FUNCTION public.image_generations_refresh_slots() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.job_queue_generation_key() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  if tg_op = 'INSERT' then
    new.concurrency_key := coalesce(new.concurrency_key, left(nullif(new.payload ->> 'model_id', ''), 200));
  elsif old.status in ('failed', 'cancelled') or (old.status = 'processing' and new.attempts >= old.attempts) then
    new.concurrency_key := left(nullif(new.payload ->> 'model_id', ''), 200);
  end if;
  return new;
end;
$$;

CREATE FUNCTION public.job_queue_lane_lock_key() RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ select 1515 $$;

CREATE FUNCTION public.job_queue_lanes_after_pending() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_lane uuid := coalesce(new.created_by, '00000000-0000-0000-0000-000000000000'::uuid);
begin
  if current_setting('transaction_isolation') = 'read committed' then
    insert into job_queue_lanes (lane)
    select v_lane from pg_advisory_xact_lock_shared(job_queue_lane_lock_key(), hashtext(v_lane::text))
    on conflict do nothing;
    return null;
  end if;
  -- Under repeatable read and serializable, a conflict with a lane row our snapshot cannot see (a
  -- claim dropped it and an enqueue put it back since) is a serialization failure, not a no-op. That
  -- row is there and stays (we hold the lane's shared lock), which is all this needs. The lock is
  -- taken before the block, so undoing the block's subtransaction cannot release it.
  perform pg_advisory_xact_lock_shared(job_queue_lane_lock_key(), hashtext(v_lane::text));
  begin
    insert into job_queue_lanes (lane) values (v_lane) on conflict do nothing;
  exception when serialization_failure then
    null;
  end;
  return null;
end;
$$;

CREATE FUNCTION public.job_queue_open_candidates(p_lane uuid, p_priority integer, p_limit integer, p_job_types text[], p_paused text[], p_closed text[], p_exclude uuid[]) RETURNS uuid[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.job_queue_pending_keys(p_closed text[]) RETURNS text[]
    LANGUAGE sql STABLE
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.job_queue_settle_manual_update() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.job_queue_take_open(p_lane uuid, p_priority integer, p_limit integer, p_job_types text[], p_paused text[], p_closed text[], p_exclude uuid[], OUT p_ids uuid[], OUT p_keys text[]) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.job_queue_within_room(p_ids uuid[], p_keys text[], INOUT p_room_keys text[], INOUT p_rooms integer[], INOUT p_closed text[], INOUT p_locked text[], OUT p_kept uuid[]) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.mark_generations_paused() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  if tg_op = 'INSERT' and new.job_type = 'generate-image' then
    update public.image_generations set queue_paused = true where status = 'queued' and not queue_paused;
  elsif tg_op = 'DELETE' and old.job_type = 'generate-image' then
    update public.image_generations set queue_paused = false where queue_paused;
  end if;
  return null;
end;
$$;

CREATE FUNCTION public.may_start_generation(p_user_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_hourly_limit   integer;
  v_daily_limit    integer;
  v_has_budget     boolean;
  v_hourly_used    bigint;
  v_daily_used     bigint;
begin
  select coalesce(l.hourly_limit, d.hourly), coalesce(l.daily_limit, d.daily),
         l.daily_budget_usd is not null or l.monthly_budget_usd is not null
    into v_hourly_limit, v_daily_limit, v_has_budget
  from default_user_limits() d
  left join user_limits l on l.user_id = p_user_id;
  -- Money is get_user_limits' rule alone (one definition of what has been spent).
  if v_has_budget then
    return coalesce((get_user_limits(p_user_id) ->> 'can_generate')::boolean, false);
  end if;
  -- The upper bound: every hour that overlaps the window, whole. Under both limits, so are the uses.
  select coalesce(sum(h.uses) filter (where h.hour >= usage_hour(now() - interval '1 hour')), 0),
         coalesce(sum(h.uses), 0)
    into v_hourly_used, v_daily_used
  from generation_usage_hours h
  where h.user_id = p_user_id and h.hour >= usage_hour(now() - interval '1 day');
  if v_hourly_used < v_hourly_limit and v_daily_used < v_daily_limit then
    return true;
  end if;
  -- The same window and the same rows as get_user_limits' usage, newest first, at most the limit.
  select count(*) filter (where r.created_at > now() - interval '1 hour'), count(*)
    into v_hourly_used, v_daily_used
  from (
    select u.created_at from generation_usage u
    where u.user_id = p_user_id and u.created_at > now() - interval '1 day' and u.refunded_at is null
    order by u.created_at desc
    limit greatest(v_daily_limit, 0)
  ) r;
  return v_hourly_used < v_hourly_limit and v_daily_used < v_daily_limit;
end;
$$;

CREATE FUNCTION public.model_generation_stats(p_days integer DEFAULT 7) RETURNS TABLE(model_id text, generations_recent bigint, generations_total bigint, completed_recent bigint, failed_recent bigint, success_rate numeric, avg_seconds numeric, p95_seconds numeric, predict_seconds numeric, cost numeric, running bigint)
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  -- One caller recounts a stale total; the others meanwhile read it as it is, plus the rows since.
  if exists (select 1 from models m left join model_generation_totals t on t.model_id = m.id
             where t.counted_until is null or t.counted_until < now() - interval '1 day')
     and pg_try_advisory_xact_lock(hashtextextended('refresh_model_generation_totals', 0)) then
    perform refresh_model_generation_totals();
  end if;

  return query
  select
    m.id,
    coalesce(r.generations, 0),
    coalesce(k.generations, 0) + (select count(*) from image_generations g
                                  where g.model_id = m.id and g.created_at >= coalesce(k.counted_until, '-infinity')),
    coalesce(r.completed, 0),
    coalesce(r.failed, 0),
    case when coalesce(r.completed, 0) + coalesce(r.failed, 0) > 0
         then round(r.completed::numeric / (r.completed + r.failed), 4) end,
    round(r.avg_seconds::numeric, 3),
    round(r.p95_seconds::numeric, 3),
    r.predict_seconds,
    round(r.predict_seconds * m.cost_per_second, 4),
    (select count(*) from image_generations g where g.model_id = m.id and g.status = 'processing')
  from models m
  left join model_generation_totals k on k.model_id = m.id
  left join lateral (
    select count(*) as generations,
           count(*) filter (where g.status = 'completed') as completed,
           count(*) filter (where g.status = 'failed') as failed,
           -- Rows written without run_started_at (by hand, or before 0017) fall back to their first start.
           avg(date_part('epoch', g.completed_at - coalesce(g.run_started_at, g.started_at))) filter (where g.status = 'completed') as avg_seconds,
           percentile_cont(0.95) within group (order by date_part('epoch', g.completed_at - coalesce(g.run_started_at, g.started_at)))
             filter (where g.status = 'completed') as p95_seconds,
           sum(g.predict_time_seconds) as predict_seconds
    from image_generations g
    where g.model_id = m.id and g.created_at > now() - make_interval(days => greatest(coalesce(p_days, 7), 1))
  ) r on true
  order by m.sort_order, m.id;
end;
$$;

CREATE FUNCTION public.models_refresh_slots() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  if tg_op = 'DELETE' then
    perform public.set_concurrency_limit(old.id, null);
  else
    perform public.refresh_model_slots(new.id);
  end if;
  return null;
end;
$$;

CREATE FUNCTION public.notify_generation_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  if current_setting('picture.defer_wake', true) is distinct from 'on' then
    perform pg_notify('generation_events', new.id::text);
  end if;
  return null;
end;
$$;

CREATE FUNCTION public.notify_job_inserted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  if current_setting('picture.defer_wake', true) is distinct from 'on' then
    perform pg_notify('job_queue_inserted', '');
  end if;
  return null;
end;
$$;

CREATE FUNCTION public.pause_job_type(p_job_type text, p_paused_by uuid DEFAULT NULL::uuid, p_reason text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  insert into job_queue_paused_types (job_type, paused_by, reason)
  values (p_job_type, p_paused_by, p_reason)
  on conflict (job_type) do nothing;
  return found;
end;
$$;

CREATE FUNCTION public.purge_finished_jobs(p_older_than interval DEFAULT '30 days'::interval, p_batch_size integer DEFAULT 1000, p_failed_older_than interval DEFAULT NULL::interval) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_count  integer;
  v_failed interval := coalesce(p_failed_older_than, p_older_than);
begin
  if p_older_than is null or p_older_than < interval '0' or v_failed < interval '0' then
    raise exception 'purge_finished_jobs: older_than must not be negative' using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size not between 1 and 100000 then
    raise exception 'purge_finished_jobs: batch_size must be between 1 and 100000' using errcode = '22023';
  end if;
  -- The range on completed_at (the nearer cutoff) walks job_queue_finished_at_idx; the status test
  -- then keeps failed jobs until their own cutoff.
  with doomed as (
    select id from job_queue
    where status in ('completed', 'failed', 'cancelled')
      and completed_at < now() - least(p_older_than, v_failed)
      and (status <> 'failed' or completed_at < now() - v_failed)
      and (status = 'failed' or completed_at < now() - p_older_than)
    order by completed_at
    limit p_batch_size
    for update skip locked
  )
  delete from job_queue j using doomed d where j.id = d.id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

CREATE FUNCTION public.purge_worker_runs(p_older_than interval DEFAULT '30 days'::interval, p_batch_size integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_count integer;
begin
  if p_older_than is null or p_older_than < interval '0' then
    raise exception 'purge_worker_runs: older_than must not be negative' using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size not between 1 and 100000 then
    raise exception 'purge_worker_runs: batch_size must be between 1 and 100000' using errcode = '22023';
  end if;
  with doomed as (
    select id from worker_runs
    where started_at < now() - p_older_than and last_seen_at < now() - p_older_than
    order by started_at
    limit p_batch_size
    for update skip locked
  )
  delete from worker_runs r using doomed d where r.id = d.id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

CREATE FUNCTION public.read_folded_through() RETURNS timestamp with time zone
    LANGUAGE sql STABLE
    SET search_path TO 'public', 'pg_temp'
    AS $$
  select folded_through from job_queue_fold_state;
$$;

CREATE FUNCTION public.reap_expired_jobs() RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_count integer;
begin
  with expired as (
    select id from job_queue
    where status = 'processing' and locked_until < now()
    for update skip locked
  )
  update job_queue j
  set status = case when j.attempts >= j.max_attempts then 'failed' else 'pending' end,
      completed_at = case when j.attempts >= j.max_attempts then now() end,
      scheduled_at = case when j.attempts >= j.max_attempts then j.scheduled_at else now() end,
      error_message = 'lease expired: worker ' || coalesce(j.locked_by, '?') || ' stopped responding',
      error_details = jsonb_build_object('reason', 'lease_expired', 'locked_by', j.locked_by,
                                         'locked_until', j.locked_until, 'attempt', j.attempts),
      attempt_log = append_attempt_log(j.attempt_log, jsonb_build_object(
        'kind', 'attempt', 'attempt', j.attempts, 'claim', j.claim_count, 'worker', j.locked_by,
        'started_at', j.started_at, 'ended_at', j.locked_until, 'reaped_at', now(), 'outcome', 'lease_expired',
        'error', 'lease expired: worker ' || coalesce(j.locked_by, '?') || ' stopped responding', 'details', null,
        'permanent', false, 'counted', true,
        'next', case when j.attempts >= j.max_attempts then 'failed' else 'retry' end,
        'retry_at', case when j.attempts >= j.max_attempts then null else now() end)),
      locked_by = null, locked_until = null, updated_at = now()
  from expired e
  where j.id = e.id;
  get diagnostics v_count = row_count;
  if v_count > 0 then
    perform pg_notify('job_queue_inserted', '');
  end if;
  return v_count;
end;
$$;

CREATE FUNCTION public.record_generation_progress(p_generation_id uuid, p_job_id uuid, p_worker_id text, p_claim_count integer, p_progress integer DEFAULT NULL::integer) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  if not generation_run_holds(p_job_id, p_worker_id, p_claim_count) then
    return false;
  end if;
  if p_progress is not null then
    update image_generations set progress = least(greatest(p_progress, 0), 100)
    where id = p_generation_id and status = 'processing' and progress < least(greatest(p_progress, 0), 100);
  end if;
  return true;
end;
$$;

CREATE FUNCTION public.record_generation_usage() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  insert into public.generation_usage (generation_id, user_id, created_at, refunded_at)
  values (new.id, new.user_id, new.created_at,
          case when new.status in ('cancelled', 'failed') and new.started_at is null then now() end)
  on conflict (generation_id) do nothing;
  return null;
end;
$$;

CREATE FUNCTION public.record_maintenance_result(p_task text, p_result jsonb) RETURNS void
    LANGUAGE sql
    SET search_path TO 'public', 'pg_temp'
    AS $$
  update queue_maintenance set last_result = p_result where task = p_task;
$$;

CREATE FUNCTION public.refresh_model_generation_totals() RETURNS void
    LANGUAGE sql
    SET search_path TO 'public', 'pg_temp'
    AS $$
  -- Stop short of now: a generation whose transaction began earlier may commit after this count,
  -- and the live part (created_at >= counted_until) still sees it.
  insert into model_generation_totals (model_id, counted_until, generations)
  select m.id, now() - interval '5 minutes',
         (select count(*) from image_generations g where g.model_id = m.id and g.created_at < now() - interval '5 minutes')
  from models m
  on conflict (model_id) do update set counted_until = excluded.counted_until, generations = excluded.generations;
$$;

CREATE FUNCTION public.refresh_model_slots(p_model_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.release_jobs(p_job_ids uuid[], p_worker_id text, p_claim_counts integer[]) RETURNS SETOF uuid
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_seqscan TO 'off'
    SET enable_nestloop TO 'off'
    SET enable_mergejoin TO 'off'
    AS $$
begin
  if p_claim_counts is null or cardinality(p_claim_counts) <> cardinality(p_job_ids) then
    raise exception 'release_jobs: one claim count per job id' using errcode = '22023';
  end if;
  return query
  update job_queue j
  set status = 'pending', attempts = greatest(j.attempts - 1, 0), started_at = null,
      attempt_log = append_attempt_log(j.attempt_log, jsonb_build_object(
        'kind', 'attempt', 'attempt', j.attempts, 'claim', j.claim_count, 'worker', j.locked_by,
        'started_at', j.started_at, 'ended_at', now(), 'outcome', 'released',
        'error', 'given back unstarted by its worker', 'details', null,
        'permanent', false, 'counted', false, 'next', 'retry', 'retry_at', j.scheduled_at)),
      locked_by = null, locked_until = null, updated_at = now()
  from unnest(p_job_ids, p_claim_counts) as t(id, claim_count)
  where j.id = t.id
    and j.status = 'processing'
    and j.locked_by = p_worker_id
    and j.claim_count = t.claim_count
  returning j.id;
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
end;
$$;

CREATE FUNCTION public.reset_stuck_jobs(p_job_ids uuid[] DEFAULT NULL::uuid[]) RETURNS SETOF uuid
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  return query
  with stuck as (
    select j.id
    from job_queue j
    where j.status = 'processing'
      and (j.locked_until < now() or j.started_at < now() - stuck_job_threshold())
      and (p_job_ids is null or j.id = any (p_job_ids))
    for update skip locked
  )
  update job_queue j
  set status = 'pending', attempts = greatest(j.attempts - 1, 0), started_at = null, scheduled_at = now(),
      attempt_log = append_attempt_log(j.attempt_log, jsonb_build_object(
        'kind', 'attempt', 'attempt', j.attempts, 'claim', j.claim_count, 'worker', j.locked_by,
        'started_at', j.started_at, 'ended_at', now(), 'outcome', 'reset',
        'error', 'reset by an operator: the job was stuck', 'details', null,
        'permanent', false, 'counted', false, 'next', 'retry', 'retry_at', now())),
      locked_by = null, locked_until = null, updated_at = now()
  from stuck s
  where j.id = s.id and j.status = 'processing'
  returning j.id;
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
end;
$$;

CREATE FUNCTION public.resume_job_type(p_job_type text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  delete from job_queue_paused_types where job_type = p_job_type;
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
  return found;
end;
$$;

CREATE FUNCTION public.retry_job(p_job_id uuid) RETURNS boolean
    LANGUAGE sql
    SET search_path TO 'public', 'pg_temp'
    AS $$
  select exists (select 1 from retry_jobs(array[p_job_id]));
$$;

CREATE FUNCTION public.retry_jobs(p_job_ids uuid[]) RETURNS SETOF uuid
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  return query
  update job_queue
  set status = 'pending', attempts = 0, scheduled_at = now(), started_at = null, completed_at = null,
      attempt_log = append_attempt_log(attempt_log, jsonb_build_object(
        'kind', 'retry', 'at', now(), 'from_status', status, 'attempts', attempts)),
      updated_at = now()
  where id = any (p_job_ids) and status in ('failed', 'cancelled')
  returning id;
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
end;
$$;

CREATE FUNCTION public.set_concurrency_limit(p_key text, p_free_slots integer) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.snooze_job(p_job_id uuid, p_worker_id text, p_delay_seconds numeric, p_claim_count integer DEFAULT NULL::integer) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  if p_delay_seconds is null or p_delay_seconds < 0 then
    raise exception 'snooze_job: delay_seconds must be zero or more' using errcode = '22023';
  end if;
  update job_queue j
  set status = 'pending',
      attempts = greatest(j.attempts - 1, 0),
      scheduled_at = now() + make_interval(secs => p_delay_seconds),
      locked_by = null, locked_until = null, updated_at = now()
  where j.id = p_job_id
    and j.status = 'processing'
    and j.locked_by = p_worker_id
    and (p_claim_count is null or j.claim_count = p_claim_count);
  return found;
end;
$$;

CREATE FUNCTION public.start_generation(p_user_id uuid, p_prompt text, p_model_id text, p_width integer, p_height integer, p_seed bigint, p_negative_prompt text DEFAULT NULL::text, p_idempotency_key text DEFAULT NULL::text, p_params jsonb DEFAULT '{}'::jsonb, p_defer_wake boolean DEFAULT false, p_providers text[] DEFAULT NULL::text[]) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_existing image_generations;
  v_model    models;
  v_id       uuid;
  v_job_id   uuid;
  v_estimate numeric;
begin
  -- A signed-in caller may only start generations for themselves.
  if auth.uid() is not null and auth.uid() <> p_user_id then
    raise exception 'start_generation: cannot start a generation for another user' using errcode = '42501';
  end if;
  select * into v_model from models where id = p_model_id and enabled;
  if not found then
    raise exception 'start_generation: model % does not exist or is disabled', p_model_id using errcode = '22023';
  end if;
  if p_providers is not null and not (v_model.provider = any (p_providers)) then
    raise exception 'start_generation: model % cannot run on this server', p_model_id using errcode = '22023';
  end if;
  if p_width is null or p_height is null
     or p_width not between v_model.min_size and v_model.max_size or p_width % v_model.size_step <> 0
     or p_height not between v_model.min_size and v_model.max_size or p_height % v_model.size_step <> 0 then
    raise exception 'start_generation: % x % is not a size model % makes', p_width, p_height, p_model_id using errcode = '22023';
  end if;

  -- One start at a time per user: the limit check and the insert see the same count.
  perform pg_advisory_xact_lock(hashtextextended('start_generation:' || p_user_id::text, 0));

  if p_idempotency_key is not null then
    select * into v_existing from image_generations
    where user_id = p_user_id and idempotency_key = p_idempotency_key;
    if found then
      return jsonb_build_object('outcome', 'existing', 'generation_id', v_existing.id,
                                'job_id', v_existing.job_id, 'status', v_existing.status);
    end if;
  end if;

  if not may_start_generation(p_user_id) then
    return jsonb_build_object('outcome', 'rate_limited', 'limits', get_user_limits(p_user_id));
  end if;

  -- Counted against the money budgets until the real cost replaces it at completion.
  v_estimate := generation_cost_estimate(v_model.id, v_model.cost_per_second);

  if p_defer_wake then
    perform set_config('picture.defer_wake', 'on', true);
  end if;

  -- The job first, under the generation's id chosen here, so the generation is written once, with
  -- its job_id (both rows commit together: no worker can see the job before its generation).
  v_id := gen_random_uuid();
  v_job_id := enqueue_job('generate-image',
                          jsonb_build_object('generation_id', v_id, 'model_id', p_model_id,
                                             'attempt_timeout_seconds', v_model.attempt_timeout_seconds),
                          0, now(), 3, 'generation:' || v_id, p_user_id);

  insert into image_generations (id, user_id, prompt, negative_prompt, model_id, width, height, seed, params, idempotency_key,
                                 queue_paused, cost_estimate_usd, job_id)
  values (v_id, p_user_id, btrim(p_prompt), nullif(btrim(p_negative_prompt), ''), p_model_id, p_width, p_height, p_seed,
          coalesce(p_params, '{}'::jsonb), p_idempotency_key,
          exists (select 1 from job_queue_paused_types where job_type = 'generate-image'), v_estimate, v_job_id);

  -- Only this start's own writes go unannounced: anything later in the caller's transaction notifies.
  if p_defer_wake then
    perform set_config('picture.defer_wake', 'off', true);
  end if;

  return jsonb_build_object('outcome', 'created', 'generation_id', v_id, 'job_id', v_job_id, 'status', 'queued');
end;
$$;

CREATE FUNCTION public.start_generation_group(p_user_id uuid, p_prompt text, p_width integer, p_height integer, p_members jsonb, p_negative_prompt text DEFAULT NULL::text, p_idempotency_key text DEFAULT NULL::text, p_defer_wake boolean DEFAULT false, p_providers text[] DEFAULT NULL::text[]) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
declare
  v_existing generation_groups;
  v_member   jsonb;
  v_model    models;
  v_limits   jsonb;
  v_room     integer;
  v_count    integer;
  v_group_id uuid;
  v_id       uuid;
  v_job_id   uuid;
  v_paused   boolean;
  v_position integer := 0;
  v_ids      jsonb := '[]'::jsonb;
  v_estimates numeric[] := '{}';
  v_before_last numeric;
begin
  if auth.uid() is not null and auth.uid() <> p_user_id then
    raise exception 'start_generation_group: cannot start a group for another user' using errcode = '42501';
  end if;
  if p_members is null or jsonb_typeof(p_members) <> 'array' or jsonb_array_length(p_members) not between 1 and 16 then
    raise exception 'start_generation_group: a group has 1 to 16 members' using errcode = '22023';
  end if;
  v_count := jsonb_array_length(p_members);
  for v_member in select value from jsonb_array_elements(p_members) loop
    select * into v_model from models where id = v_member ->> 'model_id' and enabled;
    if not found then
      raise exception 'start_generation_group: model % does not exist or is disabled', v_member ->> 'model_id' using errcode = '22023';
    end if;
    if p_providers is not null and not (v_model.provider = any (p_providers)) then
      raise exception 'start_generation_group: model % cannot run on this server', v_model.id using errcode = '22023';
    end if;
    if p_width is null or p_height is null
       or p_width not between v_model.min_size and v_model.max_size or p_width % v_model.size_step <> 0
       or p_height not between v_model.min_size and v_model.max_size or p_height % v_model.size_step <> 0 then
      raise exception 'start_generation_group: % x % is not a size model % makes', p_width, p_height, v_model.id using errcode = '22023';
    end if;
    v_estimates := v_estimates || coalesce(generation_cost_estimate(v_model.id, v_model.cost_per_second), 0);
  end loop;

  perform pg_advisory_xact_lock(hashtextextended('start_generation:' || p_user_id::text, 0));

  if p_idempotency_key is not null then
    select * into v_existing from generation_groups where user_id = p_user_id and idempotency_key = p_idempotency_key;
    if found then
      return jsonb_build_object('outcome', 'existing', 'group_id', v_existing.id);
    end if;
  end if;

  -- can_generate carries every rule get_user_limits keeps (counts, and whatever else it learns to
  -- refuse); the counts must also have room for the whole group.
  v_limits := get_user_limits(p_user_id);
  v_room := least((v_limits ->> 'hourly_limit')::integer - (v_limits ->> 'hourly_used')::integer,
                  (v_limits ->> 'daily_limit')::integer - (v_limits ->> 'daily_used')::integer);
  -- A budget admits the group as it would admit its pictures one by one: each starts while what is
  -- spent (with the in-flight estimates) is under the budget, so every member but the last must fit.
  v_before_last := coalesce((select sum(e) from unnest(v_estimates[1:v_count - 1]) e), 0);
  if (v_limits ->> 'daily_remaining_usd') is not null and (v_limits ->> 'daily_remaining_usd')::numeric <= v_before_last then
    v_limits := v_limits || jsonb_build_object('can_generate', false, 'budget_exhausted', 'daily',
      'retry_after_seconds', greatest(1, ceil(extract(epoch from ((v_limits ->> 'daily_budget_resets_at')::timestamptz - now()))))::integer);
  elsif (v_limits ->> 'monthly_remaining_usd') is not null and (v_limits ->> 'monthly_remaining_usd')::numeric <= v_before_last then
    v_limits := v_limits || jsonb_build_object('can_generate', false, 'budget_exhausted', 'monthly',
      'retry_after_seconds', greatest(1, ceil(extract(epoch from ((v_limits ->> 'monthly_budget_resets_at')::timestamptz - now()))))::integer);
  end if;
  if not (v_limits ->> 'can_generate')::boolean or v_room < v_count then
    return jsonb_build_object('outcome', 'rate_limited', 'limits', v_limits, 'needed', v_count, 'room', greatest(v_room, 0));
  end if;

  if p_defer_wake then
    perform set_config('picture.defer_wake', 'on', true);
  end if;

  insert into generation_groups (user_id, prompt, idempotency_key)
  values (p_user_id, btrim(p_prompt), p_idempotency_key)
  returning id into v_group_id;

  v_paused := exists (select 1 from job_queue_paused_types where job_type = 'generate-image');
  for v_member in select value from jsonb_array_elements(p_members) loop
    select * into v_model from models where id = v_member ->> 'model_id';
    insert into image_generations (user_id, prompt, negative_prompt, model_id, width, height, seed, params,
                                   queue_paused, group_id, group_position, cost_estimate_usd)
    values (p_user_id, btrim(p_prompt), nullif(btrim(p_negative_prompt), ''), v_model.id, p_width, p_height,
            (v_member ->> 'seed')::bigint, '{}'::jsonb, v_paused, v_group_id, v_position, v_estimates[v_position + 1])
    returning id into v_id;
    v_job_id := enqueue_job('generate-image',
                            jsonb_build_object('generation_id', v_id, 'model_id', v_model.id,
                                               'attempt_timeout_seconds', v_model.attempt_timeout_seconds),
                            0, now(), 3, 'generation:' || v_id, p_user_id);
    update image_generations set job_id = v_job_id where id = v_id;
    v_ids := v_ids || jsonb_build_array(jsonb_build_object('generation_id', v_id, 'job_id', v_job_id));
    v_position := v_position + 1;
  end loop;

  if p_defer_wake then
    perform set_config('picture.defer_wake', 'off', true);
  end if;

  return jsonb_build_object('outcome', 'created', 'group_id', v_group_id, 'members', v_ids);
end;
$$;

CREATE FUNCTION public.stuck_job_threshold() RETURNS interval
    LANGUAGE sql IMMUTABLE
    SET search_path TO 'public', 'pg_temp'
    AS $$
  select interval '10 minutes';
$$;

CREATE FUNCTION public.subtract_settled_totals(p_job_type text, p_status text, p_created_by uuid, p_jobs bigint, p_duration_sum numeric, p_durations bigint, p_oldest timestamp with time zone, p_newest timestamp with time zone, p_folded_through timestamp with time zone) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.sync_generation_with_job() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
declare
  -- A malformed payload must not break the queue function that changed the job: match as text.
  v_generation_id uuid := case
    when new.payload ->> 'generation_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then (new.payload ->> 'generation_id')::uuid end;
  v_class text := case
    when new.status = 'cancelled' then 'cancelled_by_operator'
    when new.error_details ->> 'reason' = 'lease_expired' then 'worker_lost'
    when new.error_details ->> 'class' in ('storage', 'input', 'safety', 'provider', 'model', 'timeout', 'unavailable')
      then new.error_details ->> 'class'
    else 'internal' end;
begin
  if v_generation_id is null then
    return null;
  end if;
  if new.status in ('failed', 'cancelled') then
    -- Only the classes whose messages were written for people keep a message; the rest say their class.
    update public.image_generations
    set status = case when new.status = 'failed' then 'failed' else 'cancelled' end,
        failure_class = v_class,
        error_message = case when new.status = 'failed' and v_class in ('input', 'safety') then new.error_message end,
        attempts_used = new.attempts, max_attempts = new.max_attempts, retry_at = null,
        completed_at = now()
    where id = v_generation_id and status in ('queued', 'processing');
  elsif new.status = 'pending' and old.status in ('failed', 'cancelled') then
    update public.image_generations
    set status = 'queued', progress = 0, error_message = null, failure_class = null, completed_at = null, retry_at = null,
        attempts_used = 0, max_attempts = new.max_attempts,
        prediction_id = case when status = 'cancelled' then null else prediction_id end
    where id = v_generation_id and status in ('failed', 'cancelled');
  elsif new.status = 'pending' and old.status = 'processing' and new.attempts >= old.attempts then
    update public.image_generations
    set status = 'queued', progress = 0, failure_class = v_class, retry_at = new.scheduled_at,
        attempts_used = new.attempts, max_attempts = new.max_attempts
    where id = v_generation_id and status in ('queued', 'processing');
  end if;
  return null;
end;
$_$;

CREATE FUNCTION public.take_concurrency_slot(p_job_id uuid, p_worker_id text, p_claim_count integer) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  update job_queue set concurrency_key = null
  where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count
    and concurrency_key is not null;
  return found or exists (
    select 1 from job_queue
    where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count);
end;
$$;

CREATE FUNCTION public.track_generation_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  if new.status is distinct from old.status or new.progress is distinct from old.progress
     or new.image_path is distinct from old.image_path or new.error_message is distinct from old.error_message
     or new.retry_at is distinct from old.retry_at or new.queue_paused is distinct from old.queue_paused
     or new.failure_class is distinct from old.failure_class then
    new.event_seq := old.event_seq + 1;
  end if;
  if new.status is distinct from old.status then
    new.history := old.history || jsonb_build_array(jsonb_build_object('status', new.status, 'at', now()));
  end if;
  new.updated_at := now();
  return new;
end;
$$;

CREATE FUNCTION public.track_generation_usage() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
begin
  if new.status in ('cancelled', 'failed') and new.started_at is null then
    update public.generation_usage set refunded_at = now() where generation_id = new.id and refunded_at is null;
  elsif new.status in ('queued', 'processing') and old.status in ('cancelled', 'failed') then
    update public.generation_usage set refunded_at = null where generation_id = new.id and refunded_at is not null;
  end if;
  return null;
end;
$$;

CREATE FUNCTION public.track_settled_job_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.track_settled_job_delete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
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

CREATE FUNCTION public.usage_hour(p_at timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  select date_bin('1 hour', p_at, timestamptz '2000-01-01 00:00:00+00')
$$;

CREATE FUNCTION public.wake_job(p_job_id uuid) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
    AS $$
begin
  update job_queue set scheduled_at = now(), updated_at = now()
  where id = p_job_id and status = 'pending' and scheduled_at > now();
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
  return found;
end;
$$;

CREATE TABLE app_private.schema_migrations (
    version text NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE app_private.sessions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    user_agent text,
    CONSTRAINT expires_after_creation CHECK ((expires_at > created_at)),
    CONSTRAINT user_agent_length CHECK (((user_agent IS NULL) OR (char_length(user_agent) <= 300)))
);

CREATE TABLE app_private.sign_in_failures (
    id bigint NOT NULL,
    email text NOT NULL,
    failed_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE app_private.sign_in_failures ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME app_private.sign_in_failures_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.admin_audit_log (
    id bigint NOT NULL,
    actor_id uuid,
    actor_email text NOT NULL,
    action text NOT NULL,
    target text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    affected_rows integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT action_not_empty CHECK (((length(btrim(action)) >= 1) AND (length(btrim(action)) <= 100))),
    CONSTRAINT affected_rows_not_negative CHECK ((affected_rows >= 0)),
    CONSTRAINT details_is_object CHECK ((jsonb_typeof(details) = 'object'::text))
);

ALTER TABLE public.admin_audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.admin_audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.alert_state (
    alert_key text NOT NULL,
    active boolean DEFAULT false NOT NULL,
    title text,
    detail text,
    started_at timestamp with time zone,
    cleared_at timestamp with time zone,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    notified_active boolean,
    notify_claimed_until timestamp with time zone,
    notify_attempts integer DEFAULT 0 NOT NULL,
    notify_error text,
    CONSTRAINT alert_key_not_empty CHECK (((length(btrim(alert_key)) >= 1) AND (length(btrim(alert_key)) <= 64))),
    CONSTRAINT notify_attempts_not_negative CHECK ((notify_attempts >= 0))
);

COMMENT ON TABLE public.alert_state IS 'Console alerts: whether each condition is active, and what the webhook last announced.';

CREATE VIEW public.failed_jobs_recent WITH (security_invoker='true') AS
 SELECT job_queue.id,
    job_queue.job_type,
    job_queue.payload,
    job_queue.status,
    job_queue.error_message,
    job_queue.error_details,
    job_queue.attempts,
    job_queue.max_attempts,
    job_queue.created_by,
    job_queue.created_at,
    job_queue.started_at,
    job_queue.completed_at
   FROM public.job_queue
  WHERE ((job_queue.status = 'failed'::text) AND (job_queue.completed_at > (now() - '24:00:00'::interval)));

CREATE TABLE public.generation_groups (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    prompt text NOT NULL,
    idempotency_key text,
    kept_generation_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT idempotency_key_length CHECK (((idempotency_key IS NULL) OR ((char_length(idempotency_key) >= 1) AND (char_length(idempotency_key) <= 255))))
);

CREATE VIEW public.generation_group_summary WITH (security_invoker='true') AS
 SELECT g.id AS group_id,
    g.user_id,
    (count(m.id))::integer AS members,
    (count(*) FILTER (WHERE (m.status = 'completed'::text)))::integer AS completed,
    (count(*) FILTER (WHERE (m.status = 'failed'::text)))::integer AS failed,
    (count(*) FILTER (WHERE (m.status = 'cancelled'::text)))::integer AS cancelled,
    (count(*) FILTER (WHERE (m.status = ANY (ARRAY['queued'::text, 'processing'::text]))))::integer AS active,
        CASE
            WHEN (count(m.id) = 0) THEN 'cancelled'::text
            WHEN bool_and((m.status = 'queued'::text)) THEN 'queued'::text
            WHEN bool_or((m.status = ANY (ARRAY['queued'::text, 'processing'::text]))) THEN 'running'::text
            WHEN bool_and((m.status = 'completed'::text)) THEN 'done'::text
            WHEN bool_or((m.status = 'completed'::text)) THEN 'partly_done'::text
            WHEN bool_and((m.status = 'cancelled'::text)) THEN 'cancelled'::text
            ELSE 'failed'::text
        END AS status,
    COALESCE(bool_and((m.status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text]))), true) AS complete
   FROM (public.generation_groups g
     LEFT JOIN public.image_generations m ON ((m.group_id = g.id)))
  GROUP BY g.id, g.user_id;

CREATE TABLE public.generation_usage (
    generation_id uuid NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    refunded_at timestamp with time zone
);

CREATE TABLE public.generation_usage_hours (
    user_id uuid NOT NULL,
    hour timestamp with time zone NOT NULL,
    uses integer NOT NULL,
    CONSTRAINT uses_positive CHECK ((uses > 0))
);

COMMENT ON TABLE public.generation_usage_hours IS 'Uses started per user and hour (start_generation''s fast limit check): never less than the unrefunded uses of that hour in generation_usage.';

CREATE TABLE public.job_queue_concurrency_limits (
    concurrency_key text NOT NULL,
    free_slots integer NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT concurrency_key_not_empty CHECK (((length(concurrency_key) >= 1) AND (length(concurrency_key) <= 200))),
    CONSTRAINT free_slots_not_negative CHECK ((free_slots >= 0))
);

CREATE TABLE public.job_queue_fold_state (
    singleton boolean DEFAULT true NOT NULL,
    folded_through timestamp with time zone DEFAULT '-infinity'::timestamp with time zone NOT NULL,
    candidate_at timestamp with time zone,
    candidate_xmax xid8,
    folded_at timestamp with time zone,
    CONSTRAINT fold_state_single_row CHECK (singleton)
);

CREATE SEQUENCE public.job_queue_lane_turn_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.job_queue_lanes (
    lane uuid NOT NULL,
    served_seq bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
)
WITH (fillfactor='50', autovacuum_vacuum_scale_factor='0.0', autovacuum_vacuum_threshold='200');

COMMENT ON TABLE public.job_queue_lanes IS 'One row per lane (user, or the system lane) with pending jobs: whose turn it is in the fair-share claim.';

CREATE TABLE public.job_queue_paused_types (
    job_type text NOT NULL,
    paused_at timestamp with time zone DEFAULT now() NOT NULL,
    paused_by uuid,
    reason text,
    CONSTRAINT job_type_not_empty CHECK (((length(btrim(job_type)) >= 1) AND (length(btrim(job_type)) <= 128)))
);

CREATE TABLE public.job_queue_settled_hourly (
    created_hour timestamp with time zone NOT NULL,
    job_type text NOT NULL,
    model_id text,
    status text NOT NULL,
    jobs bigint NOT NULL,
    CONSTRAINT settled_hourly_jobs_positive CHECK ((jobs > 0)),
    CONSTRAINT settled_hourly_on_the_hour CHECK ((created_hour = date_trunc('hour'::text, created_hour, 'UTC'::text))),
    CONSTRAINT settled_hourly_status_settled CHECK ((status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])))
);

COMMENT ON TABLE public.job_queue_settled_hourly IS 'The history chart''s folded part: settled jobs by UTC hour created, type, model and status (same watermark as job_queue_settled_totals).';

CREATE TABLE public.job_queue_settled_totals (
    job_type text NOT NULL,
    status text NOT NULL,
    created_by uuid,
    jobs bigint NOT NULL,
    duration_sum numeric,
    durations bigint NOT NULL,
    oldest_created_at timestamp with time zone NOT NULL,
    newest_created_at timestamp with time zone NOT NULL,
    CONSTRAINT settled_totals_jobs_positive CHECK (((jobs > 0) AND ((durations >= 0) AND (durations <= jobs)))),
    CONSTRAINT settled_totals_status_settled CHECK ((status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])))
);

COMMENT ON TABLE public.job_queue_settled_totals IS 'queue_health''s folded part: aggregates of settled jobs with completed_at <= job_queue_fold_state.folded_through.';

CREATE TABLE public.model_generation_totals (
    model_id text NOT NULL,
    counted_until timestamp with time zone NOT NULL,
    generations bigint NOT NULL,
    CONSTRAINT generations_not_negative CHECK ((generations >= 0))
);

CREATE TABLE public.models (
    id text NOT NULL,
    provider text NOT NULL,
    display_name text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    size_mapping text DEFAULT 'dimensions'::text NOT NULL,
    min_size integer DEFAULT 256 NOT NULL,
    max_size integer DEFAULT 1024 NOT NULL,
    size_step integer DEFAULT 8 NOT NULL,
    max_concurrency integer DEFAULT 4 NOT NULL,
    defaults jsonb DEFAULT '{}'::jsonb NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    cost_per_second numeric(12,6),
    sort_order integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    attempt_timeout_seconds integer DEFAULT 300 NOT NULL,
    CONSTRAINT attempt_timeout_in_range CHECK (((attempt_timeout_seconds >= 10) AND (attempt_timeout_seconds <= 86400))),
    CONSTRAINT cost_not_negative CHECK (((cost_per_second IS NULL) OR (cost_per_second >= (0)::numeric))),
    CONSTRAINT defaults_is_object CHECK ((jsonb_typeof(defaults) = 'object'::text)),
    CONSTRAINT max_concurrency_positive CHECK (((max_concurrency >= 1) AND (max_concurrency <= 1000))),
    CONSTRAINT provider_valid CHECK ((provider = ANY (ARRAY['local'::text, 'replicate'::text]))),
    CONSTRAINT size_mapping_valid CHECK ((size_mapping = ANY (ARRAY['dimensions'::text, 'aspect_ratio'::text]))),
    CONSTRAINT size_range_valid CHECK (((min_size >= 64) AND (max_size >= min_size) AND (max_size <= 4096))),
    CONSTRAINT size_step_valid CHECK (((size_step >= 1) AND (size_step <= 256)))
);

CREATE VIEW public.queue_health WITH (security_invoker='true') AS
 WITH parts AS (
         SELECT j.job_type,
            j.status,
            count(*) AS jobs,
            sum(EXTRACT(epoch FROM (j.completed_at - j.started_at))) AS duration_sum,
            count((j.completed_at - j.started_at)) AS durations,
            min(j.created_at) AS oldest,
            max(j.created_at) AS newest
           FROM public.job_queue j
          WHERE (j.status = 'pending'::text)
          GROUP BY j.job_type, j.status
        UNION ALL
         SELECT j.job_type,
            j.status,
            count(*) AS count,
            sum(EXTRACT(epoch FROM (j.completed_at - j.started_at))) AS sum,
            count((j.completed_at - j.started_at)) AS count,
            min(j.created_at) AS min,
            max(j.created_at) AS max
           FROM public.job_queue j
          WHERE (j.status = 'processing'::text)
          GROUP BY j.job_type, j.status
        UNION ALL
         SELECT j.job_type,
            j.status,
            count(*) AS count,
            sum(EXTRACT(epoch FROM (j.completed_at - j.started_at))) AS sum,
            count((j.completed_at - j.started_at)) AS count,
            min(j.created_at) AS min,
            max(j.created_at) AS max
           FROM public.job_queue j
          WHERE ((j.status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])) AND (j.completed_at > public.read_folded_through()))
          GROUP BY j.job_type, j.status
        UNION ALL
         SELECT j.job_type,
            j.status,
            count(*) AS count,
            sum(EXTRACT(epoch FROM (j.completed_at - j.started_at))) AS sum,
            count((j.completed_at - j.started_at)) AS count,
            min(j.created_at) AS min,
            max(j.created_at) AS max
           FROM public.job_queue j
          WHERE ((j.status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])) AND (j.completed_at IS NULL))
          GROUP BY j.job_type, j.status
        UNION ALL
         SELECT t.job_type,
            t.status,
            sum(t.jobs) AS sum,
            sum(t.duration_sum) AS sum,
            sum(t.durations) AS sum,
            min(t.oldest_created_at) AS min,
            max(t.newest_created_at) AS max
           FROM public.job_queue_settled_totals t
          GROUP BY t.job_type, t.status
        )
 SELECT p.job_type,
    p.status,
    (sum(p.jobs))::bigint AS count,
    round((sum(p.duration_sum) / NULLIF(sum(p.durations), (0)::numeric)), 3) AS avg_duration_seconds,
    min(p.oldest) AS oldest_created_at,
    max(p.newest) AS newest_created_at
   FROM parts p
  GROUP BY p.job_type, p.status;

CREATE TABLE public.queue_maintenance (
    task text NOT NULL,
    last_run_at timestamp with time zone DEFAULT '-infinity'::timestamp with time zone NOT NULL,
    last_result jsonb,
    CONSTRAINT task_not_empty CHECK (((length(btrim(task)) >= 1) AND (length(btrim(task)) <= 64)))
);

CREATE VIEW public.stuck_jobs WITH (security_invoker='true') AS
 SELECT job_queue.id,
    job_queue.job_type,
    job_queue.payload,
    job_queue.status,
    job_queue.attempts,
    job_queue.max_attempts,
    job_queue.locked_by,
    job_queue.locked_until,
    job_queue.started_at,
    job_queue.created_by,
    job_queue.created_at,
    (now() - job_queue.started_at) AS running_for,
    (job_queue.locked_until < now()) AS lease_expired
   FROM public.job_queue
  WHERE ((job_queue.status = 'processing'::text) AND ((job_queue.locked_until < now()) OR (job_queue.started_at < (now() - public.stuck_job_threshold()))));

CREATE TABLE public.user_limits (
    user_id uuid NOT NULL,
    hourly_limit integer,
    daily_limit integer,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_by uuid,
    daily_budget_usd numeric(12,4),
    monthly_budget_usd numeric(12,4),
    CONSTRAINT daily_budget_in_range CHECK (((daily_budget_usd IS NULL) OR ((daily_budget_usd >= (0)::numeric) AND (daily_budget_usd <= (1000000)::numeric)))),
    CONSTRAINT daily_limit_not_negative CHECK (((daily_limit IS NULL) OR (daily_limit >= 0))),
    CONSTRAINT hourly_limit_not_negative CHECK (((hourly_limit IS NULL) OR (hourly_limit >= 0))),
    CONSTRAINT monthly_budget_in_range CHECK (((monthly_budget_usd IS NULL) OR ((monthly_budget_usd >= (0)::numeric) AND (monthly_budget_usd <= (1000000)::numeric))))
);

CREATE TABLE public.webhook_deliveries (
    id text NOT NULL,
    source text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.worker_runs (
    id bigint NOT NULL,
    worker_id text NOT NULL,
    trigger text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    processed integer DEFAULT 0 NOT NULL,
    errors integer DEFAULT 0 NOT NULL,
    reaped integer DEFAULT 0 NOT NULL,
    message text,
    CONSTRAINT counts_not_negative CHECK (((processed >= 0) AND (errors >= 0) AND (reaped >= 0))),
    CONSTRAINT trigger_valid CHECK ((trigger = ANY (ARRAY['cron'::text, 'continuous'::text, 'manual'::text])))
)
WITH (fillfactor='70', autovacuum_vacuum_threshold='200', autovacuum_vacuum_scale_factor='0.05');

ALTER TABLE public.worker_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.worker_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY app_private.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY app_private.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY app_private.sign_in_failures
    ADD CONSTRAINT sign_in_failures_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.admin_audit_log
    ADD CONSTRAINT admin_audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.alert_state
    ADD CONSTRAINT alert_state_pkey PRIMARY KEY (alert_key);

ALTER TABLE ONLY public.generation_groups
    ADD CONSTRAINT generation_groups_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.generation_usage_hours
    ADD CONSTRAINT generation_usage_hours_pkey PRIMARY KEY (user_id, hour);

ALTER TABLE ONLY public.generation_usage
    ADD CONSTRAINT generation_usage_pkey PRIMARY KEY (generation_id);

ALTER TABLE ONLY public.image_generations
    ADD CONSTRAINT image_generations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.job_queue_concurrency_limits
    ADD CONSTRAINT job_queue_concurrency_limits_pkey PRIMARY KEY (concurrency_key);

ALTER TABLE ONLY public.job_queue_fold_state
    ADD CONSTRAINT job_queue_fold_state_pkey PRIMARY KEY (singleton);

ALTER TABLE ONLY public.job_queue_lanes
    ADD CONSTRAINT job_queue_lanes_pkey PRIMARY KEY (lane);

ALTER TABLE ONLY public.job_queue_paused_types
    ADD CONSTRAINT job_queue_paused_types_pkey PRIMARY KEY (job_type);

ALTER TABLE ONLY public.job_queue
    ADD CONSTRAINT job_queue_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.model_generation_totals
    ADD CONSTRAINT model_generation_totals_pkey PRIMARY KEY (model_id);

ALTER TABLE ONLY public.models
    ADD CONSTRAINT models_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.queue_maintenance
    ADD CONSTRAINT queue_maintenance_pkey PRIMARY KEY (task);

ALTER TABLE ONLY public.job_queue_settled_hourly
    ADD CONSTRAINT settled_hourly_one_row_per_group UNIQUE NULLS NOT DISTINCT (created_hour, job_type, model_id, status);

ALTER TABLE ONLY public.job_queue_settled_totals
    ADD CONSTRAINT settled_totals_one_row_per_group UNIQUE NULLS NOT DISTINCT (job_type, status, created_by);

ALTER TABLE ONLY public.user_limits
    ADD CONSTRAINT user_limits_pkey PRIMARY KEY (user_id);

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.worker_runs
    ADD CONSTRAINT worker_runs_pkey PRIMARY KEY (id);

CREATE INDEX sessions_expires_idx ON app_private.sessions USING btree (expires_at);

CREATE INDEX sessions_user_idx ON app_private.sessions USING btree (user_id, created_at DESC);

CREATE INDEX sign_in_failures_email_idx ON app_private.sign_in_failures USING btree (lower(email), failed_at DESC);

CREATE INDEX admin_audit_log_created_at_idx ON public.admin_audit_log USING btree (created_at DESC, id DESC);

CREATE UNIQUE INDEX generation_groups_idempotency_key_idx ON public.generation_groups USING btree (user_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

CREATE INDEX generation_usage_user_window_idx ON public.generation_usage USING btree (user_id, created_at) WHERE (refunded_at IS NULL);

CREATE INDEX image_generations_completed_runs_idx ON public.image_generations USING btree (model_id, completed_at DESC) INCLUDE (run_started_at, started_at, predict_time_seconds, cost_usd) WHERE ((status = 'completed'::text) AND (completed_at IS NOT NULL));

CREATE INDEX image_generations_costed_idx ON public.image_generations USING btree (created_at) INCLUDE (user_id, model_id, cost_usd) WHERE (cost_usd IS NOT NULL);

CREATE INDEX image_generations_group_idx ON public.image_generations USING btree (group_id, group_position) WHERE (group_id IS NOT NULL);

CREATE UNIQUE INDEX image_generations_idempotency_key_idx ON public.image_generations USING btree (user_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

CREATE INDEX image_generations_model_created_idx ON public.image_generations USING btree (model_id, created_at) INCLUDE (status, started_at, run_started_at, completed_at, predict_time_seconds);

CREATE INDEX image_generations_prediction_idx ON public.image_generations USING btree (prediction_id) WHERE (prediction_id IS NOT NULL);

CREATE INDEX image_generations_processing_model_idx ON public.image_generations USING btree (model_id) WHERE (status = 'processing'::text);

CREATE INDEX image_generations_prompt_trgm_idx ON public.image_generations USING gin (prompt extensions.gin_trgm_ops);

CREATE INDEX image_generations_user_created_idx ON public.image_generations USING btree (user_id, created_at DESC, id DESC);

CREATE INDEX image_generations_user_spend_idx ON public.image_generations USING btree (user_id, created_at) INCLUDE (status, cost_usd, cost_estimate_usd);

CREATE INDEX job_queue_claimed_key_idx ON public.job_queue USING btree (concurrency_key) WHERE ((status = 'processing'::text) AND (concurrency_key IS NOT NULL));

CREATE INDEX job_queue_created_at_id_idx ON public.job_queue USING btree (created_at, id);

CREATE INDEX job_queue_created_by_idx ON public.job_queue USING btree (created_by, created_at DESC) WHERE (created_by IS NOT NULL);

CREATE UNIQUE INDEX job_queue_dedupe_key_active_idx ON public.job_queue USING btree (dedupe_key) WHERE ((dedupe_key IS NOT NULL) AND (status = ANY (ARRAY['pending'::text, 'processing'::text])));

CREATE INDEX job_queue_error_message_trgm_idx ON public.job_queue USING gin (error_message extensions.gin_trgm_ops) WHERE (error_message IS NOT NULL);

CREATE INDEX job_queue_failed_completed_at_idx ON public.job_queue USING btree (completed_at) WHERE (status = 'failed'::text);

CREATE INDEX job_queue_failed_message_idx ON public.job_queue USING btree (md5(COALESCE(error_message, ''::text)), completed_at DESC) WHERE (status = 'failed'::text);

CREATE INDEX job_queue_finished_at_idx ON public.job_queue USING btree (completed_at) WHERE (status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text]));

CREATE INDEX job_queue_key_claim_idx ON public.job_queue USING btree (concurrency_key, priority DESC, scheduled_at, id) WHERE (status = 'pending'::text);

CREATE INDEX job_queue_lane_claim_idx ON public.job_queue USING btree (COALESCE(created_by, '00000000-0000-0000-0000-000000000000'::uuid), priority DESC, scheduled_at, id) WHERE (status = 'pending'::text);

CREATE INDEX job_queue_lane_key_claim_idx ON public.job_queue USING btree (COALESCE(created_by, '00000000-0000-0000-0000-000000000000'::uuid), concurrency_key, priority DESC, scheduled_at, id) WHERE (status = 'pending'::text);

CREATE INDEX job_queue_lanes_turn_idx ON public.job_queue_lanes USING btree (served_seq, lane);

CREATE INDEX job_queue_lease_expired_idx ON public.job_queue USING btree (updated_at) WHERE ((error_details ->> 'reason'::text) = 'lease_expired'::text);

CREATE INDEX job_queue_pending_claim_idx ON public.job_queue USING btree (priority DESC, scheduled_at, id) WHERE (status = 'pending'::text);

CREATE INDEX job_queue_processing_lease_idx ON public.job_queue USING btree (locked_until) WHERE (status = 'processing'::text);

CREATE INDEX job_queue_sort_attempts_idx ON public.job_queue USING btree (attempts, id) WHERE (attempts <> 1);

CREATE INDEX job_queue_sort_priority_idx ON public.job_queue USING btree (priority, id) WHERE (priority <> 0);

CREATE INDEX job_queue_sort_scheduled_idx ON public.job_queue USING btree (scheduled_at, id) WHERE (scheduled_at <> created_at);

CREATE INDEX worker_runs_last_seen_at_idx ON public.worker_runs USING btree (last_seen_at DESC);

CREATE INDEX worker_runs_started_at_idx ON public.worker_runs USING btree (started_at DESC);

CREATE INDEX worker_runs_trigger_id_idx ON public.worker_runs USING btree (trigger, id DESC);

CREATE STATISTICS public.job_queue_status_split_stats (mcv) ON status, attempts, priority, (scheduled_at = created_at) FROM public.job_queue;

CREATE TRIGGER generation_usage_clears_hours AFTER TRUNCATE ON public.generation_usage FOR EACH STATEMENT EXECUTE FUNCTION public.clear_usage_hours();

CREATE TRIGGER generation_usage_counts_hour AFTER INSERT ON public.generation_usage FOR EACH ROW WHEN ((new.refunded_at IS NULL)) EXECUTE FUNCTION public.count_usage_hour();

CREATE TRIGGER generation_usage_recounts_hour AFTER UPDATE OF user_id, created_at, refunded_at ON public.generation_usage FOR EACH ROW WHEN (((new.refunded_at IS NULL) AND ((old.refunded_at IS NOT NULL) OR (old.user_id IS DISTINCT FROM new.user_id) OR (old.created_at IS DISTINCT FROM new.created_at)))) EXECUTE FUNCTION public.count_usage_hour();

CREATE TRIGGER image_generations_cancel_job_on_delete AFTER DELETE ON public.image_generations FOR EACH ROW EXECUTE FUNCTION public.cancel_job_of_deleted_generation();

CREATE TRIGGER image_generations_notify_change AFTER INSERT OR UPDATE ON public.image_generations FOR EACH ROW EXECUTE FUNCTION public.notify_generation_change();

CREATE TRIGGER image_generations_record_usage AFTER INSERT ON public.image_generations FOR EACH ROW EXECUTE FUNCTION public.record_generation_usage();

CREATE TRIGGER image_generations_refresh_slots_on_delete AFTER DELETE ON public.image_generations FOR EACH ROW WHEN ((old.status = 'processing'::text)) EXECUTE FUNCTION public.image_generations_refresh_slots();

CREATE TRIGGER image_generations_refresh_slots_on_insert AFTER INSERT ON public.image_generations FOR EACH ROW WHEN ((new.status = 'processing'::text)) EXECUTE FUNCTION public.image_generations_refresh_slots();

CREATE TRIGGER image_generations_refresh_slots_on_status AFTER UPDATE OF status, model_id ON public.image_generations FOR EACH ROW WHEN ((((old.status = 'processing'::text) IS DISTINCT FROM (new.status = 'processing'::text)) OR ((new.status = 'processing'::text) AND (old.model_id IS DISTINCT FROM new.model_id)))) EXECUTE FUNCTION public.image_generations_refresh_slots();

CREATE TRIGGER image_generations_track_change BEFORE UPDATE ON public.image_generations FOR EACH ROW EXECUTE FUNCTION public.track_generation_change();

CREATE TRIGGER image_generations_track_usage AFTER UPDATE OF status ON public.image_generations FOR EACH ROW WHEN ((new.status IS DISTINCT FROM old.status)) EXECUTE FUNCTION public.track_generation_usage();

CREATE TRIGGER job_queue_generation_key_on_insert BEFORE INSERT ON public.job_queue FOR EACH ROW WHEN ((new.job_type = 'generate-image'::text)) EXECUTE FUNCTION public.job_queue_generation_key();

CREATE TRIGGER job_queue_generation_key_on_return BEFORE UPDATE OF status ON public.job_queue FOR EACH ROW WHEN (((new.job_type = 'generate-image'::text) AND (new.status = 'pending'::text) AND (old.status IS DISTINCT FROM 'pending'::text))) EXECUTE FUNCTION public.job_queue_generation_key();

CREATE TRIGGER job_queue_lanes_back_to_pending AFTER UPDATE OF status, created_by ON public.job_queue FOR EACH ROW WHEN (((new.status = 'pending'::text) AND ((old.status <> 'pending'::text) OR (old.created_by IS DISTINCT FROM new.created_by)))) EXECUTE FUNCTION public.job_queue_lanes_after_pending();

CREATE TRIGGER job_queue_lanes_on_insert AFTER INSERT ON public.job_queue FOR EACH ROW WHEN ((new.status = 'pending'::text)) EXECUTE FUNCTION public.job_queue_lanes_after_pending();

CREATE TRIGGER job_queue_notify_inserted AFTER INSERT ON public.job_queue FOR EACH STATEMENT EXECUTE FUNCTION public.notify_job_inserted();

CREATE TRIGGER job_queue_paused_types_mark_generations AFTER INSERT OR DELETE ON public.job_queue_paused_types FOR EACH ROW EXECUTE FUNCTION public.mark_generations_paused();

CREATE TRIGGER job_queue_settle_manual_update BEFORE UPDATE ON public.job_queue FOR EACH ROW WHEN ((((new.status <> 'processing'::text) AND ((new.locked_by IS NOT NULL) OR (new.locked_until IS NOT NULL))) OR ((new.status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])) AND (new.completed_at IS NULL)))) EXECUTE FUNCTION public.job_queue_settle_manual_update();

CREATE TRIGGER job_queue_settled_change AFTER UPDATE ON public.job_queue FOR EACH ROW WHEN (((old.status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])) OR ((new.status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])) AND (new.completed_at <= (clock_timestamp() - '00:00:05'::interval))))) EXECUTE FUNCTION public.track_settled_job_change();

CREATE TRIGGER job_queue_settled_delete AFTER DELETE ON public.job_queue REFERENCING OLD TABLE AS deleted_jobs FOR EACH STATEMENT EXECUTE FUNCTION public.track_settled_job_delete();

CREATE TRIGGER job_queue_settled_insert AFTER INSERT ON public.job_queue FOR EACH ROW WHEN (((new.status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])) AND (new.completed_at <= (clock_timestamp() - '00:00:05'::interval)))) EXECUTE FUNCTION public.track_settled_job_change();

CREATE TRIGGER job_queue_settled_truncate AFTER TRUNCATE ON public.job_queue FOR EACH STATEMENT EXECUTE FUNCTION public.clear_settled_totals();

CREATE TRIGGER job_queue_sync_generation AFTER UPDATE OF status ON public.job_queue FOR EACH ROW WHEN (((new.job_type = 'generate-image'::text) AND (new.status IS DISTINCT FROM old.status) AND ((new.status = ANY (ARRAY['failed'::text, 'cancelled'::text])) OR ((new.status = 'pending'::text) AND (old.status = ANY (ARRAY['failed'::text, 'cancelled'::text, 'processing'::text])))))) EXECUTE FUNCTION public.sync_generation_with_job();

CREATE TRIGGER models_refresh_slots_on_change AFTER UPDATE OF max_concurrency, enabled ON public.models FOR EACH ROW WHEN (((old.max_concurrency IS DISTINCT FROM new.max_concurrency) OR (old.enabled IS DISTINCT FROM new.enabled))) EXECUTE FUNCTION public.models_refresh_slots();

CREATE TRIGGER models_refresh_slots_on_delete AFTER DELETE ON public.models FOR EACH ROW EXECUTE FUNCTION public.models_refresh_slots();

CREATE TRIGGER models_refresh_slots_on_insert AFTER INSERT ON public.models FOR EACH ROW EXECUTE FUNCTION public.models_refresh_slots();

ALTER TABLE ONLY app_private.sessions
    ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.admin_audit_log
    ADD CONSTRAINT admin_audit_log_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES auth.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.generation_groups
    ADD CONSTRAINT generation_groups_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.generation_usage_hours
    ADD CONSTRAINT generation_usage_hours_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.generation_usage
    ADD CONSTRAINT generation_usage_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.image_generations
    ADD CONSTRAINT image_generations_group_id_fkey FOREIGN KEY (group_id) REFERENCES public.generation_groups(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.image_generations
    ADD CONSTRAINT image_generations_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.job_queue(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.image_generations
    ADD CONSTRAINT image_generations_model_id_fkey FOREIGN KEY (model_id) REFERENCES public.models(id);

ALTER TABLE ONLY public.image_generations
    ADD CONSTRAINT image_generations_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.job_queue
    ADD CONSTRAINT job_queue_created_by_fkey FOREIGN KEY (created_by) REFERENCES auth.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.job_queue_paused_types
    ADD CONSTRAINT job_queue_paused_types_paused_by_fkey FOREIGN KEY (paused_by) REFERENCES auth.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.generation_groups
    ADD CONSTRAINT kept_generation_fk FOREIGN KEY (kept_generation_id) REFERENCES public.image_generations(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.model_generation_totals
    ADD CONSTRAINT model_generation_totals_model_id_fkey FOREIGN KEY (model_id) REFERENCES public.models(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.user_limits
    ADD CONSTRAINT user_limits_updated_by_fkey FOREIGN KEY (updated_by) REFERENCES auth.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.user_limits
    ADD CONSTRAINT user_limits_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

ALTER TABLE app_private.sessions ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Anyone can read the catalogue" ON public.models FOR SELECT TO anon, authenticated USING (true);

CREATE POLICY "Service role has full access" ON public.admin_audit_log TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.alert_state TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.generation_groups TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.generation_usage TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.generation_usage_hours TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.image_generations TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.job_queue TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.job_queue_concurrency_limits TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.job_queue_fold_state TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.job_queue_lanes TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.job_queue_paused_types TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.job_queue_settled_hourly TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.job_queue_settled_totals TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.model_generation_totals TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.models TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.queue_maintenance TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.user_limits TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.webhook_deliveries TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Service role has full access" ON public.worker_runs TO service_role USING (true) WITH CHECK (true);

CREATE POLICY "Signed-in users can read the watermark" ON public.job_queue_fold_state FOR SELECT TO authenticated USING (true);

CREATE POLICY "Users can view their own generations" ON public.image_generations FOR SELECT TO authenticated USING ((user_id = auth.uid()));

CREATE POLICY "Users can view their own groups" ON public.generation_groups FOR SELECT TO authenticated USING ((user_id = auth.uid()));

CREATE POLICY "Users can view their own jobs" ON public.job_queue FOR SELECT TO authenticated USING ((created_by = auth.uid()));

CREATE POLICY "Users can view their own limits" ON public.user_limits FOR SELECT TO authenticated USING ((user_id = auth.uid()));

CREATE POLICY "Users can view their own totals" ON public.job_queue_settled_totals FOR SELECT TO authenticated USING ((created_by = auth.uid()));

CREATE POLICY "Users can view their own usage" ON public.generation_usage FOR SELECT TO authenticated USING ((user_id = auth.uid()));

ALTER TABLE public.admin_audit_log ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.alert_state ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.generation_groups ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.generation_usage ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.generation_usage_hours ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.image_generations ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.job_queue ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.job_queue_concurrency_limits ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.job_queue_fold_state ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.job_queue_lanes ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.job_queue_paused_types ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.job_queue_settled_hourly ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.job_queue_settled_totals ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.model_generation_totals ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.models ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.queue_maintenance ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.user_limits ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.webhook_deliveries ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.worker_runs ENABLE ROW LEVEL SECURITY;
