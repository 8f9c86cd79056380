-- 0011 the console's jobs, failures and stuck pages need lists that stay fast over millions of jobs, and bulk actions done in SQL.

-- The job list pages by (created_at, id), newest first by default, as a range scan however big the
-- table. Status is indexed, so no update of a job is HOT and every claim and completion writes each
-- index again (about 300 WAL bytes a job per index, measured): the other sort keys (scheduled_at,
-- priority, attempts) get no index of their own and sort the filtered rows, to keep the queue fast.
create index job_queue_created_at_id_idx on public.job_queue (created_at, id);

-- No (status, created_at) index: a rare status (pending, failed, processing) is found through the
-- queue's partial indexes and sorted; a common one walks created_at. An index leading with status
-- would also tempt the planner away from the claim's own partial index.

-- The failures page groups the last day's failures; finished rows are mostly completed ones, so
-- failures get their own small index instead of a walk over every finished job.
create index job_queue_failed_completed_at_idx
  on public.job_queue (completed_at)
  where status = 'failed';

-- A failure group's latest examples: a few index entries per group instead of a pass over every
-- failure. Keyed by the message's hash, since a message may be longer than an index entry can be.
create index job_queue_failed_message_idx
  on public.job_queue (md5(coalesce(error_message, '')), completed_at desc)
  where status = 'failed';

-- The reaper marks the jobs it returns (error_details.reason); the stuck page lists the recent ones.
create index job_queue_lease_expired_idx
  on public.job_queue (updated_at)
  where error_details ->> 'reason' = 'lease_expired';

-- Put many failed (or cancelled) jobs back in line, as retry_job does one; returns the ids retried.
create function public.retry_jobs(p_job_ids uuid[]) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  return query
  update job_queue
  set status = 'pending', attempts = 0, scheduled_at = now(), started_at = null, completed_at = null,
      updated_at = now()
  where id = any (p_job_ids) and status in ('failed', 'cancelled')
  returning id;
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
end;
$$;

-- Cancel many pending or running jobs, as cancel_job does one; returns the ids cancelled.
create function public.cancel_jobs(p_job_ids uuid[], p_reason text default null) returns setof uuid
language sql volatile set search_path = public, pg_temp as $$
  update job_queue
  set status = 'cancelled', completed_at = now(), locked_by = null, locked_until = null,
      error_message = coalesce(p_reason, error_message), updated_at = now()
  where id = any (p_job_ids) and status in ('pending', 'processing')
  returning id;
$$;

-- The seed's "reset stuck jobs": back to pending without spending an attempt. The claim counted
-- one, so it is given back (attempts - 1). Only jobs that are stuck by the stuck_jobs view's rule
-- (lease expired, or running over ten minutes) are touched, so a healthy job is never run twice.
-- p_job_ids null: every stuck job. The old worker stays fenced out: its claim is no longer current.
create function public.reset_stuck_jobs(p_job_ids uuid[] default null) returns setof uuid
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
  public.retry_jobs(uuid[]),
  public.cancel_jobs(uuid[], text),
  public.reset_stuck_jobs(uuid[])
from public, anon, authenticated;

grant execute on function
  public.retry_jobs(uuid[]),
  public.cancel_jobs(uuid[], text),
  public.reset_stuck_jobs(uuid[])
to service_role;
