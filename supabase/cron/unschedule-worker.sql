-- Stops the worker schedule that schedule-worker.sql created (the seed's rollback step 7.1). Safe to run
-- when nothing is scheduled. Jobs already queued stay as they are; a running call finishes its budget.
--
-- How to use: paste it into the Supabase SQL editor, or
--   psql "$SUPABASE_DB_URL" -v ON_ERROR_STOP=1 -f supabase/cron/unschedule-worker.sql
-- The Vault secrets picture_app_url and picture_cron_secret are kept for a later schedule; remove them with
--   delete from vault.secrets where name in ('picture_app_url', 'picture_cron_secret');

-- cron.unschedule(name) raises an error when no such job exists: unschedule only what is there.
select cron.unschedule(jobid) as unscheduled from cron.job where jobname = 'picture-worker';

-- Should return no rows.
select jobid, jobname from cron.job where jobname = 'picture-worker';
