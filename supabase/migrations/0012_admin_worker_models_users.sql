-- 0012 console operations: the seed's rollback (cancel everything waiting) as a guarded function,
-- per-model generation statistics with kept all-time totals, and the indexes those pages read through.

-- The seed's step 7.3 ("mark all pending jobs as cancelled"), made safe to run from a button: only
-- jobs created up to p_as_of (when the operator saw the count), and nothing at all when more rows
-- match than the operator confirmed (p_max_rows), so a confirmation never covers more than it said.
-- p_include_processing adds running jobs, as the seed's statement does; their handlers learn it at
-- the next heartbeat. Returns how many were cancelled and how many matched.
create function public.cancel_all_pending_jobs(
  p_as_of              timestamptz default now(),
  p_include_processing boolean default false,
  p_max_rows           integer default null,
  p_reason             text default null
) returns table (cancelled integer, matched integer)
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_ids uuid[];
begin
  if p_as_of is null then
    raise exception 'cancel_all_pending_jobs: as_of must not be null' using errcode = '22023';
  end if;
  if p_max_rows is not null and p_max_rows < 0 then
    raise exception 'cancel_all_pending_jobs: max_rows must not be negative' using errcode = '22023';
  end if;

  -- Lock the matching rows first: the count and the update then see the same set. Claimers skip
  -- locked rows, so they carry on with anything newer meanwhile. One status per statement, so each
  -- reads its partial index instead of the whole table.
  select coalesce(array_agg(s.id), '{}') into v_ids
  from (select j.id from job_queue j where j.status = 'pending' and j.created_at <= p_as_of for update) s;
  if coalesce(p_include_processing, false) then
    select v_ids || coalesce(array_agg(s.id), '{}') into v_ids
    from (select j.id from job_queue j where j.status = 'processing' and j.created_at <= p_as_of for update) s;
  end if;

  matched := cardinality(v_ids);
  if p_max_rows is not null and matched > p_max_rows then
    cancelled := 0;
    return next;
    return;
  end if;

  update job_queue j
  set status = 'cancelled', completed_at = now(), locked_by = null, locked_until = null,
      error_message = coalesce(p_reason, j.error_message), updated_at = now()
  where j.id = any (v_ids);
  get diagnostics cancelled = row_count;
  return next;
end;
$$;

revoke execute on function public.cancel_all_pending_jobs(timestamptz, boolean, integer, text) from public, anon, authenticated;
grant execute on function public.cancel_all_pending_jobs(timestamptz, boolean, integer, text) to service_role;

-- All-time generation counts per model up to counted_until, so the models page counts only what came
-- since instead of the whole history on every view. Recounted when a day old: deletions (an account
-- removed) and backfilled rows are exact again within a day, at no cost to writing generations.
create table public.model_generation_totals (
  model_id      text primary key references public.models (id) on delete cascade,
  counted_until timestamptz not null,
  generations   bigint not null,
  constraint generations_not_negative check (generations >= 0)
);

alter table public.model_generation_totals enable row level security;
create policy "Service role has full access" on public.model_generation_totals
  for all to service_role using (true) with check (true);
revoke all on public.model_generation_totals from anon, authenticated;
grant all on public.model_generation_totals to service_role;

create function public.refresh_model_generation_totals() returns void
language sql volatile set search_path = public, pg_temp as $$
  -- Stop short of now: a generation whose transaction began earlier may commit after this count,
  -- and the live part (created_at >= counted_until) still sees it.
  insert into model_generation_totals (model_id, counted_until, generations)
  select m.id, now() - interval '5 minutes',
         (select count(*) from image_generations g where g.model_id = m.id and g.created_at < now() - interval '5 minutes')
  from models m
  on conflict (model_id) do update set counted_until = excluded.counted_until, generations = excluded.generations;
$$;

-- Per model: generations in the last p_days and in all, success rate, run time (started to
-- completed) average and p95, and cost where the catalogue knows a per-second price.
-- The seed's 6.4 "average generation time by model", kept callable from psql. The window's cost
-- follows its traffic; the all-time count reads the kept totals plus the rows since.
create function public.model_generation_stats(p_days integer default 7)
returns table (
  model_id           text,
  generations_recent bigint,
  generations_total  bigint,
  completed_recent   bigint,
  failed_recent      bigint,
  success_rate       numeric,
  avg_seconds        numeric,
  p95_seconds        numeric,
  predict_seconds    numeric,
  cost               numeric,
  running            bigint
)
language plpgsql volatile set search_path = public, pg_temp as $$
begin
  -- One caller recounts a stale total; the others meanwhile read it as it is, plus the rows since.
  if exists (select 1 from models m left join model_generation_totals t on t.model_id = m.id
             where t.counted_until is null or t.counted_until < now() - interval '1 day')
     and pg_try_advisory_xact_lock(hashtextextended('refresh_model_generation_totals', 0)) then
    perform refresh_model_generation_totals();
  end if;

  return query
  select
    m.id,
    coalesce(r.generations, 0),
    coalesce(k.generations, 0) + (select count(*) from image_generations g
                                  where g.model_id = m.id and g.created_at >= coalesce(k.counted_until, '-infinity')),
    coalesce(r.completed, 0),
    coalesce(r.failed, 0),
    case when coalesce(r.completed, 0) + coalesce(r.failed, 0) > 0
         then round(r.completed::numeric / (r.completed + r.failed), 4) end,
    round(r.avg_seconds::numeric, 3),
    round(r.p95_seconds::numeric, 3),
    r.predict_seconds,
    round(r.predict_seconds * m.cost_per_second, 4),
    (select count(*) from image_generations g where g.model_id = m.id and g.status = 'processing')
  from models m
  left join model_generation_totals k on k.model_id = m.id
  left join lateral (
    select count(*) as generations,
           count(*) filter (where g.status = 'completed') as completed,
           count(*) filter (where g.status = 'failed') as failed,
           -- date_part gives float8: sorting a week of float8 for the p95 is several times cheaper than numeric.
           avg(date_part('epoch', g.completed_at - g.started_at)) filter (where g.status = 'completed') as avg_seconds,
           percentile_cont(0.95) within group (order by date_part('epoch', g.completed_at - g.started_at))
             filter (where g.status = 'completed') as p95_seconds,
           sum(g.predict_time_seconds) as predict_seconds
    from image_generations g
    where g.model_id = m.id and g.created_at > now() - make_interval(days => greatest(coalesce(p_days, 7), 1))
  ) r on true
  order by m.sort_order, m.id;
end;
$$;

revoke execute on function public.model_generation_stats(integer), public.refresh_model_generation_totals()
  from public, anon, authenticated;
grant execute on function public.model_generation_stats(integer), public.refresh_model_generation_totals() to service_role;

-- Per-model statistics read one model's week of generations, and the rows since its kept total,
-- from this index alone (index-only scans). The included columns change only with status, which
-- already rules out a heap-only update, so the frequent progress writes stay heap-only.
create index image_generations_model_created_idx on public.image_generations (model_id, created_at)
  include (status, started_at, completed_at, predict_time_seconds);

-- The worker history filtered by trigger, newest first (manual runs are rare among cron runs).
create index worker_runs_trigger_id_idx on public.worker_runs (trigger, id desc);
