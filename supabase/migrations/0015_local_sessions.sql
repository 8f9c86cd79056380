-- 0015 local sessions and sign-in reservations: a session cookie names a row here, so sign-out, "sign
-- out everywhere", a password change or an administrator end it at once; and each sign-in takes its
-- place in the lockout before the password is checked, so forty at once check at most five.

create table app_private.sessions (
  id           uuid primary key default gen_random_uuid(),
  user_id      uuid not null references auth.users (id) on delete cascade,
  created_at   timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at   timestamptz not null,
  user_agent   text,
  constraint user_agent_length check (user_agent is null or char_length(user_agent) <= 300),
  constraint expires_after_creation check (expires_at > created_at)
);

-- "Sign out everywhere" and the account page find a user's sessions.
create index sessions_user_idx on app_private.sessions (user_id, created_at desc);
-- Expired rows are deleted by whoever creates a session; this finds them.
create index sessions_expires_idx on app_private.sessions (expires_at);

create function app_private.create_session(p_user_id uuid, p_ttl interval, p_user_agent text default null)
returns uuid
language plpgsql volatile set search_path = app_private, pg_temp as $$
declare
  v_id uuid;
begin
  if p_ttl is null or p_ttl <= interval '0' or p_ttl > interval '90 days' then
    raise exception 'create_session: ttl must be between 0 and 90 days' using errcode = '22023';
  end if;
  -- A little housekeeping per sign-in keeps the table to live sessions without a scheduler.
  delete from sessions where id in (select id from sessions where expires_at < now() limit 100);
  insert into sessions (user_id, expires_at, user_agent)
  values (p_user_id, now() + p_ttl, left(p_user_agent, 300))
  returning id into v_id;
  return v_id;
end;
$$;

-- The live session's account, as it is now (so a role taken away counts at once); nothing when the
-- session ended, expired, or its account was deleted. last_seen_at is written at most once a minute.
create function app_private.resolve_session(p_session_id uuid)
returns table (user_id uuid, email text, app_metadata jsonb)
language plpgsql volatile set search_path = app_private, pg_temp as $$
begin
  update sessions s set last_seen_at = now()
  where s.id = p_session_id and s.expires_at > now() and s.last_seen_at < now() - interval '1 minute';
  return query
  select s.user_id, u.email::text, coalesce(u.raw_app_meta_data, '{}'::jsonb)
  from sessions s join auth.users u on u.id = s.user_id
  where s.id = p_session_id and s.expires_at > now();
end;
$$;

create function app_private.end_session(p_session_id uuid) returns boolean
language sql volatile set search_path = app_private, pg_temp as $$
  with gone as (delete from sessions where id = p_session_id returning 1)
  select exists (select 1 from gone);
$$;

-- Every session of an account but p_keep (the one asking, when it signs out its other devices).
create function app_private.end_user_sessions(p_user_id uuid, p_keep uuid default null) returns integer
language sql volatile set search_path = app_private, pg_temp as $$
  with gone as (
    delete from sessions where user_id = p_user_id and (p_keep is null or id <> p_keep) returning 1
  )
  select count(*)::integer from gone;
$$;

-- One statement: under a per-address lock, count the window's attempts and, if under the limit,
-- record this one as a failure before the password is checked (a success deletes it again).
-- Returns null when the attempt may go ahead, else the seconds until the oldest attempt ages out.
create function app_private.reserve_sign_in_attempt(p_email text, p_max integer, p_window interval)
returns integer
language plpgsql volatile set search_path = app_private, pg_temp as $$
declare
  v_count  integer;
  v_oldest timestamptz;
begin
  if p_max is null or p_max < 1 or p_window is null or p_window <= interval '0' then
    raise exception 'reserve_sign_in_attempt: max must be positive and window longer than 0' using errcode = '22023';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('picture.sign_in:' || lower(p_email), 0));
  select count(*), min(failed_at) into v_count, v_oldest
  from sign_in_failures
  where lower(email) = lower(p_email) and failed_at > now() - p_window;
  if v_count >= p_max then
    return greatest(1, ceil(extract(epoch from (v_oldest + p_window - now()))))::integer;
  end if;
  insert into sign_in_failures (email) values (lower(p_email));
  return null;
end;
$$;

alter table app_private.sessions enable row level security;
revoke all on app_private.sessions from public;
revoke execute on function
  app_private.create_session(uuid, interval, text),
  app_private.resolve_session(uuid),
  app_private.end_session(uuid),
  app_private.end_user_sessions(uuid, uuid),
  app_private.reserve_sign_in_attempt(text, integer, interval)
from public;
