-- 0003 monitoring views: the seed's queue_health, failed_jobs_recent and stuck_jobs, read with the caller's rights.

create view public.queue_health with (security_invoker = true) as
select
  job_type,
  status,
  count(*)::bigint as count,
  round(avg(extract(epoch from (completed_at - started_at)))::numeric, 3) as avg_duration_seconds,
  min(created_at) as oldest_created_at,
  max(created_at) as newest_created_at
from public.job_queue
group by job_type, status;

create view public.failed_jobs_recent with (security_invoker = true) as
select id, job_type, payload, status, error_message, error_details, attempts, max_attempts,
       created_by, created_at, started_at, completed_at
from public.job_queue
where status = 'failed' and completed_at > now() - interval '24 hours';

-- Running jobs whose lease ran out, or that have run for more than ten minutes.
create view public.stuck_jobs with (security_invoker = true) as
select id, job_type, payload, status, attempts, max_attempts, locked_by, locked_until,
       started_at, created_by, created_at,
       now() - started_at as running_for,
       locked_until < now() as lease_expired
from public.job_queue
where status = 'processing'
  and (locked_until < now() or started_at < now() - interval '10 minutes');

revoke all on public.queue_health, public.failed_jobs_recent, public.stuck_jobs from anon;
grant select on public.queue_health, public.failed_jobs_recent, public.stuck_jobs to authenticated, service_role;
