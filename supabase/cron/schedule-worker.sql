-- Schedules Picture's worker on Supabase: pg_cron calls POST <app url>/api/worker every minute through
-- pg_net, with the cron secret as a Bearer token. Not a migration: run it yourself, once, after deploying
-- the app (it is safe to run again: the job "picture-worker" is replaced, never duplicated).
--
-- How to use
--   1. Enable the extensions pg_cron and pg_net (Dashboard > Integrations, or in the SQL editor:
--        create extension if not exists pg_cron;
--        create extension if not exists pg_net with schema extensions;
--   2. Store the app's URL and its CRON_SECRET in Supabase Vault (once; the job reads them at every run,
--      so they never appear in cron.job, and rotating them needs no new schedule):
--        select vault.create_secret('https://picture.example.com', 'picture_app_url', 'Picture: base URL of the app');
--        select vault.create_secret('<the CRON_SECRET the app runs with>', 'picture_cron_secret', 'Picture: worker endpoint token');
--      To change one later:
--        select vault.update_secret(id, '<new value>') from vault.decrypted_secrets where name = 'picture_cron_secret';
--   3. Run this file: paste it into the SQL editor, or
--        psql "$SUPABASE_DB_URL" -v ON_ERROR_STOP=1 -f supabase/cron/schedule-worker.sql
--   4. Watch it: select * from cron.job_run_details
--                where jobid = (select jobid from cron.job where jobname = 'picture-worker')
--                order by start_time desc limit 10;
--      and the responses pg_net received: select * from net._http_response order by created desc limit 10;
--   Stop it with supabase/cron/unschedule-worker.sql.
--
-- Each call works the queue for the app's time budget (WORKER_BUDGET_SECONDS, 50 s by default; keep it
-- under the interval) and answers {success, processed, errors, message}. The request's timeout is the
-- budget plus 15 s.
--
-- Every few seconds instead (pg_cron >= 1.5, as on Supabase): replace '* * * * *' below with '10 seconds',
-- give each call a budget that ends before the next one, and a timeout to match:
--     url := rtrim(..., '/') || '/api/worker?budget_seconds=8',
--     timeout_milliseconds := 10000
-- pg_net sends each request in the background, so calls overlap when the budget outlasts the interval:
-- harmless (workers share the queue safely) but wasteful.

do $schedule$
begin
  if to_regnamespace('cron') is null then
    raise exception 'pg_cron is not enabled: run  create extension if not exists pg_cron;  first';
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    raise exception 'pg_net is not enabled: run  create extension if not exists pg_net with schema extensions;  first';
  end if;
  if to_regclass('vault.decrypted_secrets') is null then
    raise exception 'Supabase Vault (schema vault) is not available in this database';
  end if;
  if not exists (select from vault.decrypted_secrets where name = 'picture_app_url' and decrypted_secret ~ '^https?://') then
    raise exception 'Vault secret picture_app_url is missing (or is not an http(s) URL): select vault.create_secret(''https://your-app.example.com'', ''picture_app_url'');';
  end if;
  if not exists (select from vault.decrypted_secrets where name = 'picture_cron_secret' and length(decrypted_secret) >= 16) then
    raise exception 'Vault secret picture_cron_secret is missing (or shorter than 16 characters): select vault.create_secret(''<CRON_SECRET>'', ''picture_cron_secret'');';
  end if;

  -- Scheduling under an existing name replaces that job's schedule and command.
  perform cron.schedule(
    'picture-worker',
    '* * * * *',
    $job$
    select net.http_post(
      url := rtrim((select decrypted_secret from vault.decrypted_secrets where name = 'picture_app_url'), '/') || '/api/worker',
      body := '{}'::jsonb,
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets where name = 'picture_cron_secret')
      ),
      timeout_milliseconds := 65000
    ) as request_id;
    $job$
  );
end
$schedule$;

select jobid, jobname, schedule, active from cron.job where jobname = 'picture-worker';
