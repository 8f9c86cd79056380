-- 0019 job search: the console finds jobs by words of their generation's prompt and of their error, through trigram indexes.

-- pg_trgm is a contrib extension: Supabase offers it in the schema `extensions`, where it keeps every
-- extension; plain Postgres (the embedded server, tests) gets that schema made here. A database that
-- already has pg_trgm, in whichever schema, keeps it there. It is a trusted extension, so Supabase's
-- non-superuser postgres may create it.
do $trgm$
begin
  if not exists (select 1 from pg_extension where extname = 'pg_trgm') then
    if not exists (select 1 from pg_namespace where nspname = 'extensions') then
      create schema extensions;
      grant usage on schema extensions to anon, authenticated, service_role;
    end if;
    create extension pg_trgm with schema extensions;
  end if;
end
$trgm$;

-- The operator class is named with the extension's schema, wherever that is: the migrations run with
-- whatever search_path the connection has.
do $indexes$
declare
  v_schema text := (select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm');
begin
  -- Prompts: a generation is written once and its prompt never changes, so the index costs one
  -- insert per generation (start_generation) and nothing on progress updates, which stay heap-only.
  execute format('create index image_generations_prompt_trgm_idx on public.image_generations using gin (prompt %I.gin_trgm_ops)', v_schema);
  -- Errors: only rows with a message are in it (failures, retries, cancel reasons). A job that never
  -- failed has none, so its claim, heartbeats and completion add no entry here.
  execute format(
    'create index job_queue_error_message_trgm_idx on public.job_queue using gin (error_message %I.gin_trgm_ops) where error_message is not null',
    v_schema);
end
$indexes$;

-- E-mail addresses live in auth.users, which belongs to Supabase Auth: no index of ours may be put on
-- it. The console reads the (far fewer) users by substring and then their jobs by
-- job_queue_created_by_idx.
-- Payloads get no index: job_queue's updates are never heap-only (status is indexed), so every claim,
-- heartbeat and completion would write each payload's trigrams again. A generate-image job's payload
-- holds only ids, which the search matches exactly (a job's or its generation's id, or their start).
