-- Statistics across users for operators: what the old dashboard computed by
-- downloading the table, now one SQL function. Jobs per day with unique
-- users, success rate and average duration by model, and the busiest users.
-- Executable by service_role only: it reads every user's rows.

create or replace function public.report_job_operator_stats(
  p_days      integer default 30,
  p_top_days  integer default 7,
  p_top_users integer default 10
)
returns json
language plpgsql
stable
set search_path = ''
as $$
declare
  v_today date := (now() at time zone 'UTC')::date;
  v_from  date;
  v_since timestamptz;
begin
  if p_days is null or p_days not between 1 and 366
     or p_top_days is null or p_top_days not between 1 and 366
     or p_top_users is null or p_top_users not between 1 and 1000 then
    raise exception 'the statistics window is out of range' using errcode = '22023';
  end if;
  v_from := v_today - (p_days - 1);
  v_since := v_from::timestamp at time zone 'UTC';

  return json_build_object(
    'daily', (
      select coalesce(json_agg(json_build_object(
               'day', to_char(d.day, 'YYYY-MM-DD'),
               'jobs', coalesce(c.jobs, 0),
               'unique_users', coalesce(c.users, 0)) order by d.day), '[]'::json)
        from generate_series(v_from::timestamp, v_today::timestamp, interval '1 day') as d(day)
        left join (select (j.created_at at time zone 'UTC')::date as day,
                          count(*) as jobs, count(distinct j.user_id) as users
                     from public.report_jobs j
                    where j.created_at >= v_since
                    group by 1) c on c.day = d.day::date),
    'models', (
      select coalesce(json_agg(json_build_object(
               'model', m.model, 'jobs', m.jobs, 'succeeded', m.succeeded, 'failed', m.failed,
               'success_rate', coalesce(round(m.succeeded::numeric / nullif(m.succeeded + m.failed, 0), 4), 0),
               'avg_duration_ms', m.avg_ms) order by m.jobs desc, m.model collate "C"), '[]'::json)
        from (select coalesce(j.model, '') as model,
                     count(*) as jobs,
                     count(*) filter (where j.status = 'succeeded') as succeeded,
                     count(*) filter (where j.status = 'failed') as failed,
                     coalesce(round(avg(extract(epoch from (j.completed_at - j.started_at)) * 1000)
                       filter (where j.completed_at is not null and j.started_at is not null)), 0)::bigint as avg_ms
                from public.report_jobs j
               where j.created_at >= v_since
               group by 1) m),
    'top_users', (
      select coalesce(json_agg(json_build_object(
               'user_id', u.user_id, 'jobs', u.jobs, 'succeeded', u.succeeded, 'failed', u.failed)
               order by u.jobs desc, u.user_id), '[]'::json)
        from (select j.user_id,
                     count(*) as jobs,
                     count(*) filter (where j.status = 'succeeded') as succeeded,
                     count(*) filter (where j.status = 'failed') as failed
                from public.report_jobs j
               where j.user_id is not null
                 and j.created_at >= now() - make_interval(days => p_top_days)
               group by j.user_id
               order by count(*) desc, j.user_id
               limit p_top_users) u)
  );
end;
$$;

revoke all on function public.report_job_operator_stats(integer, integer, integer)
  from public, anon, authenticated, service_role;
grant execute on function public.report_job_operator_stats(integer, integer, integer) to service_role;
