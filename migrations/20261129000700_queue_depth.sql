-- The queue at one instant, for the service's metrics (queue depth, jobs
-- waiting to be rescued, and how long the longest-waiting claimable job has
-- waited). Every instance may sample it every few seconds, so it reads only
-- queued and running rows, through their partial indexes, and counts what
-- claim_report_jobs() would claim with the same predicates. It reads every
-- user's rows: service_role only.
create or replace function public.report_job_queue_depth()
returns json
language sql
stable
set search_path = ''
as $$
  with active as (
    select j.status, j.run_after, j.lease_expires_at, j.expires_at
      from public.report_jobs j where j.status = 'queued'
    union all
    select j.status, j.run_after, j.lease_expires_at, j.expires_at
      from public.report_jobs j where j.status = 'running'
  ),
  flagged as (
    select a.*,
           (a.expires_at is null or a.expires_at > now()) as live,
           coalesce(a.lease_expires_at, '-infinity') < now() as lapsed
      from active a
  )
  select json_build_object(
    'queued',  count(*) filter (where f.status = 'queued'),
    'ready',   count(*) filter (where f.status = 'queued' and f.run_after <= now() and f.live),
    'running', count(*) filter (where f.status = 'running' and not f.lapsed),
    'expired', count(*) filter (where f.status = 'running' and f.lapsed and f.live),
    'oldest_ready_seconds', coalesce(extract(epoch from now() - min(f.run_after)
                              filter (where f.status = 'queued' and f.run_after <= now() and f.live)), 0)
  )
  from flagged f;
$$;

revoke all on function public.report_job_queue_depth() from public, anon, authenticated, service_role;
grant execute on function public.report_job_queue_depth() to service_role;
