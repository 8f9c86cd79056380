-- 0042 a start reads at most 25 hourly counts of a user's uses, not the uses themselves, unless it is near a limit.

-- 0041 counts the day's unrefunded uses up to the daily limit. With a large limit (an account
-- trusted with 1,000,000 a day) that is every use of the day, read on every start: under 50
-- clients the count grew from 0.09 to 0.36 ms per start over three 10 s rounds, and the start with
-- it. Here each start also bumps a per-user, per-hour count; the day's and the hour's counts are
-- an upper bound on the exact ones, so while the bound is under both limits the answer is yes
-- without reading a single use. Near a limit, the exact bounded count of 0041 decides.
--
-- The counts only ever go up: a use counts in its hour when it is written or starts counting again
-- (charged again, or moved), and is never taken off on a refund or a delete. That keeps the bound
-- an upper bound under any order of writes, and keeps refunds (the worker, an admin's bulk cancel)
-- from locking rows they did not lock before. A user who had many refunds this hour falls back to
-- the exact count sooner; the answer is the same either way.

create table public.generation_usage_hours (
  user_id uuid        not null references auth.users (id) on delete cascade,
  hour    timestamptz not null,
  uses    integer     not null,
  constraint generation_usage_hours_pkey primary key (user_id, hour),
  constraint uses_positive check (uses > 0)
);
comment on table public.generation_usage_hours is
  'Uses started per user and hour (start_generation''s fast limit check): never less than the unrefunded uses of that hour in generation_usage.';
alter table public.generation_usage_hours enable row level security;
create policy "Service role has full access" on public.generation_usage_hours
  for all to service_role using (true) with check (true);
revoke all on public.generation_usage_hours from public, anon, authenticated;
grant all on public.generation_usage_hours to service_role;

-- The hour a use counts in (UTC hours, whatever the session's time zone). Plain SQL, so it is inlined.
create function public.usage_hour(p_at timestamptz) returns timestamptz
language sql immutable parallel safe as $$
  select date_bin('1 hour', p_at, timestamptz '2000-01-01 00:00:00+00')
$$;

-- Runs as the writer of generation_usage (start_generation, the refund triggers, service_role): no
-- definer rights of its own, and every name qualified.
create function public.count_usage_hour() returns trigger
language plpgsql as $$
declare
  v_hour timestamptz := public.usage_hour(new.created_at);
begin
  -- No start now or later reads an hour this old (readers go back 25 hours).
  if v_hour < public.usage_hour(now() - interval '2 days') then
    return null;
  end if;
  update public.generation_usage_hours set uses = uses + 1
  where user_id = new.user_id and hour = v_hour;
  if not found then
    -- A user's first use of an hour: drop their hours no one reads any more, then open this one.
    delete from public.generation_usage_hours
    where user_id = new.user_id and hour < public.usage_hour(now() - interval '2 days');
    insert into public.generation_usage_hours (user_id, hour, uses) values (new.user_id, v_hour, 1)
    on conflict (user_id, hour) do update set uses = public.generation_usage_hours.uses + 1;
  end if;
  return null;
end;
$$;

create function public.clear_usage_hours() returns trigger
language plpgsql as $$
begin
  truncate public.generation_usage_hours;
  return null;
end;
$$;
revoke execute on function public.count_usage_hour(), public.clear_usage_hours() from public, anon, authenticated;

create trigger generation_usage_counts_hour
  after insert on public.generation_usage
  for each row when (new.refunded_at is null)
  execute function public.count_usage_hour();

-- Counts again when a use starts counting in an hour it was not counted in just before.
create trigger generation_usage_recounts_hour
  after update of user_id, created_at, refunded_at on public.generation_usage
  for each row when (new.refunded_at is null and (old.refunded_at is not null
                     or old.user_id is distinct from new.user_id or old.created_at is distinct from new.created_at))
  execute function public.count_usage_hour();

create trigger generation_usage_clears_hours
  after truncate on public.generation_usage
  for each statement execute function public.clear_usage_hours();

-- The uses already made (the triggers above hold off writers of generation_usage until commit).
insert into public.generation_usage_hours (user_id, hour, uses)
select u.user_id, public.usage_hour(u.created_at), count(*)
from public.generation_usage u
where u.refunded_at is null and u.created_at >= public.usage_hour(now() - interval '2 days')
group by 1, 2;

create or replace function public.may_start_generation(p_user_id uuid) returns boolean
language plpgsql stable security definer set search_path = public, pg_temp as $$
declare
  v_hourly_limit   integer;
  v_daily_limit    integer;
  v_has_budget     boolean;
  v_hourly_used    bigint;
  v_daily_used     bigint;
begin
  select coalesce(l.hourly_limit, d.hourly), coalesce(l.daily_limit, d.daily),
         l.daily_budget_usd is not null or l.monthly_budget_usd is not null
    into v_hourly_limit, v_daily_limit, v_has_budget
  from default_user_limits() d
  left join user_limits l on l.user_id = p_user_id;
  -- Money is get_user_limits' rule alone (one definition of what has been spent).
  if v_has_budget then
    return coalesce((get_user_limits(p_user_id) ->> 'can_generate')::boolean, false);
  end if;
  -- The upper bound: every hour that overlaps the window, whole. Under both limits, so are the uses.
  select coalesce(sum(h.uses) filter (where h.hour >= usage_hour(now() - interval '1 hour')), 0),
         coalesce(sum(h.uses), 0)
    into v_hourly_used, v_daily_used
  from generation_usage_hours h
  where h.user_id = p_user_id and h.hour >= usage_hour(now() - interval '1 day');
  if v_hourly_used < v_hourly_limit and v_daily_used < v_daily_limit then
    return true;
  end if;
  -- The same window and the same rows as get_user_limits' usage, newest first, at most the limit.
  select count(*) filter (where r.created_at > now() - interval '1 hour'), count(*)
    into v_hourly_used, v_daily_used
  from (
    select u.created_at from generation_usage u
    where u.user_id = p_user_id and u.created_at > now() - interval '1 day' and u.refunded_at is null
    order by u.created_at desc
    limit greatest(v_daily_limit, 0)
  ) r;
  return v_hourly_used < v_hourly_limit and v_daily_used < v_daily_limit;
end;
$$;
