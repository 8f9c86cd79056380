-- 0017 honest generation states: usage that deleting cannot refund, a generation that says it is
-- retrying or paused when it is, failures by class (the raw error stays with the job, for the
-- console), render time per attempt, and a per-model time limit for one attempt.

-- What a user has used, kept apart from the generations so deleting one gives nothing back. A
-- generation counts from the moment it is queued; it is refunded only if it ends (cancelled or
-- failed) without ever having started, and counts again if an operator puts it back in line.
create table public.generation_usage (
  generation_id uuid primary key,
  user_id       uuid not null references auth.users (id) on delete cascade,
  created_at    timestamptz not null default now(),
  refunded_at   timestamptz
);
-- get_user_limits counts a user's unrefunded usage in the last hour and day.
create index generation_usage_user_window_idx on public.generation_usage (user_id, created_at)
  where refunded_at is null;
alter table public.generation_usage enable row level security;
create policy "Users can view their own usage" on public.generation_usage
  for select to authenticated using (user_id = auth.uid());
create policy "Service role has full access" on public.generation_usage
  for all to service_role using (true) with check (true);
revoke all on public.generation_usage from anon, authenticated;
grant select on public.generation_usage to authenticated;
grant all on public.generation_usage to service_role;

-- Everything already made counts as it did before (failed ones did not).
insert into public.generation_usage (generation_id, user_id, created_at, refunded_at)
select id, user_id, created_at, case when status = 'failed' or (status = 'cancelled' and started_at is null) then now() end
from public.image_generations
on conflict (generation_id) do nothing;

alter table public.image_generations
  add column failure_class  text,
  add column retry_at       timestamptz,
  add column attempts_used  integer not null default 0,
  add column max_attempts   integer not null default 3,
  add column run_started_at timestamptz,
  add column queue_paused   boolean not null default false,
  add constraint failure_class_valid check (failure_class is null or failure_class in (
    'storage', 'input', 'safety', 'provider', 'model', 'timeout', 'worker_lost', 'unavailable',
    'cancelled_by_operator', 'internal'));

-- The attempt limit, per model: past it an attempt is abandoned, counted and retried.
alter table public.models
  add column attempt_timeout_seconds integer not null default 300,
  add constraint attempt_timeout_in_range check (attempt_timeout_seconds between 10 and 86400);

update public.models set description = 'Built-in and fast. Draws an abstract landscape from the words of your prompt and the seed: it does not draw what the prompt asks for. No network needed.'
where id = 'local/preview';
update public.models set description = 'Built-in, slower, with more layers of detail. Like the preview, it paints a landscape from your words and the seed, not the scene you describe.'
where id = 'local/detailed';

-- The limits of a user without an override, written once: get_user_limits applies them and the
-- console shows them.
create function public.default_user_limits(out hourly integer, out daily integer)
language sql immutable set search_path = public, pg_temp as $$
  select 20, 100;
$$;
grant execute on function public.default_user_limits() to authenticated, service_role;

create or replace function public.get_user_limits(p_user_id uuid) returns jsonb
language sql stable security definer set search_path = public, pg_temp as $$
  with limits as (
    select coalesce(l.hourly_limit, d.hourly) as hourly_limit, coalesce(l.daily_limit, d.daily) as daily_limit
    from default_user_limits() d
    left join user_limits l on l.user_id = p_user_id
  ), usage as (
    select count(*) filter (where u.created_at > now() - interval '1 hour') as hourly_used,
           count(*) as daily_used,
           min(u.created_at) filter (where u.created_at > now() - interval '1 hour') as oldest_in_hour,
           min(u.created_at) as oldest_in_day
    from generation_usage u
    where u.user_id = p_user_id and u.created_at > now() - interval '1 day' and u.refunded_at is null
  )
  select jsonb_build_object(
    'can_generate', u.hourly_used < l.hourly_limit and u.daily_used < l.daily_limit,
    'daily_limit', l.daily_limit,
    'daily_used', u.daily_used,
    'hourly_limit', l.hourly_limit,
    'hourly_used', u.hourly_used,
    -- When the next slot frees up, for Retry-After; null for a blocked account (a limit of 0 never frees up).
    'retry_after_seconds', case
      when l.daily_limit = 0 or l.hourly_limit = 0 then null
      -- Bounded by the window: a concurrent start may have committed with a later now() than ours.
      when u.daily_used >= l.daily_limit then
        least(86400, greatest(1, ceil(extract(epoch from (u.oldest_in_day + interval '1 day' - now())))))::integer
      when u.hourly_used >= l.hourly_limit then
        least(3600, greatest(1, ceil(extract(epoch from (u.oldest_in_hour + interval '1 hour' - now())))))::integer
      end,
    'blocked', l.daily_limit = 0 or l.hourly_limit = 0)
  from limits l, usage u
  -- Callers with claims (RLS-scoped sessions) see only their own limits.
  where auth.uid() is null or auth.uid() = p_user_id;
$$;

create or replace function public.start_generation(
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
  v_timeout  integer;
begin
  -- A signed-in caller may only start generations for themselves.
  if auth.uid() is not null and auth.uid() <> p_user_id then
    raise exception 'start_generation: cannot start a generation for another user' using errcode = '42501';
  end if;
  select attempt_timeout_seconds into v_timeout from models where id = p_model_id and enabled;
  if not found then
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

  insert into image_generations (user_id, prompt, negative_prompt, model_id, width, height, seed, params, idempotency_key,
                                 queue_paused)
  values (p_user_id, btrim(p_prompt), nullif(btrim(p_negative_prompt), ''), p_model_id, p_width, p_height, p_seed,
          coalesce(p_params, '{}'::jsonb), p_idempotency_key,
          exists (select 1 from job_queue_paused_types where job_type = 'generate-image'))
  returning id into v_id;

  v_job_id := enqueue_job('generate-image',
                          jsonb_build_object('generation_id', v_id, 'model_id', p_model_id, 'attempt_timeout_seconds', v_timeout),
                          0, now(), 3, 'generation:' || v_id, p_user_id);
  update image_generations set job_id = v_job_id where id = v_id;

  return jsonb_build_object('outcome', 'created', 'generation_id', v_id, 'job_id', v_job_id, 'status', 'queued');
end;
$$;

-- A generation's job carries it along, whichever code path changed the job: an attempt that failed
-- with attempts left (or whose worker died) puts it back in line, saying when it retries and why;
-- a job that ends badly ends it with the failure's class; an operator's retry queues it afresh.
-- A snooze (a remote prediction still running) gives back its attempt and changes nothing here.
create or replace function public.sync_generation_with_job() returns trigger
language plpgsql as $$
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
$$;

drop trigger job_queue_sync_generation on public.job_queue;
create trigger job_queue_sync_generation
  after update of status on public.job_queue
  for each row
  when (new.job_type = 'generate-image' and new.status is distinct from old.status
        and (new.status in ('failed', 'cancelled')
             or (new.status = 'pending' and old.status in ('failed', 'cancelled', 'processing'))))
  execute function public.sync_generation_with_job();

-- Every generation counts from the moment it exists, however it was inserted.
create function public.record_generation_usage() returns trigger
language plpgsql as $$
begin
  insert into public.generation_usage (generation_id, user_id, created_at, refunded_at)
  values (new.id, new.user_id, new.created_at,
          case when new.status in ('cancelled', 'failed') and new.started_at is null then now() end)
  on conflict (generation_id) do nothing;
  return null;
end;
$$;

create trigger image_generations_record_usage
  after insert on public.image_generations
  for each row execute function public.record_generation_usage();

-- Usage follows what happened: refunded when a generation ends without having run, charged again
-- when it is put back in line. Deleting the generation leaves its usage row alone.
create function public.track_generation_usage() returns trigger
language plpgsql as $$
begin
  if new.status in ('cancelled', 'failed') and new.started_at is null then
    update public.generation_usage set refunded_at = now() where generation_id = new.id and refunded_at is null;
  elsif new.status in ('queued', 'processing') and old.status in ('cancelled', 'failed') then
    update public.generation_usage set refunded_at = null where generation_id = new.id and refunded_at is not null;
  end if;
  return null;
end;
$$;

create trigger image_generations_track_usage
  after update of status on public.image_generations
  for each row when (new.status is distinct from old.status)
  execute function public.track_generation_usage();

-- A paused generate-image queue is something its waiting users can see (and are told of live).
create function public.mark_generations_paused() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' and new.job_type = 'generate-image' then
    update public.image_generations set queue_paused = true where status = 'queued' and not queue_paused;
  elsif tg_op = 'DELETE' and old.job_type = 'generate-image' then
    update public.image_generations set queue_paused = false where queue_paused;
  end if;
  return null;
end;
$$;

create trigger job_queue_paused_types_mark_generations
  after insert or delete on public.job_queue_paused_types
  for each row execute function public.mark_generations_paused();

-- Every change a browser should see bumps event_seq (the SSE event id): now also retries, pauses
-- and failure classes.
create or replace function public.track_generation_change() returns trigger
language plpgsql as $$
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

-- Admission starts this attempt's clock (run_started_at); started_at stays the first one.
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
  select * into v_generation from image_generations where id = p_generation_id;
  if not found or v_generation.status not in ('queued', 'processing') then
    return 'lost';
  end if;
  if v_generation.status = 'processing' then
    return 'admitted'; -- resumed after a snooze: it holds its slot
  end if;
  perform pg_advisory_xact_lock(hashtextextended('model-slots:' || v_generation.model_id, 0));
  select max_concurrency into v_limit from models where id = v_generation.model_id;
  select count(*) into v_running from image_generations
  where model_id = v_generation.model_id and status = 'processing';
  if v_running >= coalesce(v_limit, 1) then
    return 'busy';
  end if;
  update image_generations
  set status = 'processing', started_at = coalesce(started_at, now()), run_started_at = now(), retry_at = null,
      queue_paused = false, failure_class = null
  where id = p_generation_id and status = 'queued';
  return case when found then 'admitted' else 'lost' end;
end;
$$;

-- Render time is this attempt's (run_started_at), so waiting out a retry or a cancel is not rendering;
-- the average and the p95 come from the same completed runs.
drop index public.image_generations_model_created_idx;
create index image_generations_model_created_idx on public.image_generations (model_id, created_at)
  include (status, started_at, run_started_at, completed_at, predict_time_seconds);

create or replace function public.model_generation_stats(p_days integer default 7)
returns table (
  model_id           text,
  generations_recent bigint,
  generations_total  bigint,
  completed_recent   bigint,
  failed_recent      bigint,
  success_rate       numeric,
  avg_seconds        numeric,
  p95_seconds        numeric,
  predict_seconds    numeric,
  cost               numeric,
  running            bigint
)
language plpgsql volatile set search_path = public, pg_temp as $$
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

-- Runs started before this migration: their attempt began when they did.
update public.image_generations set run_started_at = started_at where run_started_at is null and started_at is not null;

revoke execute on function public.record_generation_usage(), public.track_generation_usage(), public.mark_generations_paused() from public, anon, authenticated;
