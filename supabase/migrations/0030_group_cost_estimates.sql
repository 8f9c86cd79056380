-- 0030 group budgets: a group's pictures carry their cost estimates (so money budgets count them while in flight) and a budget admits a group only as it would admit its pictures one by one.

-- As 0028, plus: each member's estimate (0027's generation_cost_estimate) recorded on its generation,
-- and the money budgets checked for the whole group. Counts and budgets stay all or nothing.
create or replace function public.start_generation_group(
  p_user_id         uuid,
  p_prompt          text,
  p_width           integer,
  p_height          integer,
  p_members         jsonb,
  p_negative_prompt text default null,
  p_idempotency_key text default null,
  p_defer_wake      boolean default false,
  p_providers       text[] default null
) returns jsonb
language plpgsql volatile security definer set search_path = public, pg_temp as $$
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
