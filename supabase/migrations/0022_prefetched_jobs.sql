-- 0022 prefetch: a worker claiming ahead gives back what it never started (attempt refunded), and completes in batches at a cost per job, not per job held.

-- Jobs a worker holds but never began (claimed into its local buffer, then it stopped or found the
-- lease too close to its end): back to pending in their old place in line (scheduled_at is kept),
-- the attempt the claim counted given back, the lease released. Fenced like every other call of a
-- claim: only rows still processing under this worker and this claim_count change, so a job that
-- was reaped, reclaimed by another worker or cancelled meanwhile is left alone. Returns the ids
-- given back. claim_count is not touched: it names claims, and this one happened.
create function public.release_jobs(
  p_job_ids      uuid[],
  p_worker_id    text,
  p_claim_counts integer[]
) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp
-- As complete_jobs: one generic plan, ids matched to rows by hash, never a loop over running jobs.
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
      locked_by = null, locked_until = null, updated_at = now()
  from unnest(p_job_ids, p_claim_counts) as t(id, claim_count)
  where j.id = t.id
    and j.status = 'processing'
    and j.locked_by = p_worker_id
    and j.claim_count = t.claim_count
  returning j.id;
  -- Other workers may be idle while this one held the jobs: tell them they are due.
  if found then
    perform pg_notify('job_queue_inserted', '');
  end if;
end;
$$;

revoke execute on function public.release_jobs(uuid[], text, integer[]) from public, anon, authenticated;
grant execute on function public.release_jobs(uuid[], text, integer[]) to service_role;

-- 0002's complete_jobs, same signature, fencing and result, planned as one primary-key probe per id.
-- 0002's hash join read every job the worker held through the processing-lease index on each call:
-- with a prefetch buffer a worker holds well over a thousand, and completions come in many small
-- batches. locked_by is set only while processing (constraint lease_only_while_processing), so
-- matching it is the status test too; leaving `status = 'processing'` out of the text keeps the
-- planner off that partial index, and with hash and merge joins off the ids drive a nested loop
-- over the primary key whatever the statistics said when the plan was made.
create or replace function public.complete_jobs(
  p_job_ids      uuid[],
  p_worker_id    text,
  p_claim_counts integer[] default null
) returns setof uuid
language plpgsql volatile set search_path = public, pg_temp
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
begin
  return query
  update job_queue j
  set status = 'completed', completed_at = now(), locked_by = null, locked_until = null, updated_at = now()
  from unnest(p_job_ids, coalesce(p_claim_counts, array_fill(null::integer, array[cardinality(p_job_ids)])))
       as t(id, claim_count)
  where j.id = t.id
    and j.locked_by = p_worker_id
    and (t.claim_count is null or j.claim_count = t.claim_count)
  returning j.id;
end;
$$;

revoke execute on function public.complete_jobs(uuid[], text, integer[]) from public, anon, authenticated;
grant execute on function public.complete_jobs(uuid[], text, integer[]) to service_role;
