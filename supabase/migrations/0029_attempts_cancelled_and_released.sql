-- 0029 the job page lists every try: a try cancelled while running and a prefetched job given back (release_jobs) are logged too.

-- 0011's cancel_jobs, same signature and rules. A job cancelled while running logs the try it cut
-- short (worker, start, end), so the job page shows who was running it and for how long; a pending
-- job's cancel logs nothing (no try was under way). Not on the queue's hot path: an operator's or
-- an owner's cancel.
create or replace function public.cancel_jobs(p_job_ids uuid[], p_reason text default null) returns setof uuid
language sql volatile set search_path = public, pg_temp as $$
  update job_queue
  set status = 'cancelled', completed_at = now(), locked_by = null, locked_until = null,
      error_message = coalesce(p_reason, error_message),
      attempt_log = case when status = 'processing' then append_attempt_log(attempt_log, jsonb_build_object(
        'kind', 'attempt', 'attempt', attempts, 'claim', claim_count, 'worker', locked_by,
        'started_at', started_at, 'ended_at', now(), 'outcome', 'cancelled',
        'error', left(coalesce(p_reason, 'cancelled while running'), 2000), 'details', null,
        'permanent', false, 'counted', true, 'next', null, 'retry_at', null))
        else attempt_log end,
      updated_at = now()
  where id = any (p_job_ids) and status in ('pending', 'processing')
  returning id;
$$;

-- 0022's release_jobs, same signature, fencing, planner settings and result. The claim it undoes
-- is logged as not counted (its attempt is refunded): otherwise the job page would show a claim
-- number with no try behind it. Runs when a worker stops or finds a lease too short, never per job.
create or replace function public.release_jobs(
  p_job_ids      uuid[],
  p_worker_id    text,
  p_claim_counts integer[]
) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_nestloop = off
set enable_mergejoin = off
as $$
begin
  if p_claim_counts is null or cardinality(p_claim_counts) <> cardinality(p_job_ids) then
    raise exception 'release_jobs: one claim count per job id' using errcode = '22023';
  end if;
  return query
  update job_queue j
  set status = 'pending', attempts = greatest(j.attempts - 1, 0), started_at = null,
      attempt_log = append_attempt_log(j.attempt_log, jsonb_build_object(
        'kind', 'attempt', 'attempt', j.attempts, 'claim', j.claim_count, 'worker', j.locked_by,
        'started_at', j.started_at, 'ended_at', now(), 'outcome', 'released',
        'error', 'given back unstarted by its worker', 'details', null,
        'permanent', false, 'counted', false, 'next', 'retry', 'retry_at', j.scheduled_at)),
      locked_by = null, locked_until = null, updated_at = now()
  from unnest(p_job_ids, p_claim_counts) as t(id, claim_count)
  where j.id = t.id
    and j.status = 'processing'
    and j.locked_by = p_worker_id
    and j.claim_count = t.claim_count
  returning j.id;
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
end;
$$;

-- create or replace keeps each function's privileges; restated so this file says who may call them.
revoke execute on function public.cancel_jobs(uuid[], text), public.release_jobs(uuid[], text, integer[])
  from public, anon, authenticated;
grant execute on function public.cancel_jobs(uuid[], text), public.release_jobs(uuid[], text, integer[]) to service_role;
