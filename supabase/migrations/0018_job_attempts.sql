-- 0018 job attempts: each try of a job that did not succeed is kept (worker, start, end, error), not only the last error.

-- attempt_log: the job's tries that ended without success and the operator's retries, oldest first,
-- at most the last 25 (a job failing forever cannot grow without bound). Written only when a try
-- fails, is reaped or reset, or the job is retried: a claim, a heartbeat and a successful completion
-- never touch it, so the hot path writes nothing more than before. The running try and the
-- successful one are not logged: they are the row itself (started_at, completed_at, locked_by,
-- attempts, claim_count). Entries:
--   {"kind": "attempt", "attempt": n, "claim": n, "worker": text, "started_at": ts, "ended_at": ts,
--    "outcome": "error" | "lease_expired" | "reset", "error": text, "details": jsonb | null,
--    "permanent": bool, "counted": bool, "next": "retry" | "failed", "retry_at": ts | null}
--   {"kind": "retry", "at": ts, "from_status": "failed" | "cancelled", "attempts": n}
-- No check constraint: Postgres evaluates checks on every update of the row, which would detoast a
-- long log on each heartbeat of a job that once failed. Only the functions below write it.
alter table public.job_queue add column attempt_log jsonb not null default '[]'::jsonb;

comment on column public.job_queue.attempt_log is
  'Tries that ended without success and operator retries, oldest first, the last 25 (0018).';

-- The log with one entry more, keeping the newest 25.
create function public.append_attempt_log(p_log jsonb, p_entry jsonb) returns jsonb
language sql immutable parallel safe as $$
  select case when jsonb_array_length(v_log) > 25 then jsonb_path_query_array(v_log, '$[last - 24 to last]') else v_log end
  from (select coalesce(p_log, '[]'::jsonb) || jsonb_build_array(p_entry) as v_log) as appended;
$$;

-- An error's details as kept in the log: whole when small (a name and an 8-line stack), else an excerpt.
create function public.cap_error_details(p_details jsonb) returns jsonb
language sql immutable parallel safe as $$
  select case
    when p_details is null then null
    when octet_length(p_details::text) <= 4000 then p_details
    else jsonb_build_object('truncated', true, 'excerpt', left(p_details::text, 4000)) end;
$$;

-- 0002's complete_job, same signature and fencing. Success: exactly 0002's update. Failure: the row
-- is locked first so the retry time is computed once, for the job and for its log entry alike.
create or replace function public.complete_job(
  p_job_id              uuid,
  p_success             boolean,
  p_error_message       text default null,
  p_error_details       jsonb default null,
  p_worker_id           text default null,
  p_claim_count         integer default null,
  p_permanent           boolean default false,
  p_retry_after_seconds numeric default null
) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
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

-- 0002's reaper, same rules and the same error_message/error_details; each returned job also logs
-- the try its worker abandoned (ended_at: when its lease ran out; reaped_at: when it was noticed).
create or replace function public.reap_expired_jobs() returns integer
language plpgsql volatile set search_path = public, pg_temp as $$
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

-- 0002's retry_job and 0011's retry_jobs, same rules; the log marks where the fresh set of attempts began.
create or replace function public.retry_job(p_job_id uuid) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  update job_queue
  set status = 'pending', attempts = 0, scheduled_at = now(), started_at = null, completed_at = null,
      attempt_log = append_attempt_log(attempt_log, jsonb_build_object(
        'kind', 'retry', 'at', now(), 'from_status', status, 'attempts', attempts)),
      updated_at = now()
  where id = p_job_id and status in ('failed', 'cancelled');
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
  return found;
end;
$$;

create or replace function public.retry_jobs(p_job_ids uuid[]) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp as $$
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

-- 0011's reset_stuck_jobs, same rules; the abandoned try is logged as not counted (its attempt is given back).
create or replace function public.reset_stuck_jobs(p_job_ids uuid[] default null) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  return query
  with stuck as (
    select j.id
    from job_queue j
    where j.status = 'processing'
      and (j.locked_until < now() or j.started_at < now() - interval '10 minutes')
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

revoke execute on function public.append_attempt_log(jsonb, jsonb), public.cap_error_details(jsonb)
  from public, anon, authenticated;
grant execute on function public.append_attempt_log(jsonb, jsonb), public.cap_error_details(jsonb) to service_role;

-- create or replace keeps each function's privileges; restated so this file says who may call them.
revoke execute on function
  public.complete_job(uuid, boolean, text, jsonb, text, integer, boolean, numeric),
  public.reap_expired_jobs(),
  public.retry_job(uuid),
  public.retry_jobs(uuid[]),
  public.reset_stuck_jobs(uuid[])
from public, anon, authenticated;
grant execute on function
  public.complete_job(uuid, boolean, text, jsonb, text, integer, boolean, numeric),
  public.reap_expired_jobs(),
  public.retry_job(uuid),
  public.retry_jobs(uuid[]),
  public.reset_stuck_jobs(uuid[])
to service_role;
