-- 0007 limits and start_generation: check limits, create the generation and enqueue its job in one
-- transaction, serialised per user so concurrent requests can never exceed a limit.

create function public.get_user_limits(p_user_id uuid) returns jsonb
language sql stable security definer set search_path = public, pg_temp as $$
  with limits as (
    select coalesce(l.hourly_limit, 20) as hourly_limit, coalesce(l.daily_limit, 100) as daily_limit
    from (select 1) as one
    left join user_limits l on l.user_id = p_user_id
  ), usage as (
    select count(*) filter (where g.created_at > now() - interval '1 hour') as hourly_used,
           count(*) as daily_used,
           min(g.created_at) filter (where g.created_at > now() - interval '1 hour') as oldest_in_hour,
           min(g.created_at) as oldest_in_day
    from image_generations g
    where g.user_id = p_user_id and g.created_at > now() - interval '1 day' and g.status <> 'failed'
  )
  select jsonb_build_object(
    'can_generate', u.hourly_used < l.hourly_limit and u.daily_used < l.daily_limit,
    'daily_limit', l.daily_limit,
    'daily_used', u.daily_used,
    'hourly_limit', l.hourly_limit,
    'hourly_used', u.hourly_used,
    -- When the next slot frees up, for Retry-After.
    'retry_after_seconds', case
      when u.daily_used >= l.daily_limit then
        greatest(1, ceil(extract(epoch from (u.oldest_in_day + interval '1 day' - now()))))::integer
      when u.hourly_used >= l.hourly_limit then
        greatest(1, ceil(extract(epoch from (u.oldest_in_hour + interval '1 hour' - now()))))::integer
      end)
  from limits l, usage u
  -- Callers with claims (RLS-scoped sessions) see only their own limits.
  where auth.uid() is null or auth.uid() = p_user_id;
$$;

create function public.start_generation(
  p_user_id         uuid,
  p_prompt          text,
  p_model_id        text,
  p_width           integer,
  p_height          integer,
  p_seed            bigint,
  p_negative_prompt text default null,
  p_idempotency_key text default null,
  p_params          jsonb default '{}'::jsonb
) returns jsonb
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_existing image_generations;
  v_limits   jsonb;
  v_id       uuid;
  v_job_id   uuid;
begin
  -- A signed-in caller may only start generations for themselves.
  if auth.uid() is not null and auth.uid() <> p_user_id then
    raise exception 'start_generation: cannot start a generation for another user' using errcode = '42501';
  end if;
  if not exists (select 1 from models where id = p_model_id and enabled) then
    raise exception 'start_generation: model % does not exist or is disabled', p_model_id using errcode = '22023';
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

  insert into image_generations (user_id, prompt, negative_prompt, model_id, width, height, seed, params, idempotency_key)
  values (p_user_id, btrim(p_prompt), nullif(btrim(p_negative_prompt), ''), p_model_id, p_width, p_height, p_seed,
          coalesce(p_params, '{}'::jsonb), p_idempotency_key)
  returning id into v_id;

  v_job_id := enqueue_job('generate-image',
                          jsonb_build_object('generation_id', v_id, 'model_id', p_model_id),
                          0, now(), 3, 'generation:' || v_id, p_user_id);
  update image_generations set job_id = v_job_id where id = v_id;

  return jsonb_build_object('outcome', 'created', 'generation_id', v_id, 'job_id', v_job_id, 'status', 'queued');
end;
$$;

revoke execute on function public.get_user_limits(uuid), public.start_generation(uuid, text, text, integer, integer, bigint, text, text, jsonb)
  from public, anon;
grant execute on function public.get_user_limits(uuid), public.start_generation(uuid, text, text, integer, integer, bigint, text, text, jsonb)
  to authenticated, service_role;

-- Replicate delivers webhooks at least once: remember which deliveries were applied.
create table public.webhook_deliveries (
  id          text primary key,
  source      text not null,
  received_at timestamptz not null default now()
);
alter table public.webhook_deliveries enable row level security;
create policy "Service role has full access" on public.webhook_deliveries for all to service_role using (true) with check (true);
revoke all on public.webhook_deliveries from anon, authenticated;
grant all on public.webhook_deliveries to service_role;
