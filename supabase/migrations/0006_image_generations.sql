-- 0006 image_generations and limits: one row per user request, started atomically with its job.

create table public.image_generations (
  id                   uuid primary key default gen_random_uuid(),
  user_id              uuid not null references auth.users (id) on delete cascade,
  prompt               text not null,
  negative_prompt      text,
  model_id             text not null references public.models (id),
  width                integer not null,
  height               integer not null,
  seed                 bigint not null,
  params               jsonb not null default '{}'::jsonb,
  status               text not null default 'queued',
  progress             integer not null default 0,
  job_id               uuid references public.job_queue (id) on delete set null,
  prediction_id        text,
  image_path           text,
  thumbnail_path       text,
  image_content_type   text,
  image_bytes          integer,
  predict_time_seconds numeric(10, 3),
  error_message        text,
  idempotency_key      text,
  history              jsonb not null default '[]'::jsonb,
  event_seq            bigint not null default 1,
  created_at           timestamptz not null default now(),
  started_at           timestamptz,
  completed_at         timestamptz,
  updated_at           timestamptz not null default now(),

  constraint status_valid check (status in ('queued', 'processing', 'completed', 'failed', 'cancelled')),
  constraint prompt_length check (char_length(btrim(prompt)) between 1 and 2000),
  constraint negative_prompt_length check (negative_prompt is null or char_length(negative_prompt) <= 2000),
  constraint size_positive check (width between 64 and 4096 and height between 64 and 4096),
  constraint seed_not_negative check (seed >= 0),
  constraint progress_in_range check (progress between 0 and 100),
  constraint idempotency_key_length check (idempotency_key is null or char_length(idempotency_key) between 1 and 255),
  constraint completed_has_image check (status <> 'completed' or image_path is not null)
);

-- A user's history, newest first, paged by (created_at, id).
create index image_generations_user_created_idx on public.image_generations (user_id, created_at desc, id desc);
-- Same idempotency key from the same user: same generation.
create unique index image_generations_idempotency_key_idx
  on public.image_generations (user_id, idempotency_key) where idempotency_key is not null;
-- Webhooks find their generation by prediction id.
create index image_generations_prediction_idx on public.image_generations (prediction_id) where prediction_id is not null;
-- Per-model concurrency counts running generations.
create index image_generations_processing_model_idx on public.image_generations (model_id) where status = 'processing';

-- Per-user overrides of the default limits (20 an hour, 100 a day).
create table public.user_limits (
  user_id      uuid primary key references auth.users (id) on delete cascade,
  hourly_limit integer,
  daily_limit  integer,
  updated_at   timestamptz not null default now(),
  updated_by   uuid references auth.users (id) on delete set null,
  constraint hourly_limit_not_negative check (hourly_limit is null or hourly_limit >= 0),
  constraint daily_limit_not_negative check (daily_limit is null or daily_limit >= 0)
);

-- Every change a browser should see bumps event_seq (the SSE event id) and, for a status change,
-- appends to history; then the change is announced by id only.
create function public.track_generation_change() returns trigger
language plpgsql as $$
begin
  if new.status is distinct from old.status or new.progress is distinct from old.progress
     or new.image_path is distinct from old.image_path or new.error_message is distinct from old.error_message then
    new.event_seq := old.event_seq + 1;
  end if;
  if new.status is distinct from old.status then
    new.history := old.history || jsonb_build_array(jsonb_build_object('status', new.status, 'at', now()));
  end if;
  new.updated_at := now();
  return new;
end;
$$;

create trigger image_generations_track_change
  before update on public.image_generations
  for each row execute function public.track_generation_change();

create function public.notify_generation_change() returns trigger
language plpgsql as $$
begin
  perform pg_notify('generation_events', new.id::text);
  return null;
end;
$$;

create trigger image_generations_notify_change
  after insert or update on public.image_generations
  for each row execute function public.notify_generation_change();

-- A generate-image job that ends badly (failures, reaping, an operator's cancel) or is retried by an
-- operator carries its generation with it, whichever code path changed the job.
create function public.sync_generation_with_job() returns trigger
language plpgsql as $$
declare
  -- A malformed payload must not break the queue function that changed the job: match as text.
  v_generation_id uuid := case
    when new.payload ->> 'generation_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then (new.payload ->> 'generation_id')::uuid end;
begin
  if new.status in ('failed', 'cancelled') then
    update public.image_generations
    set status = case when new.status = 'failed' then 'failed' else 'cancelled' end,
        error_message = case when new.status = 'failed' then coalesce(new.error_message, 'The generation failed') else error_message end,
        completed_at = now()
    where id = v_generation_id and status in ('queued', 'processing');
  elsif new.status = 'pending' and old.status in ('failed', 'cancelled') then
    update public.image_generations
    set status = 'queued', progress = 0, error_message = null, completed_at = null
    where id = v_generation_id and status in ('failed', 'cancelled');
  end if;
  return null;
end;
$$;

create trigger job_queue_sync_generation
  after update of status on public.job_queue
  for each row
  when (new.job_type = 'generate-image' and new.status is distinct from old.status
        and (new.status in ('failed', 'cancelled') or (new.status = 'pending' and old.status in ('failed', 'cancelled'))))
  execute function public.sync_generation_with_job();

alter table public.image_generations enable row level security;
alter table public.user_limits enable row level security;
create policy "Users can view their own generations" on public.image_generations
  for select to authenticated using (user_id = auth.uid());
create policy "Service role has full access" on public.image_generations
  for all to service_role using (true) with check (true);
create policy "Users can view their own limits" on public.user_limits
  for select to authenticated using (user_id = auth.uid());
create policy "Service role has full access" on public.user_limits
  for all to service_role using (true) with check (true);
revoke all on public.image_generations, public.user_limits from anon, authenticated;
grant select on public.image_generations, public.user_limits to authenticated;
grant all on public.image_generations, public.user_limits to service_role;
