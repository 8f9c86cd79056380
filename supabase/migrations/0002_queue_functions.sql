-- 0002 queue functions: every state change of a job happens here, so all clients share one set of rules.

-- Exponential backoff with +/-20% jitter: 5 s, 10 s, 20 s ... capped at one hour.
create function public.compute_backoff(p_attempts integer) returns interval
language sql volatile parallel safe as $$
  select make_interval(secs =>
    least(3600, 5 * power(2, greatest(p_attempts, 1) - 1)) * (0.8 + random() * 0.4));
$$;

create function public.enqueue_job(
  p_job_type     text,
  p_payload      jsonb default '{}'::jsonb,
  p_priority     integer default 0,
  p_scheduled_at timestamptz default now(),
  p_max_attempts integer default 3,
  p_dedupe_key   text default null,
  p_created_by   uuid default null
) returns uuid
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_id uuid;
begin
  if p_job_type is null or btrim(p_job_type) = '' then
    raise exception 'enqueue_job: job_type must not be empty' using errcode = '22023';
  end if;
  if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
    raise exception 'enqueue_job: payload must be a JSON object, not %', coalesce(jsonb_typeof(p_payload), 'null')
      using errcode = '22023';
  end if;
  if p_max_attempts is null or p_max_attempts < 1 or p_max_attempts > 100 then
    raise exception 'enqueue_job: max_attempts must be between 1 and 100, not %', coalesce(p_max_attempts::text, 'null')
      using errcode = '22023';
  end if;
  if p_priority is null or p_priority not between -1000 and 1000 then
    raise exception 'enqueue_job: priority must be between -1000 and 1000, not %', coalesce(p_priority::text, 'null')
      using errcode = '22023';
  end if;

  if p_dedupe_key is null then
    insert into job_queue (job_type, payload, priority, scheduled_at, max_attempts, created_by)
    values (p_job_type, p_payload, p_priority, coalesce(p_scheduled_at, now()), p_max_attempts,
            coalesce(p_created_by, auth.uid()))
    returning id into v_id;
    return v_id;
  end if;

  -- A live job with this key wins; if it finishes between our insert and our read, try again.
  loop
    insert into job_queue (job_type, payload, priority, scheduled_at, max_attempts, created_by, dedupe_key)
    values (p_job_type, p_payload, p_priority, coalesce(p_scheduled_at, now()), p_max_attempts,
            coalesce(p_created_by, auth.uid()), p_dedupe_key)
    on conflict (dedupe_key) where dedupe_key is not null and status in ('pending', 'processing')
    do nothing
    returning id into v_id;
    if v_id is not null then
      return v_id;
    end if;

    select id into v_id
    from job_queue
    where dedupe_key = p_dedupe_key and status in ('pending', 'processing');
    if v_id is not null then
      return v_id;
    end if;
  end loop;
end;
$$;

-- Claim up to p_limit due jobs for one worker under a lease: higher priority first, then oldest.
create function public.claim_jobs(
  p_worker_id     text,
  p_limit         integer default 1,
  p_lease_seconds integer default 30,
  p_job_types     text[] default null
) returns setof public.job_queue
language plpgsql volatile set search_path = public, pg_temp
-- The hottest query in the system: plan it once per session (planning it on every call cost more
-- than running it), and make that one plan the ordered walk of the pending index whatever the
-- table looked like when it was made (never a scan of the history, never a sort).
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_bitmapscan = off
set enable_sort = off
set enable_incremental_sort = off
as $$
declare
  v_paused text[];
begin
  if p_worker_id is null or btrim(p_worker_id) = '' then
    raise exception 'claim_jobs: worker_id must not be empty' using errcode = '22023';
  end if;
  if p_limit is null or p_limit not between 1 and 1000 then
    raise exception 'claim_jobs: limit must be between 1 and 1000' using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds not between 1 and 86400 then
    raise exception 'claim_jobs: lease_seconds must be between 1 and 86400' using errcode = '22023';
  end if;

  select coalesce(array_agg(job_type), '{}') into v_paused from job_queue_paused_types;

  -- A claim is a lease, not a result: its commit need not wait for the disk flush (this holds for
  -- the rest of the calling transaction). Any later synchronous commit (the completion's) flushes it
  -- too, the WAL being written in order. Only if the Postgres server itself crashes within ~0.6 s of
  -- the claim is it lost: the job is pending again and runs again, as after a worker crash
  -- (at-least-once either way). One disk flush less per job, and none between enqueue and pickup.
  perform set_config('synchronous_commit', 'off', true);

  return query
  with candidates as (
    select j.id
    from job_queue j
    where j.status = 'pending'
      and j.scheduled_at <= now()
      and (p_job_types is null or j.job_type = any (p_job_types))
      and j.job_type <> all (v_paused)
    order by j.priority desc, j.scheduled_at, j.id
    limit p_limit
    for update skip locked
  )
  update job_queue j
  set status       = 'processing',
      attempts     = j.attempts + 1,
      claim_count  = j.claim_count + 1,
      started_at   = now(),
      locked_by    = p_worker_id,
      locked_until = now() + make_interval(secs => p_lease_seconds),
      updated_at   = now()
  from candidates c
  where j.id = c.id
  returning j.*;
end;
$$;

create function public.claim_next_job(
  p_worker_id     text default null,
  p_lease_seconds integer default 30,
  p_job_types     text[] default null
) returns setof public.job_queue
language sql volatile set search_path = public, pg_temp as $$
  select * from claim_jobs(coalesce(p_worker_id, 'session-' || pg_backend_pid()), 1, p_lease_seconds, p_job_types);
$$;

-- Finish one claimed job. Fenced: refused (false, nothing changed) unless the caller still holds it.
create function public.complete_job(
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
begin
  if p_success is null then
    raise exception 'complete_job: success must be true or false' using errcode = '22023';
  end if;

  update job_queue j
  set status = case
        when p_success then 'completed'
        when coalesce(p_permanent, false) or j.attempts >= j.max_attempts then 'failed'
        else 'pending' end,
      completed_at = case
        when p_success or coalesce(p_permanent, false) or j.attempts >= j.max_attempts then now() end,
      scheduled_at = case
        when p_success or coalesce(p_permanent, false) or j.attempts >= j.max_attempts then j.scheduled_at
        when p_retry_after_seconds is not null then now() + make_interval(secs => greatest(p_retry_after_seconds, 0))
        else now() + compute_backoff(j.attempts) end,
      error_message = case when p_success then j.error_message
                           else coalesce(p_error_message, 'job failed without a message') end,
      error_details = case when p_success then j.error_details else p_error_details end,
      locked_by = null,
      locked_until = null,
      updated_at = now()
  where j.id = p_job_id
    and j.status = 'processing'
    and (p_worker_id is null or j.locked_by = p_worker_id)
    and (p_claim_count is null or j.claim_count = p_claim_count);
  return found;
end;
$$;

-- Complete many successful jobs in one round trip; returns the ids the caller still held.
create function public.complete_jobs(
  p_job_ids   uuid[],
  p_worker_id text,
  p_claim_counts integer[] default null
) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp
-- plpgsql, not sql: a sql function is parsed and planned on every call, this one plans once per
-- session. Whatever the statistics say, the plan is linear: the ids and the running jobs are matched
-- by hash, never one nested loop over the other (with no job processing at ANALYZE time, that loop
-- cost ids x running jobs: about 0.5 s for a batch of 500 among 1,000 running jobs).
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_nestloop = off
set enable_mergejoin = off
as $$
begin
  return query
  update job_queue j
  set status = 'completed', completed_at = now(), locked_by = null, locked_until = null, updated_at = now()
  from unnest(p_job_ids, coalesce(p_claim_counts, array_fill(null::integer, array[cardinality(p_job_ids)])))
       as t(id, claim_count)
  where j.id = t.id
    and j.status = 'processing'
    and j.locked_by = p_worker_id
    and (t.claim_count is null or j.claim_count = t.claim_count)
  returning j.id;
end;
$$;

-- Extend the leases of jobs a worker still runs; returns those it still holds (a missing id: stop work).
create function public.heartbeat_jobs(
  p_job_ids       uuid[],
  p_worker_id     text,
  p_lease_seconds integer default 30,
  p_claim_counts  integer[] default null
) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  -- A null or non-positive lease would leave a running job the reaper can never return.
  if p_lease_seconds is null or p_lease_seconds not between 1 and 86400 then
    raise exception 'heartbeat_jobs: lease_seconds must be between 1 and 86400' using errcode = '22023';
  end if;
  if p_claim_counts is not null and cardinality(p_claim_counts) <> cardinality(p_job_ids) then
    raise exception 'heartbeat_jobs: one claim count per job id' using errcode = '22023';
  end if;
  return query
  update job_queue j
  set locked_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
  from unnest(p_job_ids, coalesce(p_claim_counts, array_fill(null::integer, array[cardinality(p_job_ids)])))
       as t(id, claim_count)
  where j.id = t.id and j.status = 'processing' and j.locked_by = p_worker_id
    and (t.claim_count is null or j.claim_count = t.claim_count)
  returning j.id;
end;
$$;

create function public.heartbeat_job(
  p_job_id        uuid,
  p_worker_id     text,
  p_lease_seconds integer default 30,
  p_claim_count   integer default null
) returns boolean
language sql volatile set search_path = public, pg_temp as $$
  select exists (select 1 from heartbeat_jobs(array[p_job_id], p_worker_id, p_lease_seconds, array[p_claim_count]));
$$;

-- Give a running job back for later without spending an attempt (e.g. waiting on a remote prediction).
create function public.snooze_job(
  p_job_id        uuid,
  p_worker_id     text,
  p_delay_seconds numeric,
  p_claim_count   integer default null
) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  if p_delay_seconds is null or p_delay_seconds < 0 then
    raise exception 'snooze_job: delay_seconds must be zero or more' using errcode = '22023';
  end if;
  update job_queue j
  set status = 'pending',
      attempts = greatest(j.attempts - 1, 0),
      scheduled_at = now() + make_interval(secs => p_delay_seconds),
      locked_by = null, locked_until = null, updated_at = now()
  where j.id = p_job_id
    and j.status = 'processing'
    and j.locked_by = p_worker_id
    and (p_claim_count is null or j.claim_count = p_claim_count);
  return found;
end;
$$;

-- Cancel a pending or running job; a running handler learns it at its next heartbeat.
create function public.cancel_job(p_job_id uuid, p_reason text default null) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  update job_queue
  set status = 'cancelled', completed_at = now(), locked_by = null, locked_until = null,
      error_message = coalesce(p_reason, error_message), updated_at = now()
  where id = p_job_id and status in ('pending', 'processing');
  return found;
end;
$$;

-- Put a failed (or cancelled) job back in line with a fresh set of attempts.
create function public.retry_job(p_job_id uuid) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  update job_queue
  set status = 'pending', attempts = 0, scheduled_at = now(), started_at = null, completed_at = null,
      updated_at = now()
  where id = p_job_id and status in ('failed', 'cancelled');
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
  return found;
end;
$$;

-- Return jobs whose worker stopped renewing its lease: pending again (the attempt counts), or failed.
create function public.reap_expired_jobs() returns integer
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

-- Delete one batch of finished jobs older than the retention; callers repeat until it returns 0.
create function public.purge_finished_jobs(
  p_older_than interval default interval '30 days',
  p_batch_size integer default 1000
) returns integer
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_count integer;
begin
  if p_older_than is null or p_older_than < interval '0' then
    raise exception 'purge_finished_jobs: older_than must not be negative' using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size not between 1 and 100000 then
    raise exception 'purge_finished_jobs: batch_size must be between 1 and 100000' using errcode = '22023';
  end if;
  with doomed as (
    select id from job_queue
    where status in ('completed', 'failed', 'cancelled') and completed_at < now() - p_older_than
    order by completed_at
    limit p_batch_size
    for update skip locked
  )
  delete from job_queue j using doomed d where j.id = d.id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- Only trusted server code (the service role, the database owner) drives the queue.
revoke execute on function
  public.enqueue_job(text, jsonb, integer, timestamptz, integer, text, uuid),
  public.claim_jobs(text, integer, integer, text[]),
  public.claim_next_job(text, integer, text[]),
  public.complete_job(uuid, boolean, text, jsonb, text, integer, boolean, numeric),
  public.complete_jobs(uuid[], text, integer[]),
  public.heartbeat_jobs(uuid[], text, integer, integer[]),
  public.heartbeat_job(uuid, text, integer, integer),
  public.snooze_job(uuid, text, numeric, integer),
  public.cancel_job(uuid, text),
  public.retry_job(uuid),
  public.reap_expired_jobs(),
  public.purge_finished_jobs(interval, integer)
from public, anon, authenticated;

grant execute on function
  public.enqueue_job(text, jsonb, integer, timestamptz, integer, text, uuid),
  public.claim_jobs(text, integer, integer, text[]),
  public.claim_next_job(text, integer, text[]),
  public.complete_job(uuid, boolean, text, jsonb, text, integer, boolean, numeric),
  public.complete_jobs(uuid[], text, integer[]),
  public.heartbeat_jobs(uuid[], text, integer, integer[]),
  public.heartbeat_job(uuid, text, integer, integer),
  public.snooze_job(uuid, text, numeric, integer),
  public.cancel_job(uuid, text),
  public.retry_job(uuid),
  public.reap_expired_jobs(),
  public.purge_finished_jobs(interval, integer)
to service_role;
