-- The old app's browser code keeps working against the table, and still
-- cannot forge anything.
--
-- Its createReportJob inserts {...job, user_id, percent: 0, eta_seconds: 90,
-- metadata} and reads the row back (.select().single()); its monitor's
-- Cancel sends update({status: 'cancelled', completed_at: <now>}) filtered
-- on the job and on status in (queued, running). Column grants that allowed
-- only the fields this service sends refused both whole (42501). Now a user
-- may send those fields, and a trigger replaces whatever they hold with what
-- the server decides. What a user may not set at all stays out of the
-- grants, so sending it is still refused: the result, the error, attempts
-- and their budget, the lease, the retry time. The policies decide the rest:
-- an insert must be the user's own queued job, an update must cancel the
-- user's own active job.

revoke insert, update on public.report_jobs from authenticated;
grant insert (job_id, user_id, summary_id, status, model, prompt, temperature, max_tokens, metadata,
              idempotency_key, percent, eta_seconds, started_at, completed_at, created_at, updated_at, expires_at)
  on public.report_jobs to authenticated;
grant update (status, completed_at, updated_at) on public.report_jobs to authenticated;

-- What a user's own write may decide. Runs before report_jobs_touch (triggers
-- of one event fire in name order), which then sets the timestamps. Writes
-- made by the service (service_role, or the owner of this service's
-- SECURITY DEFINER functions) pass unchanged.
create or replace function public.report_jobs_guard()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v public.report_jobs;
begin
  if current_user not in ('authenticated', 'anon') then
    return new;
  end if;
  if tg_op = 'INSERT' then
    -- A new job: queued now, no progress, the standard retention. The
    -- policy has already required status 'queued' and the caller's user_id.
    new.percent := 0;
    new.eta_seconds := null;
    new.started_at := null;
    new.completed_at := null;
    new.created_at := now();
    new.expires_at := now() + interval '7 days';
    new.result := null;
    new.error := null;
    new.attempts := 0;
    new.run_after := now();
    new.lease_epoch := 0;
    new.lease_expires_at := null;
    new.heartbeat_at := null;
    new.request_hash := null;
    new.version := 0;
    return new;
  end if;
  -- An update: the policy lets a user only cancel an active job, so only
  -- the status moves, as cancel_report_job() moves it; every other value is
  -- the stored one (report_jobs_touch sets completed_at and updated_at).
  v := old;
  v.status := new.status;
  v.eta_seconds := null;
  v.lease_expires_at := null;
  return v;
end;
$$;

revoke all on function public.report_jobs_guard() from public, anon, authenticated, service_role;

drop trigger if exists report_jobs_guard on public.report_jobs;
create trigger report_jobs_guard
  before insert or update on public.report_jobs
  for each row execute function public.report_jobs_guard();
