-- 0043 claim_jobs returns claimed_job (job_queue's columns and nothing else): a query over a function copies the descriptor of the function's result type on every call, and job_queue's descriptor carries the table's defaults and check constraints.

-- Where a claim of one spent Postgres's time (perf with call graphs, pgbench, 10 clients calling
-- `select id from claim_jobs(w, 1, 60, null)`): 3.3% went to CreateTupleDescCopyConstr under
-- ExecInitFunctionScan. That is the copy of job_queue's row type, with its ten check constraints
-- and its column defaults as text (about 11 kB), made before the function even runs. A composite
-- type of its own has the same columns and no constraints, so the copy is only the columns. Same
-- pgbench run: 7,139 / 7,640 / 6,813 claims/s with the table's row type, and 7,819 / 8,061 / 7,960
-- with claimed_job (interleaved). A claim of 500 pays the copy once per 500 jobs, so batched claims
-- do not change.
--
-- The columns must stay job_queue's, in its order: claim_jobs returns `j.*` of job_queue, and
-- claim_next_job (the seed's, `returns setof job_queue`) returns claim_jobs' rows. A migration that
-- adds a column to job_queue adds it here in the same file (queue/claimed-job-type.test.ts fails
-- until it does).
create type public.claimed_job as (
  id              uuid,
  job_type        text,
  payload         jsonb,
  status          text,
  attempts        integer,
  max_attempts    integer,
  scheduled_at    timestamptz,
  started_at      timestamptz,
  completed_at    timestamptz,
  error_message   text,
  error_details   jsonb,
  created_by      uuid,
  priority        integer,
  created_at      timestamptz,
  updated_at      timestamptz,
  locked_by       text,
  locked_until    timestamptz,
  dedupe_key      text,
  claim_count     integer,
  attempt_log     jsonb,
  concurrency_key text
);
comment on type public.claimed_job is
  'A job as claim_jobs returns it: job_queue''s columns, without the table''s constraints (0043).';

-- A function's result type cannot be changed in place. The body is 0037's, unchanged: it is read
-- back from the catalogue and created again with the new result type, rather than repeated here.
do $$
declare
  v_definition text;
  v_changed    text;
begin
  -- The result type is printed qualified or not, as the session's search_path makes it visible.
  v_definition := pg_get_functiondef('public.claim_jobs(text, integer, integer, text[])'::regprocedure);
  v_changed := regexp_replace(v_definition, '\n RETURNS SETOF (public\.)?job_queue\n', E'\n RETURNS SETOF public.claimed_job\n');
  if v_changed = v_definition then
    raise exception '0043: claim_jobs does not return setof public.job_queue as expected';
  end if;
  drop function public.claim_jobs(text, integer, integer, text[]);
  execute v_changed;
end;
$$;

revoke execute on function public.claim_jobs(text, integer, integer, text[]) from public, anon, authenticated;
grant execute on function public.claim_jobs(text, integer, integer, text[]) to service_role;
