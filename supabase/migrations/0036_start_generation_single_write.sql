-- 0036 start_generation writes its generation once: the job is enqueued first under an id chosen for the generation, which is then inserted with its job_id.

-- 0027's start inserted the generation, enqueued its job, then updated the generation with the
-- job's id: a second version of the row, every index of image_generations written twice and its
-- update triggers run, 0.5 ms of a 6 ms start under 50 clients (pg_stat_statements). Same checks,
-- same answers, same locks and order of checks as 0027 (its header is the rule).
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
