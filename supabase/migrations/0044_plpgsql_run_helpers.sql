-- 0044 default_user_limits and generation_run_holds in PL/pgSQL: each was a SQL function with a `set` clause, which Postgres cannot inline and so plans afresh on every call, on every start and every progress write.

-- CONTRIBUTING's rule since 0041 (a function on a hot path that cannot be inlined is PL/pgSQL,
-- which keeps its plans for the session), applied to the two that were left:
--   * default_user_limits, read by may_start_generation on every POST /api/generations;
--   * generation_run_holds, the fencing check of admit_generation and of every
--     record_generation_progress (each progress write of a running generation).
-- pgbench, one client, three interleaved rounds (a bare `select 1` round trip: 56 us):
--   select generation_run_holds(...)       130-139 us as SQL, 62-71 us as PL/pgSQL
--   select may_start_generation(...)        81-86 us with the SQL default_user_limits, 75-82 us with it in PL/pgSQL
-- Same answers, same volatility, same settings; create or replace keeps the grants.
-- functions-on-hot-paths.test.ts checks that every function a start, a claim or a running job
-- calls is PL/pgSQL or inlinable SQL.

create or replace function public.default_user_limits(out hourly integer, out daily integer)
language plpgsql immutable set search_path = public, pg_temp as $$
begin
  hourly := 20;
  daily := 100;
end;
$$;

create or replace function public.generation_run_holds(p_job_id uuid, p_worker_id text, p_claim_count integer)
returns boolean
language plpgsql stable set search_path = public, pg_temp as $$
begin
  return exists (
    select 1 from job_queue
    where id = p_job_id and status = 'processing' and locked_by = p_worker_id and claim_count = p_claim_count);
end;
$$;
