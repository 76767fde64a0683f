-- Rows the replaced route left in existing projects, made safe for the new
-- engine, and then the rules every row must keep from now on.
--
-- The old schema allowed what the new engine cannot run: jobs without an
-- owner (the old route stored user_id from the request body, nearly always
-- null), temperatures above 2, max_tokens of 0 or less, negative ETAs,
-- metadata that is not an object, rows without a status. A CHECK added NOT
-- VALID is still enforced on every UPDATE of a row that breaks it, so such a
-- row, left as it was, made this migration's own UPDATEs and later every
-- claim of the queue fail. Here every row is first brought within the rules
-- (nothing is deleted; an original value that had to change is kept in
-- metadata.legacy_values, a metadata value that was not an object in
-- metadata.legacy_metadata), jobs that can never run are settled with an
-- error that says why, and only then are the rules added and validated.
--
-- Safe on an empty project and when applied again.

-- Nobody writes the table while its rows are reviewed (the old route, if it
-- still runs, waits here and then meets the new rules). Inside a DO block:
-- the Supabase CLI sends a file as one pipeline, an implicit transaction in
-- which a bare LOCK TABLE is refused; the lock still lasts to its end.
do $$
begin
  lock table public.report_jobs in share row exclusive mode;
end $$;

-- An earlier version of these migrations added the rules NOT VALID, in a
-- stricter form; drop them so the updates below cannot trip on them.
alter table public.report_jobs drop constraint if exists report_jobs_user_id_required;
alter table public.report_jobs drop constraint if exists report_jobs_limits;

-- Webhook deliveries are for jobs this service finishes. Jobs settled here
-- were abandoned by the old route, which never reported them either.
alter table public.report_jobs disable trigger report_jobs_enqueue_delivery;

-- 1. Jobs that can never run are settled, whatever their age, with an error
-- that says why; percent 100 as the old route set on failure.
update public.report_jobs
   set status = 'failed', percent = 100, eta_seconds = null,
       error = coalesce(error, 'This job has no status: it was stored by the previous report service in a state the new service cannot run. Create it again.')
 where status is null;

update public.report_jobs
   set status = 'failed', percent = 100, eta_seconds = null, lease_expires_at = null,
       error = 'This job has no owner: the previous report service stored it without a user, '
               || 'and jobs now run only for the signed-in user who created them. Create it again while signed in.'
 where user_id is null and status in ('queued', 'running');

update public.report_jobs
   set status = 'failed', percent = 100, eta_seconds = null, lease_expires_at = null,
       error = 'This job has no prompt, so there is nothing to generate. Create it again with a prompt.'
 where status in ('queued', 'running') and coalesce(btrim(prompt), '') = '';

-- The old route ran jobs inside the request, so a row still "running"
-- minutes later, or "queued" an hour later, was lost when its process died
-- and nothing will ever finish it (the old manual fix: mark it failed). Jobs
-- this service has touched (an attempt or a lease) are left to its rescue.
update public.report_jobs
   set status = 'failed', percent = 100, eta_seconds = null,
       error = coalesce(error, 'Interrupted: the previous job runner stopped before finishing this job')
 where lease_expires_at is null and attempts = 0
   and ((status = 'running' and coalesce(updated_at, created_at, '-infinity') < now() - interval '5 minutes')
     or (status = 'queued' and coalesce(created_at, updated_at, '-infinity') < now() - interval '1 hour'));

-- 2. Values out of range are brought into range; the originals are kept.
with odd as (
  select id,
         jsonb_strip_nulls(jsonb_build_object(
           'temperature', case when temperature not between 0 and 2 then temperature end,
           'max_tokens',  case when max_tokens <= 0 then max_tokens end,
           'eta_seconds', case when eta_seconds < 0 then eta_seconds end)) as original
    from public.report_jobs
   where temperature not between 0 and 2 or max_tokens <= 0 or eta_seconds < 0
      or metadata is null or jsonb_typeof(metadata) <> 'object'
)
update public.report_jobs j
   set temperature = least(greatest(j.temperature, 0), 2),
       max_tokens  = case when j.max_tokens <= 0 then null else j.max_tokens end,
       eta_seconds = case when j.eta_seconds < 0 then null else j.eta_seconds end,
       metadata    = case jsonb_typeof(j.metadata)
                       when 'object' then j.metadata
                       when 'null' then '{}'::jsonb
                       else coalesce(jsonb_build_object('legacy_metadata', j.metadata), '{}'::jsonb)
                     end
                     || case when odd.original = '{}'::jsonb then '{}'::jsonb
                             else jsonb_build_object('legacy_values', odd.original) end
  from odd
 where j.id = odd.id;

-- Timestamps the old schema left nullable.
update public.report_jobs
   set created_at = coalesce(created_at, updated_at, now()),
       updated_at = coalesce(updated_at, created_at, now())
 where created_at is null or updated_at is null;

alter table public.report_jobs enable trigger report_jobs_enqueue_delivery;

-- 3. The rules, validated now that every row keeps them. A job without an
-- owner may exist only as a finished record of the old route; every job that
-- can still run belongs to a user. Added NOT VALID and then validated, so the
-- scan does not block readers.
alter table public.report_jobs alter column status set not null;
alter table public.report_jobs alter column created_at set not null;
alter table public.report_jobs alter column updated_at set not null;

alter table public.report_jobs add constraint report_jobs_user_id_required
  check (user_id is not null or status in ('succeeded', 'failed', 'cancelled')) not valid;
alter table public.report_jobs validate constraint report_jobs_user_id_required;

alter table public.report_jobs add constraint report_jobs_limits check (
  max_attempts between 1 and 20
  and attempts >= 0
  and (temperature is null or temperature between 0 and 2)
  and (max_tokens is null or max_tokens > 0)
  and (eta_seconds is null or eta_seconds >= 0)
  and (metadata is null or jsonb_typeof(metadata) = 'object')
) not valid;
alter table public.report_jobs validate constraint report_jobs_limits;
