-- How long until a queued job is done, before it starts: its place in the
-- queue (all users' jobs ahead of it, which the caller cannot see under
-- RLS, hence SECURITY DEFINER with its own ownership check), the number of
-- jobs running now as the measure of parallelism, and how long recent jobs
-- of its model took. Returns whole seconds, or null when the job is not the
-- caller's queued job.
create or replace function public.report_job_queue_estimate(p_job_id text, p_user_id uuid default null)
returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user    uuid := public.report_job_actor(p_user_id);
  v_job     public.report_jobs;
  v_avg     double precision;
  v_ahead   integer;
  v_running integer;
begin
  select * into v_job from public.report_jobs
   where job_id = p_job_id and user_id = v_user and status = 'queued';
  if not found then
    return null;
  end if;

  select avg(d) into v_avg from (
    select extract(epoch from (completed_at - started_at)) as d
      from public.report_jobs
     where status = 'succeeded' and model = v_job.model and started_at is not null
       and completed_at > now() - interval '7 days'
     order by completed_at desc
     limit 50) recent;
  if v_avg is null then
    select avg(d) into v_avg from (
      select extract(epoch from (completed_at - started_at)) as d
        from public.report_jobs
       where status = 'succeeded' and started_at is not null and completed_at > now() - interval '7 days'
       order by completed_at desc
       limit 50) recent;
  end if;
  v_avg := coalesce(v_avg, 60);

  select count(*) into v_ahead from public.report_jobs
   where status = 'queued' and (created_at, id) < (v_job.created_at, v_job.id);
  select greatest(count(*), 1) into v_running from public.report_jobs
   where status = 'running' and lease_expires_at >= now();

  return ceil(greatest(extract(epoch from (v_job.run_after - now())), 0)
              + (v_ahead::double precision / v_running) * v_avg + v_avg)::integer;
end;
$$;

revoke all on function public.report_job_queue_estimate(text, uuid) from public, anon, authenticated, service_role;
grant execute on function public.report_job_queue_estimate(text, uuid) to authenticated, service_role;
