-- 0027 what generations cost, and per-user money budgets enforced where the rate limits are.
--
-- Cost: a completed generation records cost_usd = its model's seconds (Replicate's metrics.predict_time,
-- the local model's compute time) x a price per second: the model's catalogue price (models.cost_per_second,
-- editable in the console), or the price the app passes for its own hardware (LOCAL_MODEL_PRICE_PER_SECOND_USD).
-- Null when the price or the time is unknown.
--
-- Budgets: user_limits.daily_budget_usd / monthly_budget_usd (null: no budget), per UTC day and month.
-- Spent = recorded costs + the estimates of the generations still queued or running (cost_estimate_usd,
-- written by start_generation), so concurrent starts cannot outrun a budget while their costs are
-- unknown. Like the counts, a budget is checked before a start (spent < budget): the start that takes
-- spending to or past the budget is the last one.

alter table public.image_generations
  add column cost_usd          numeric(14, 6),
  add column cost_estimate_usd numeric(14, 6),
  add constraint cost_usd_not_negative check (cost_usd is null or cost_usd >= 0),
  add constraint cost_estimate_not_negative check (cost_estimate_usd is null or cost_estimate_usd >= 0);

alter table public.user_limits
  add column daily_budget_usd   numeric(12, 4),
  add column monthly_budget_usd numeric(12, 4),
  add constraint daily_budget_in_range check (daily_budget_usd is null or daily_budget_usd between 0 and 1000000),
  add constraint monthly_budget_in_range check (monthly_budget_usd is null or monthly_budget_usd between 0 and 1000000);

-- A user's spending this month in one index range (the costs read from the index, no heap visits).
create index image_generations_user_spend_idx on public.image_generations (user_id, created_at)
  include (status, cost_usd, cost_estimate_usd);

-- What a generation of this model will probably cost: the price x the median model time of its last
-- 50 completed runs (10 s before any), else (no catalogue price: the local model) the median of their
-- recorded costs, else 0. Reads at most 50 entries of image_generations_model_created_idx backwards.
create function public.generation_cost_estimate(p_model_id text, p_price numeric) returns numeric
language sql stable set search_path = public, pg_temp as $$
  with recent as (
    select g.predict_time_seconds, g.cost_usd from image_generations g
    where g.model_id = p_model_id and g.status = 'completed'
    order by g.created_at desc limit 50
  )
  select round(coalesce(
    p_price * coalesce((select percentile_cont(0.5) within group (order by predict_time_seconds) from recent)::numeric, 10),
    (select percentile_cont(0.5) within group (order by cost_usd) from recent)::numeric,
    0), 6);
$$;
revoke execute on function public.generation_cost_estimate(text, numeric) from public, anon, authenticated;
grant execute on function public.generation_cost_estimate(text, numeric) to service_role;

-- As 0017, plus the money budgets: spent, remaining and reset time per period; can_generate is false
-- when one ran out, and budget_exhausted names it ('daily' or 'monthly').
create or replace function public.get_user_limits(p_user_id uuid) returns jsonb
language sql stable security definer set search_path = public, pg_temp as $$
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
  where auth.uid() is null or auth.uid() = p_user_id;
$$;

-- As 0016, plus the cost: p_price_per_second (the app's price for its own hardware) or the model's
-- catalogue price, times the model seconds.
drop function public.complete_generation(uuid, uuid, text, integer, text, text, text, integer, numeric, text);
create function public.complete_generation(
  p_generation_id      uuid,
  p_job_id             uuid,
  p_worker_id          text,
  p_claim_count        integer,
  p_image_path         text,
  p_thumbnail_path     text,
  p_content_type       text,
  p_image_bytes        integer,
  p_predict_seconds    numeric,
  p_prediction_id      text,
  p_price_per_second   numeric default null
) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
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
revoke execute on function public.complete_generation(uuid, uuid, text, integer, text, text, text, integer, numeric, text, numeric)
  from public, anon, authenticated;
grant execute on function public.complete_generation(uuid, uuid, text, integer, text, text, text, integer, numeric, text, numeric)
  to service_role;

-- As 0024, plus the cost estimate recorded on the generation (the budgets count it while in flight).
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
  v_limits   jsonb;
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

  v_limits := get_user_limits(p_user_id);
  if not (v_limits ->> 'can_generate')::boolean then
    return jsonb_build_object('outcome', 'rate_limited', 'limits', v_limits);
  end if;

  -- Counted against the money budgets until the real cost replaces it at completion.
  v_estimate := generation_cost_estimate(v_model.id, v_model.cost_per_second);

  if p_defer_wake then
    perform set_config('picture.defer_wake', 'on', true);
  end if;

  insert into image_generations (user_id, prompt, negative_prompt, model_id, width, height, seed, params, idempotency_key,
                                 queue_paused, cost_estimate_usd)
  values (p_user_id, btrim(p_prompt), nullif(btrim(p_negative_prompt), ''), p_model_id, p_width, p_height, p_seed,
          coalesce(p_params, '{}'::jsonb), p_idempotency_key,
          exists (select 1 from job_queue_paused_types where job_type = 'generate-image'), v_estimate)
  returning id into v_id;

  v_job_id := enqueue_job('generate-image',
                          jsonb_build_object('generation_id', v_id, 'model_id', p_model_id,
                                             'attempt_timeout_seconds', v_model.attempt_timeout_seconds),
                          0, now(), 3, 'generation:' || v_id, p_user_id);
  update image_generations set job_id = v_job_id where id = v_id;

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

-- The console's cost page (per day, per user, per model over 30 days) reads only costed generations,
-- from the index alone.
create index image_generations_costed_idx on public.image_generations (created_at)
  include (user_id, model_id, cost_usd) where cost_usd is not null;
