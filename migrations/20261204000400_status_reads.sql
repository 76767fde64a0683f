-- Status reads that stay flat as the queue grows.
--
-- A queued job's estimate used to count every queued job ahead of it and
-- average recent successes on each read. Now a read costs the same however
-- many jobs are stored or wait: get_report_job() returns, with the row, the
-- job's rank among its owner's waiting jobs (an index range of at most 100
-- entries: a user keeps at most MAX_QUEUED_PER_USER, 100 by default, waiting;
-- a deeper rank counts as 100), and the service combines it with a snapshot of the whole
-- queue (report_job_queue_snapshot(), read at most once a second per
-- instance): report.QueueSnapshot.Estimate.

-- The latest successes of a model, newest first, for the durations.
create index if not exists report_jobs_succeeded_model
  on public.report_jobs (model, completed_at desc) where status = 'succeeded';

drop function if exists public.report_job_queue_estimate(text, uuid);

-- One job of the caller, with its attempts and, when it waits, its place
-- in its owner's queue. Runs as the caller (row-level security applies); a
-- service caller names the user. Returns null when the job is not the
-- caller's.
create or replace function public.get_report_job(p_job_id text, p_user_id uuid default null)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_user uuid := public.report_job_actor(p_user_id);
  v_job  public.report_jobs;
  v_rank integer;
begin
  select * into v_job from public.report_jobs where job_id = p_job_id and user_id = v_user;
  if not found then
    return null;
  end if;
  if v_job.status = 'queued' then
    select count(*) into v_rank from (
      select 1 from public.report_jobs j
       where j.status = 'queued' and j.user_id = v_job.user_id and (j.created_at, j.id) <= (v_job.created_at, v_job.id)
       order by j.created_at, j.id
       limit 100) ahead;
  end if;
  return jsonb_build_object(
    'job', to_jsonb(v_job),
    'rank', v_rank,
    'attempts', coalesce((
      select jsonb_agg(jsonb_build_object('attempt', a.attempt, 'started_at', a.started_at, 'ended_at', a.ended_at,
                                          'outcome', a.outcome, 'error', a.error, 'details', a.details) order by a.epoch)
        from public.report_job_attempts a where a.job_row_id = v_job.id), '[]'::jsonb));
end;
$$;

-- The whole queue as an estimate needs it: jobs running, how many users
-- have how many jobs waiting (each user's counted up to 100, the deepest
-- rank get_report_job() returns: an estimate needs no more), and the
-- average run of the latest 50 successes of the past week of each model
-- (and of all models). It reads every user's rows: service_role only. It
-- costs the same however many jobs wait: the users with waiting jobs are
-- found with a skip scan of report_jobs_queued_user (one index probe per
-- user), each user's count reads at most 100 index entries, and the
-- models with the latest 50 successes of each come from
-- report_jobs_succeeded_model the same way. The service reads it at most
-- once a second.
create or replace function public.report_job_queue_snapshot()
returns json
language sql
stable
set search_path = ''
as $$
  with recursive users as (
    (select j.user_id from public.report_jobs j
      where j.status = 'queued' and j.user_id is not null
      order by j.user_id limit 1)
    union all
    select (select j.user_id from public.report_jobs j
             where j.status = 'queued' and j.user_id > u.user_id
             order by j.user_id limit 1)
      from users u
     where u.user_id is not null
  ),
  per_user as (
    select (select count(*) from (
              select 1 from public.report_jobs j
               where j.status = 'queued' and j.user_id = u.user_id
               order by j.created_at, j.id
               limit 100) w) as n
      from users u
     where u.user_id is not null
  ),
  lengths as (
    select n, count(*) as users from per_user group by n
  ),
  models as (
    (select j.model from public.report_jobs j
      where j.status = 'succeeded' and j.model is not null
      order by j.model limit 1)
    union all
    select (select j.model from public.report_jobs j
             where j.status = 'succeeded' and j.model > m.model
             order by j.model limit 1)
      from models m
     where m.model is not null
  ),
  durations as (
    select m.model,
           (select avg(extract(epoch from (r.completed_at - r.started_at)))
              from (select j.completed_at, j.started_at from public.report_jobs j
                     where j.status = 'succeeded' and j.model = m.model
                       and j.completed_at > now() - interval '7 days'
                     order by j.completed_at desc limit 50) r
             where r.started_at is not null) as seconds
      from models m
     where m.model is not null
  )
  select json_build_object(
    'running', (select count(*) from public.report_jobs where status = 'running' and lease_expires_at >= now()),
    'lengths', coalesce((select json_object_agg(n, users) from lengths), '{}'::json),
    'durations', coalesce((select json_object_agg(model, seconds) from durations where seconds is not null), '{}'::json),
    'overall', (select avg(extract(epoch from (r.completed_at - r.started_at)))
                  from (select j.completed_at, j.started_at from public.report_jobs j
                         where j.status = 'succeeded' and j.completed_at > now() - interval '7 days'
                         order by j.completed_at desc limit 50) r
                 where r.started_at is not null)
  );
$$;

revoke all on function public.report_job_queue_snapshot() from public, anon, authenticated, service_role;
grant execute on function public.report_job_queue_snapshot() to service_role;
revoke all on function public.get_report_job(text, uuid) from public, anon, authenticated, service_role;
grant execute on function public.get_report_job(text, uuid) to authenticated, service_role;
