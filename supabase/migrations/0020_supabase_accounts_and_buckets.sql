-- 0020 Supabase: the image bucket the app is configured with (not only "generations"), and a user
-- deleted through Supabase Auth (GoTrue) takes their waiting work with them instead of failing it.

-- Creates a private bucket and its two policies (owners read the objects under their own id, the
-- service role everything), as 0013 does for "generations". Called by the app at start for the
-- bucket SUPABASE_STORAGE_BUCKET names. Returns false where this database has no Storage, or where
-- creating policies on storage.objects is not allowed (the bucket still works for the app then).
create function public.ensure_image_bucket(p_bucket text) returns boolean
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_owners  text := p_bucket || ': owners read their own images';
  v_service text := p_bucket || ': service role has full access';
begin
  if p_bucket is null or p_bucket !~ '^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$' then
    raise exception 'ensure_image_bucket: % is not a bucket name (3-63 of a-z 0-9 . _ -)', p_bucket using errcode = '22023';
  end if;
  if to_regclass('storage.buckets') is null or to_regclass('storage.objects') is null then
    return false;
  end if;
  insert into storage.buckets (id, name) values (p_bucket, p_bucket) on conflict (id) do nothing;
  begin
    if not exists (select from pg_policies where schemaname = 'storage' and tablename = 'objects' and policyname = v_owners) then
      execute format('create policy %I on storage.objects for select to authenticated '
                     'using (bucket_id = %L and (storage.foldername(name))[1] = (select auth.uid()::text))', v_owners, p_bucket);
    end if;
    if not exists (select from pg_policies where schemaname = 'storage' and tablename = 'objects' and policyname = v_service) then
      execute format('create policy %I on storage.objects for all to service_role '
                     'using (bucket_id = %L) with check (bucket_id = %L)', v_service, p_bucket, p_bucket);
    end if;
  exception when insufficient_privilege then
    raise warning 'Picture: not allowed to create policies on storage.objects for bucket % (%)', p_bucket, sqlerrm;
    return false;
  end;
  return true;
end;
$$;

revoke execute on function public.ensure_image_bucket(text) from public, anon, authenticated;
grant execute on function public.ensure_image_bucket(text) to service_role;

-- A generation deleted by its account's deletion (the foreign key cascades from auth.users) cancels
-- its job while that still waits or runs: otherwise it would run, find no generation and fail,
-- filling the failures page with work nobody can want any more. Finished jobs keep their history.
-- Security definer: it fires inside GoTrue's own delete (as supabase_auth_admin), which may not call
-- the queue's functions itself.
create function public.cancel_job_of_deleted_generation() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  if old.job_id is not null and old.status in ('queued', 'processing') then
    perform public.cancel_job(old.job_id, 'its generation was deleted');
  end if;
  return null;
end;
$$;

create trigger image_generations_cancel_job_on_delete
  after delete on public.image_generations
  for each row execute function public.cancel_job_of_deleted_generation();

revoke execute on function public.cancel_job_of_deleted_generation() from public, anon, authenticated;
