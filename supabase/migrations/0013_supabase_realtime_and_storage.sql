-- 0013 on Supabase: publish job and generation changes to Realtime, and keep images in a private "generations" bucket readable only by their owner.

-- Everything here depends on what the database has: Supabase's supabase_realtime publication and its
-- storage schema. A plain Postgres (embedded, tests) has neither, and this migration changes nothing there.
-- Each step checks before it acts, so running this file again changes nothing either.

-- Realtime (the seed's step 5.4): add the tables not yet published.
do $realtime$
declare
  v_table text;
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    return;
  end if;
  foreach v_table in array array['job_queue', 'image_generations'] loop
    if not exists (select from pg_publication_tables
                   where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = v_table) then
      execute format('alter publication supabase_realtime add table public.%I', v_table);
    end if;
  end loop;
end
$realtime$;

-- Storage: the bucket the app writes to by default (SUPABASE_STORAGE_BUCKET=generations), private.
-- Keys are <user id>/<generation id>.<ext> and <user id>/<generation id>.thumb.webp, so an object's
-- first folder names its owner. The app itself reads and writes with the service role.
do $storage$
begin
  if to_regclass('storage.buckets') is null or to_regclass('storage.objects') is null then
    return;
  end if;

  -- Buckets are private by default; (id, name) only, because during a local `supabase db reset` the
  -- storage tables can still have their first shape (no "public" column yet). An existing bucket is kept.
  insert into storage.buckets (id, name)
  values ('generations', 'generations')
  on conflict (id) do nothing;

  -- Supabase's postgres role does not own storage.objects; the platform lets it create policies there
  -- (supautils policy_grants). Where that is not allowed, the bucket still works for the app (the
  -- service role bypasses RLS) and users simply cannot read objects directly: say so, do not fail.
  begin
    if not exists (select from pg_policies where schemaname = 'storage' and tablename = 'objects'
                   and policyname = 'generations: owners read their own images') then
      create policy "generations: owners read their own images" on storage.objects
        for select to authenticated
        using (bucket_id = 'generations' and (storage.foldername(name))[1] = (select auth.uid()::text));
    end if;
    if not exists (select from pg_policies where schemaname = 'storage' and tablename = 'objects'
                   and policyname = 'generations: service role has full access') then
      create policy "generations: service role has full access" on storage.objects
        for all to service_role
        using (bucket_id = 'generations') with check (bucket_id = 'generations');
    end if;
  exception when insufficient_privilege then
    raise warning 'Picture: not allowed to create policies on storage.objects (%); signed-in users cannot read their images directly until you add them in the dashboard (Storage > Policies)', sqlerrm;
  end;
end
$storage$;
