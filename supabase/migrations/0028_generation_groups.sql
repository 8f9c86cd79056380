-- 0028 generation groups: one prompt, several pictures (1-4 models x 1-4 seeds), started in one transaction under the same limits, followed and cancelled as one.

create table public.generation_groups (
  id                   uuid primary key default gen_random_uuid(),
  user_id              uuid not null references auth.users (id) on delete cascade,
  prompt               text not null,
  idempotency_key      text,
  -- "Pick one to keep": the member the user chose (null until then, or when it was deleted).
  kept_generation_id   uuid,
  created_at           timestamptz not null default now(),
  constraint idempotency_key_length check (idempotency_key is null or char_length(idempotency_key) between 1 and 255)
);
-- One key, one group, per user (whoever retries).
create unique index generation_groups_idempotency_key_idx
  on public.generation_groups (user_id, idempotency_key) where idempotency_key is not null;

alter table public.image_generations
  add column group_id       uuid references public.generation_groups (id) on delete set null,
  add column group_position smallint,
  add constraint group_position_in_range check (group_position is null or group_position between 0 and 15);
-- A group's members, in the order they were asked for.
create index image_generations_group_idx on public.image_generations (group_id, group_position) where group_id is not null;

alter table public.generation_groups
  add constraint kept_generation_fk foreign key (kept_generation_id) references public.image_generations (id) on delete set null;

alter table public.generation_groups enable row level security;
create policy "Users can view their own groups" on public.generation_groups
  for select to authenticated using (user_id = auth.uid());
create policy "Service role has full access" on public.generation_groups
  for all to service_role using (true) with check (true);
revoke all on public.generation_groups from anon, authenticated;
grant select on public.generation_groups to authenticated;
grant all on public.generation_groups to service_role;

-- A group's status, from its members, in one place for the app and for psql alike:
--   queued     every member is still queued
--   running    some member runs, or some have ended while others have not
--   done       every member completed
--   partly_done every member ended, some completed and some did not (failed or cancelled)
--   failed     every member ended and none completed, at least one failed
--   cancelled  every member was cancelled
-- A cancelled member is an ended member without a picture. complete = no member can change any more.
create view public.generation_group_summary with (security_invoker = true) as
select g.id as group_id, g.user_id,
       count(m.id)::integer as members,
       count(*) filter (where m.status = 'completed')::integer as completed,
       count(*) filter (where m.status = 'failed')::integer as failed,
       count(*) filter (where m.status = 'cancelled')::integer as cancelled,
       count(*) filter (where m.status in ('queued', 'processing'))::integer as active,
       case
         when count(m.id) = 0 then 'cancelled'
         when bool_and(m.status = 'queued') then 'queued'
         when bool_or(m.status in ('queued', 'processing')) then 'running'
         when bool_and(m.status = 'completed') then 'done'
         when bool_or(m.status = 'completed') then 'partly_done'
         when bool_and(m.status = 'cancelled') then 'cancelled'
         else 'failed'
       end as status,
       coalesce(bool_and(m.status in ('completed', 'failed', 'cancelled')), true) as complete
from public.generation_groups g
left join public.image_generations m on m.group_id = g.id
group by g.id, g.user_id;
revoke all on public.generation_group_summary from anon, authenticated;
grant select on public.generation_group_summary to authenticated, service_role;

-- Starts a group: p_members is a JSON array of {"model_id": text, "seed": bigint}, 1 to 16 of them,
-- all at p_width x p_height. All or nothing: every member is checked (model enabled, runnable here,
-- the size within its rules) and the user must have room for every picture, or nothing is written.
-- Same user lock as start_generation, so singles and groups count against the same limits in turn.
-- Group keys and single keys are separate: a group's members carry no idempotency key of their own.
create function public.start_generation_group(
  p_user_id         uuid,
  p_prompt          text,
  p_width           integer,
  p_height          integer,
  p_members         jsonb,
  p_negative_prompt text default null,
  p_idempotency_key text default null,
  p_defer_wake      boolean default false,
  p_providers       text[] default null
) returns jsonb
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_existing generation_groups;
  v_member   jsonb;
  v_model    models;
  v_limits   jsonb;
  v_room     integer;
  v_count    integer;
  v_group_id uuid;
  v_id       uuid;
  v_job_id   uuid;
  v_paused   boolean;
  v_position integer := 0;
  v_ids      jsonb := '[]'::jsonb;
begin
  if auth.uid() is not null and auth.uid() <> p_user_id then
    raise exception 'start_generation_group: cannot start a group for another user' using errcode = '42501';
  end if;
  if p_members is null or jsonb_typeof(p_members) <> 'array' or jsonb_array_length(p_members) not between 1 and 16 then
    raise exception 'start_generation_group: a group has 1 to 16 members' using errcode = '22023';
  end if;
  v_count := jsonb_array_length(p_members);
  for v_member in select value from jsonb_array_elements(p_members) loop
    select * into v_model from models where id = v_member ->> 'model_id' and enabled;
    if not found then
      raise exception 'start_generation_group: model % does not exist or is disabled', v_member ->> 'model_id' using errcode = '22023';
    end if;
    if p_providers is not null and not (v_model.provider = any (p_providers)) then
      raise exception 'start_generation_group: model % cannot run on this server', v_model.id using errcode = '22023';
    end if;
    if p_width is null or p_height is null
       or p_width not between v_model.min_size and v_model.max_size or p_width % v_model.size_step <> 0
       or p_height not between v_model.min_size and v_model.max_size or p_height % v_model.size_step <> 0 then
      raise exception 'start_generation_group: % x % is not a size model % makes', p_width, p_height, v_model.id using errcode = '22023';
    end if;
  end loop;

  perform pg_advisory_xact_lock(hashtextextended('start_generation:' || p_user_id::text, 0));

  if p_idempotency_key is not null then
    select * into v_existing from generation_groups where user_id = p_user_id and idempotency_key = p_idempotency_key;
    if found then
      return jsonb_build_object('outcome', 'existing', 'group_id', v_existing.id);
    end if;
  end if;

  -- can_generate carries every rule get_user_limits keeps (counts, and whatever else it learns to
  -- refuse); the counts must also have room for the whole group.
  v_limits := get_user_limits(p_user_id);
  v_room := least((v_limits ->> 'hourly_limit')::integer - (v_limits ->> 'hourly_used')::integer,
                  (v_limits ->> 'daily_limit')::integer - (v_limits ->> 'daily_used')::integer);
  if not (v_limits ->> 'can_generate')::boolean or v_room < v_count then
    return jsonb_build_object('outcome', 'rate_limited', 'limits', v_limits, 'needed', v_count, 'room', greatest(v_room, 0));
  end if;

  if p_defer_wake then
    perform set_config('picture.defer_wake', 'on', true);
  end if;

  insert into generation_groups (user_id, prompt, idempotency_key)
  values (p_user_id, btrim(p_prompt), p_idempotency_key)
  returning id into v_group_id;

  v_paused := exists (select 1 from job_queue_paused_types where job_type = 'generate-image');
  for v_member in select value from jsonb_array_elements(p_members) loop
    select * into v_model from models where id = v_member ->> 'model_id';
    insert into image_generations (user_id, prompt, negative_prompt, model_id, width, height, seed, params,
                                   queue_paused, group_id, group_position)
    values (p_user_id, btrim(p_prompt), nullif(btrim(p_negative_prompt), ''), v_model.id, p_width, p_height,
            (v_member ->> 'seed')::bigint, '{}'::jsonb, v_paused, v_group_id, v_position)
    returning id into v_id;
    v_job_id := enqueue_job('generate-image',
                            jsonb_build_object('generation_id', v_id, 'model_id', v_model.id,
                                               'attempt_timeout_seconds', v_model.attempt_timeout_seconds),
                            0, now(), 3, 'generation:' || v_id, p_user_id);
    update image_generations set job_id = v_job_id where id = v_id;
    v_ids := v_ids || jsonb_build_array(jsonb_build_object('generation_id', v_id, 'job_id', v_job_id));
    v_position := v_position + 1;
  end loop;

  if p_defer_wake then
    perform set_config('picture.defer_wake', 'off', true);
  end if;

  return jsonb_build_object('outcome', 'created', 'group_id', v_group_id, 'members', v_ids);
end;
$$;

revoke execute on function public.start_generation_group(uuid, text, integer, integer, jsonb, text, text, boolean, text[])
  from public, anon;
grant execute on function public.start_generation_group(uuid, text, integer, integer, jsonb, text, text, boolean, text[])
  to authenticated, service_role;

-- Cancels every member still queued or running, each through cancel_generation (its job through
-- cancel_job), in one transaction. Returns the group's members as they now stand; none when the
-- group is not the user's.
create function public.cancel_generation_group(p_group_id uuid, p_user_id uuid)
returns setof image_generations
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_member uuid;
begin
  if not exists (select 1 from generation_groups where id = p_group_id and user_id = p_user_id) then
    return;
  end if;
  for v_member in
    select id from image_generations
    where group_id = p_group_id and user_id = p_user_id and status in ('queued', 'processing')
    order by group_position
  loop
    perform cancel_generation(v_member, p_user_id);
  end loop;
  return query select * from image_generations where group_id = p_group_id and user_id = p_user_id order by group_position;
end;
$$;

revoke execute on function public.cancel_generation_group(uuid, uuid) from public, anon, authenticated;
grant execute on function public.cancel_generation_group(uuid, uuid) to service_role;
