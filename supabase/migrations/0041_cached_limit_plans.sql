-- 0041 a start checks its limits with plans the session keeps, and counts no further than the limits.

-- Postgres 15-17 plan the body of a SQL function that cannot be inlined (these two: security
-- definer, or a CTE with aggregates) afresh on every call; PL/pgSQL keeps each statement's plan for
-- the session. Under 50 clients, pg_stat_user_functions put 0.97 ms of start_generation's 2.35 ms
-- in get_user_limits, whose one statement ran in 0.24 ms: the rest was planning. Same queries, same
-- answers, same volatility and privileges; only the language changes.
--
-- A start needs only can_generate. get_user_limits also counts every unrefunded use of the day and
-- sums every cost of the month, for the numbers it shows, which grows with the user's history.
-- may_start_generation answers can_generate alone: it counts the day's uses newest first and stops
-- at the daily limit (at or past it, the answer is no whatever the rest; under it, every use of the
-- hour is among those read), and leaves the money to get_user_limits when a budget is set. The
-- 429's body is still get_user_limits, read once the answer is no.

create or replace function public.get_user_limits(p_user_id uuid) returns jsonb
language plpgsql stable security definer set search_path = public, pg_temp as $$
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

create or replace function public.generation_cost_estimate(p_model_id text, p_price numeric) returns numeric
language plpgsql stable set search_path = public, pg_temp as $$
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

create or replace function public.may_start_generation(p_user_id uuid) returns boolean
language plpgsql stable security definer set search_path = public, pg_temp as $$
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
revoke execute on function public.may_start_generation(uuid) from public, anon, authenticated;
grant execute on function public.may_start_generation(uuid) to service_role;

-- As 0036, but for the limit check (may_start_generation, then get_user_limits only for a no).
create or replace function public.start_generation(
  p_user_id         uuid,
  p_prompt          text,
  p_model_id        text,
  p_width           integer,
  p_height          integer,
  p_seed            bigint,
  p_negative_prompt text default null,
  p_idempotency_key text default null,
  p_params          jsonb default '{}'::jsonb,
  p_defer_wake      boolean default false,
  p_providers       text[] default null
) returns jsonb
language plpgsql volatile security definer set search_path = public, pg_temp as $$
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

revoke execute on function public.start_generation(uuid, text, text, integer, integer, bigint, text, text, jsonb, boolean, text[])
  from public, anon;
grant execute on function public.start_generation(uuid, text, text, integer, integer, bigint, text, text, jsonb, boolean, text[])
  to authenticated, service_role;
