-- 0014 queue table health: churn-tuned autovacuum, and a retention that purges old history in small batches.

-- job_queue (0001 set fillfactor 85 and 2% scale factors). Every job is an insert and 2-4 updates
-- (claim, heartbeats, completion), and, with retention, a delete: its dead tuples come at the rate
-- of the job throughput, whatever the table's size. So vacuum on a fixed count of dead rows more
-- than on a fraction of the table (a fraction of a table holding weeks of history is a lot of dead
-- rows in the pending index the claim walks), and let that vacuum run without sleeping.
-- fillfactor 80: status and locked_until are in index predicates or keys, so the queue's own updates
-- are not HOT; the free space still lets the new version land on the same page (one page dirtied
-- instead of two, the pending index's heap fetches stay local), and updates of payload-only columns
-- (updated_at, error_*) by the seed guide's hand-written SQL can be HOT.
-- The insert scale factor makes insert-only stretches (a bulk enqueue) set the visibility map early.
alter table public.job_queue set (
  fillfactor = 80,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0,
  autovacuum_vacuum_cost_limit = 2000
);

-- worker_runs: a continuous worker rewrites its row's last_seen_at every 15 s. No index covers that
-- column, so with room on the page each rewrite is a HOT update and needs no index vacuuming.
alter table public.worker_runs set (
  fillfactor = 70,
  autovacuum_vacuum_threshold = 200,
  autovacuum_vacuum_scale_factor = 0.05
);

-- image_generations: progress is written about once a second per running generation; progress is in
-- no index, so leave room for those updates to be HOT.
alter table public.image_generations set (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.05);

-- The retention's bookkeeping: when each periodic maintenance task last ran, across all processes.
create table public.queue_maintenance (
  task        text primary key,
  last_run_at timestamptz not null default '-infinity',
  last_result jsonb,
  constraint task_not_empty check (length(btrim(task)) between 1 and 64)
);

alter table public.queue_maintenance enable row level security;
create policy "Service role has full access" on public.queue_maintenance
  for all to service_role using (true) with check (true);
revoke all on public.queue_maintenance from anon, authenticated;
grant all on public.queue_maintenance to service_role;

-- True for exactly one caller per p_every across every process (the row lock serialises callers,
-- and the loser re-reads a fresh last_run_at); false for everyone else.
create function public.claim_maintenance_run(p_task text, p_every interval) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_claimed boolean;
begin
  if p_every is null or p_every < interval '0' then
    raise exception 'claim_maintenance_run: every must not be negative' using errcode = '22023';
  end if;
  insert into queue_maintenance (task) values (p_task) on conflict (task) do nothing;
  update queue_maintenance set last_run_at = now()
  where task = p_task and last_run_at <= now() - p_every
  returning true into v_claimed;
  return coalesce(v_claimed, false);
end;
$$;

-- Replaces 0002's purge with one that can keep failed jobs longer (operators read their errors);
-- p_failed_older_than null keeps 0002's behaviour. One batch per call, oldest first, skipping rows
-- someone holds: each call is a short transaction (the caller repeats until it returns 0), so no long
-- lock and no long-running snapshot holding vacuum back. image_generations.job_id is
-- "on delete set null" (0006): a purged job leaves its generation intact.
drop function public.purge_finished_jobs(interval, integer);

create function public.purge_finished_jobs(
  p_older_than        interval default interval '30 days',
  p_batch_size        integer default 1000,
  p_failed_older_than interval default null
) returns integer
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_count  integer;
  v_failed interval := coalesce(p_failed_older_than, p_older_than);
begin
  if p_older_than is null or p_older_than < interval '0' or v_failed < interval '0' then
    raise exception 'purge_finished_jobs: older_than must not be negative' using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size not between 1 and 100000 then
    raise exception 'purge_finished_jobs: batch_size must be between 1 and 100000' using errcode = '22023';
  end if;
  -- The range on completed_at (the nearer cutoff) walks job_queue_finished_at_idx; the status test
  -- then keeps failed jobs until their own cutoff.
  with doomed as (
    select id from job_queue
    where status in ('completed', 'failed', 'cancelled')
      and completed_at < now() - least(p_older_than, v_failed)
      and (status <> 'failed' or completed_at < now() - v_failed)
      and (status = 'failed' or completed_at < now() - p_older_than)
    order by completed_at
    limit p_batch_size
    for update skip locked
  )
  delete from job_queue j using doomed d where j.id = d.id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- One batch of worker_runs rows not seen for p_older_than (finished runs, and crashed ones that
-- never finished); a continuous worker that started long ago but is still alive stays.
create function public.purge_worker_runs(
  p_older_than interval default interval '30 days',
  p_batch_size integer default 1000
) returns integer
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_count integer;
begin
  if p_older_than is null or p_older_than < interval '0' then
    raise exception 'purge_worker_runs: older_than must not be negative' using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size not between 1 and 100000 then
    raise exception 'purge_worker_runs: batch_size must be between 1 and 100000' using errcode = '22023';
  end if;
  with doomed as (
    select id from worker_runs
    where started_at < now() - p_older_than and last_seen_at < now() - p_older_than
    order by started_at
    limit p_batch_size
    for update skip locked
  )
  delete from worker_runs r using doomed d where r.id = d.id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

revoke execute on function
  public.claim_maintenance_run(text, interval),
  public.purge_finished_jobs(interval, integer, interval),
  public.purge_worker_runs(interval, integer)
from public, anon, authenticated;

grant execute on function
  public.claim_maintenance_run(text, interval),
  public.purge_finished_jobs(interval, integer, interval),
  public.purge_worker_runs(interval, integer)
to service_role;
