-- 0016 fenced generation runs: a generation's admission, progress and completion name the job claim
-- they run under (worker and claim_count, as complete_job does), so a run that lost its job to a
-- cancel, a reclaim or a retry can neither write progress nor store its result: it learns so within
-- a second and stops. Cancelling a generation is one statement.

-- True while this worker's claim of the job is the live one.
create function public.generation_run_holds(p_job_id uuid, p_worker_id text, p_claim_count integer)
returns boolean
language sql stable set search_path = public, pg_temp as $$
  select exists (
    select 1 from job_queue
    where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count);
$$;

-- Marks the generation processing unless its model already runs max_concurrency others. The
-- advisory lock serialises admissions per model, so two workers cannot both take the last slot.
-- Returns 'admitted', 'busy' (try again soon) or 'lost' (the claim is no longer ours).
create function public.admit_generation(p_generation_id uuid, p_job_id uuid, p_worker_id text, p_claim_count integer)
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
  update image_generations set status = 'processing', started_at = coalesce(started_at, now())
  where id = p_generation_id and status = 'queued';
  return case when found then 'admitted' else 'lost' end;
end;
$$;

-- Progress of a run (null: only asks whether the run still holds its job). Never backwards.
create function public.record_generation_progress(
  p_generation_id uuid, p_job_id uuid, p_worker_id text, p_claim_count integer, p_progress integer default null
) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
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

-- Completes the generation with its stored image, only under the live claim of its own job. The
-- job row is locked first: a cancel of the job either happened before (and this returns false) or
-- waits until the generation is complete.
create function public.complete_generation(
  p_generation_id   uuid,
  p_job_id          uuid,
  p_worker_id       text,
  p_claim_count     integer,
  p_image_path      text,
  p_thumbnail_path  text,
  p_content_type    text,
  p_image_bytes     integer,
  p_predict_seconds numeric,
  p_prediction_id   text
) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  perform 1 from job_queue
  where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count
  for update;
  if not found then
    return false;
  end if;
  update image_generations
  set status = 'completed', progress = 100, completed_at = now(), image_path = p_image_path,
      thumbnail_path = p_thumbnail_path, image_content_type = p_content_type, image_bytes = p_image_bytes,
      predict_time_seconds = p_predict_seconds, prediction_id = coalesce(p_prediction_id, prediction_id),
      error_message = null
  where id = p_generation_id and job_id = p_job_id and status = 'processing';
  return found;
end;
$$;

-- A user's cancel: the generation and its job in one transaction. Returns the generation as it now
-- stands (unchanged when it had already finished); no row when it is not the user's.
create function public.cancel_generation(p_generation_id uuid, p_user_id uuid)
returns setof image_generations
language plpgsql volatile set search_path = public, pg_temp as $$
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

-- A cancelled generation's prediction was cancelled with it and cannot be resumed: an operator's
-- retry starts the picture afresh.
create or replace function public.sync_generation_with_job() returns trigger
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
    set status = 'queued', progress = 0, error_message = null, completed_at = null,
        prediction_id = case when status = 'cancelled' then null else prediction_id end
    where id = v_generation_id and status in ('failed', 'cancelled');
  end if;
  return null;
end;
$$;

revoke execute on function
  public.generation_run_holds(uuid, text, integer),
  public.admit_generation(uuid, uuid, text, integer),
  public.record_generation_progress(uuid, uuid, text, integer, integer),
  public.complete_generation(uuid, uuid, text, integer, text, text, text, integer, numeric, text),
  public.cancel_generation(uuid, uuid)
from public, anon, authenticated;
grant execute on function
  public.generation_run_holds(uuid, text, integer),
  public.admit_generation(uuid, uuid, text, integer),
  public.record_generation_progress(uuid, uuid, text, integer, integer),
  public.complete_generation(uuid, uuid, text, integer, text, text, text, integer, numeric, text),
  public.cancel_generation(uuid, uuid)
to service_role;
