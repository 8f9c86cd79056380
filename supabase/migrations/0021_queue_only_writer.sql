-- 0021 the queue is the only writer of job state: waking a job, pausing and resuming a job type and
-- recording a maintenance run become queue functions (TypeScript wrote them as raw updates), the
-- single-job retry and cancel delegate to the batch ones instead of copying them, and the stuck rule's
-- ten minutes is written once.

-- Brings a job that waits for a later scheduled_at (a snoozed prediction) forward to now, and wakes
-- the workers. True when it was waiting; a job that is due, running or finished is left alone.
create function public.wake_job(p_job_id uuid) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  update job_queue set scheduled_at = now(), updated_at = now()
  where id = p_job_id and status = 'pending' and scheduled_at > now();
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
  return found;
end;
$$;

-- Workers claim no job of a paused type. True when this call paused it (false: it already was).
create function public.pause_job_type(p_job_type text, p_paused_by uuid default null, p_reason text default null)
returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  insert into job_queue_paused_types (job_type, paused_by, reason)
  values (p_job_type, p_paused_by, p_reason)
  on conflict (job_type) do nothing;
  return found;
end;
$$;

-- True when it was paused; the workers are woken to claim what waited.
create function public.resume_job_type(p_job_type text) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  delete from job_queue_paused_types where job_type = p_job_type;
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
  return found;
end;
$$;

-- What the last run of a maintenance task did, for the console (claim_maintenance_run took the turn).
create function public.record_maintenance_result(p_task text, p_result jsonb) returns void
language sql volatile set search_path = public, pg_temp as $$
  update queue_maintenance set last_result = p_result where task = p_task;
$$;

create or replace function public.retry_job(p_job_id uuid) returns boolean
language sql volatile set search_path = public, pg_temp as $$
  select exists (select 1 from retry_jobs(array[p_job_id]));
$$;

create or replace function public.cancel_job(p_job_id uuid, p_reason text default null) returns boolean
language sql volatile set search_path = public, pg_temp as $$
  select exists (select 1 from cancel_jobs(array[p_job_id], p_reason));
$$;

-- A running job is stuck past this (or with its lease expired): the stuck_jobs view, the reset and
-- the console's alert all read it here.
create function public.stuck_job_threshold() returns interval
language sql immutable set search_path = public, pg_temp as $$
  select interval '10 minutes';
$$;

create or replace view public.stuck_jobs with (security_invoker = true) as
select id, job_type, payload, status, attempts, max_attempts, locked_by, locked_until,
       started_at, created_by, created_at,
       now() - started_at as running_for,
       locked_until < now() as lease_expired
from public.job_queue
where status = 'processing'
  and (locked_until < now() or started_at < now() - public.stuck_job_threshold());

-- 0018's reset_stuck_jobs (the abandoned try logged as not counted), reading the threshold above.
create or replace function public.reset_stuck_jobs(p_job_ids uuid[] default null) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp as $$
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

revoke execute on function
  public.wake_job(uuid),
  public.pause_job_type(text, uuid, text),
  public.resume_job_type(text),
  public.record_maintenance_result(text, jsonb)
from public, anon, authenticated;
grant execute on function
  public.wake_job(uuid),
  public.pause_job_type(text, uuid, text),
  public.resume_job_type(text),
  public.record_maintenance_result(text, jsonb)
to service_role;
grant execute on function public.stuck_job_threshold() to authenticated, service_role;
