-- 0040 an enqueue makes sure of its lane in one statement of a row trigger, not a statement trigger over a transition table.

-- 0025's statement trigger collected the inserted rows into a transition table, aggregated their
-- lanes, called ensure_job_lanes, which sorted them, took each lane's shared lock in its own
-- statement and inserted them: four statements and a tuplestore for an enqueue of one job, a fifth
-- of what enqueue_job costs (pgbench, 10 clients, deferred wake: 3,000 vs 3,700 enqueues/s without
-- it). A row trigger guarded by WHEN (new.status = 'pending') now runs one statement per pending row:
-- it takes the lane's shared lock and inserts the lane `on conflict do nothing`. The lock is taken
-- by the function scan before the insert's conflict check, which reads the newest committed row
-- (not the statement's snapshot), so a claim that deleted the lane just before (under the exclusive
-- lock, 0025) is seen and the row comes back, at any isolation level. The locks need no order: they
-- are all shared, and the claim only ever try-locks the exclusive form, so nobody waits in a cycle.
-- 0025's insert failed an enqueue made at repeatable read or serializable when the lane's row had
-- been dropped and made again since its snapshot (40001); that conflict is now taken as the row being
-- there, which it is. A bulk insert now pays one such statement per pending row (about 3 µs each, measured in the test
-- that seeds 200,000 rows); nothing in the app inserts more than a group's jobs at once.

drop trigger job_queue_lanes_inserted on public.job_queue;
drop function public.job_queue_lanes_after_insert();

create or replace function public.job_queue_lanes_after_pending() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  v_lane uuid := coalesce(new.created_by, '00000000-0000-0000-0000-000000000000'::uuid);
begin
  if current_setting('transaction_isolation') = 'read committed' then
    insert into job_queue_lanes (lane)
    select v_lane from pg_advisory_xact_lock_shared(job_queue_lane_lock_key(), hashtext(v_lane::text))
    on conflict do nothing;
    return null;
  end if;
  -- Under repeatable read and serializable, a conflict with a lane row our snapshot cannot see (a
  -- claim dropped it and an enqueue put it back since) is a serialization failure, not a no-op. That
  -- row is there and stays (we hold the lane's shared lock), which is all this needs. The lock is
  -- taken before the block, so undoing the block's subtransaction cannot release it.
  perform pg_advisory_xact_lock_shared(job_queue_lane_lock_key(), hashtext(v_lane::text));
  begin
    insert into job_queue_lanes (lane) values (v_lane) on conflict do nothing;
  exception when serialization_failure then
    null;
  end;
  return null;
end;
$$;

create trigger job_queue_lanes_on_insert
  after insert on public.job_queue
  for each row
  when (new.status = 'pending')
  execute function public.job_queue_lanes_after_pending();
