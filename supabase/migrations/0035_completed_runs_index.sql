-- 0035 a model's last 50 completed runs read from an index of completed runs only: the estimates walked every queued generation of the model to find them.

-- generation_cost_estimate (0027, called by every start) and the queue places' run times took "the
-- last 50 completed" from image_generations_model_created_idx, newest first, skipping every
-- generation that was not completed. A burst of starts is exactly a model's newest generations
-- being queued, so each start walked the whole burst: 1.6 ms of a 6.8 ms start with 3,000 queued,
-- growing with the queue. Completed rows only, newest completion first, with what the two readers
-- need, so both read 50 index entries and no heap. A completion already rewrites every index of the
-- row (its status is in several), so this one costs a completion one more entry and a start nothing.
create index image_generations_completed_runs_idx on public.image_generations (model_id, completed_at desc)
  include (run_started_at, started_at, predict_time_seconds, cost_usd)
  where status = 'completed' and completed_at is not null;

-- As 0027, reading the index above: the last 50 runs by completion time.
create or replace function public.generation_cost_estimate(p_model_id text, p_price numeric) returns numeric
language sql stable set search_path = public, pg_temp as $$
  with recent as (
    select g.predict_time_seconds, g.cost_usd from image_generations g
    where g.model_id = p_model_id and g.status = 'completed' and g.completed_at is not null
    order by g.completed_at desc limit 50
  )
  select round(coalesce(
    p_price * coalesce((select percentile_cont(0.5) within group (order by predict_time_seconds) from recent)::numeric, 10),
    (select percentile_cont(0.5) within group (order by cost_usd) from recent)::numeric,
    0), 6);
$$;
