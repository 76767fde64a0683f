-- Durable delivery of finished jobs to the app's webhooks (a transactional
-- outbox). When a job that names a delivered report_type and a report_id
-- reaches a final state, a trigger records a delivery in the same
-- transaction; dispatchers claim due deliveries under a lease, POST them,
-- and record each attempt. Deliveries are rows, so they survive crashes and
-- restarts.
--
-- Why a trigger rather than an insert in each state-changing function: it
-- covers every path to a final state with one rule -- complete, fail, the
-- claim that fails a job out of attempts, cancel_report_job(), a cancel the
-- old browser code makes directly through the table (its UPDATE policy), and
-- an operator's manual SQL -- and it runs inside the statement that changes
-- the status, so a job can never finish without its delivery being recorded.

create table if not exists public.report_job_deliveries (
  id               uuid primary key default gen_random_uuid(),
  job_row_id       uuid not null references public.report_jobs (id) on delete cascade,
  user_id          uuid,
  job_id           text not null,
  report_type      text not null,
  report_id        text not null,
  endpoint         text not null check (endpoint in ('prelim-report', 'dynamic-questionnaire')),
  job_status       text not null check (job_status in ('succeeded', 'failed', 'cancelled')),
  status           text not null default 'pending'
                   check (status in ('pending', 'delivering', 'delivered', 'failed', 'skipped')),
  attempts         integer not null default 0 check (attempts >= 0),
  next_attempt_at  timestamptz not null default now(),
  lease_token      uuid,
  lease_expires_at timestamptz,
  locked_by        text,
  last_status_code integer,
  last_error       text,
  delivered_at     timestamptz,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  -- A job reaches a final state once; the trigger may still fire twice for
  -- one job if an operator moves it back by hand, and then nothing new is sent.
  constraint report_job_deliveries_one_per_job unique (job_row_id)
);

-- Claiming: due pending deliveries, and attempts whose lease expired.
create index if not exists report_job_deliveries_due
  on public.report_job_deliveries (next_attempt_at, id) where status = 'pending';
create index if not exists report_job_deliveries_leased
  on public.report_job_deliveries (lease_expires_at) where status = 'delivering';
-- A job's deliveries, for its owner (the policy filters on user_id too).
create index if not exists report_job_deliveries_job on public.report_job_deliveries (job_id);

-- The report types that are delivered, and where. report/delivery.go holds
-- the same table.
create or replace function public.report_job_delivery_endpoint(p_report_type text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case lower(btrim(p_report_type))
           when 'greeting' then 'prelim-report'
           when 'org' then 'prelim-report'
           when 'organization' then 'prelim-report'
           when 'requirement' then 'prelim-report'
           when 'requirements' then 'prelim-report'
           when 'dynamic_questionnaire' then 'dynamic-questionnaire'
         end;
$$;

-- Record the delivery of a job that just reached a final state. SECURITY
-- DEFINER because a user's own cancel (through the table) fires it and
-- users may not write deliveries; it is a trigger function, so nobody can
-- call it directly.
create or replace function public.report_jobs_enqueue_delivery()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_type     text;
  v_id       text;
  v_endpoint text;
begin
  if jsonb_typeof(new.metadata -> 'report_type') is distinct from 'string'
     or coalesce(jsonb_typeof(new.metadata -> 'report_id'), '') not in ('string', 'number') then
    return null;
  end if;
  v_type := lower(btrim(new.metadata ->> 'report_type'));
  v_id := btrim(new.metadata ->> 'report_id');
  v_endpoint := public.report_job_delivery_endpoint(v_type);
  if v_endpoint is null or v_id = '' then
    return null;
  end if;
  insert into public.report_job_deliveries
    (job_row_id, user_id, job_id, report_type, report_id, endpoint, job_status)
  values
    (new.id, new.user_id, new.job_id, v_type, v_id, v_endpoint, new.status)
  on conflict (job_row_id) do nothing;
  return null;
end;
$$;

drop trigger if exists report_jobs_enqueue_delivery on public.report_jobs;
create trigger report_jobs_enqueue_delivery
  after update of status on public.report_jobs
  for each row
  when (old.status in ('queued', 'running') and new.status in ('succeeded', 'failed', 'cancelled'))
  execute function public.report_jobs_enqueue_delivery();

-- Lease up to p_limit due deliveries, oldest due first, each with its job as
-- it is now (the payload is built from it). An attempt whose lease expired
-- (its dispatcher died mid-request) is due again -- the receiver may then see
-- the delivery twice and deduplicates by its id -- unless it was the last
-- allowed attempt, in which case the delivery fails.
create or replace function public.claim_report_job_deliveries(
  p_worker        text,
  p_limit         integer default 10,
  p_lease_seconds integer default 30,
  p_max_attempts  integer default 4
)
returns setof jsonb
language plpgsql
set search_path = ''
as $$
begin
  update public.report_job_deliveries
     set status = 'failed', lease_expires_at = null, updated_at = now(),
         last_error = format('Gave up after %s attempts; the last one was interrupted (its dispatcher stopped responding)', attempts)
   where status = 'delivering' and lease_expires_at < now() and attempts >= p_max_attempts;

  return query
  with due as (
    select d.id
      from public.report_job_deliveries d
     where (d.status = 'pending' and d.next_attempt_at <= now())
        or (d.status = 'delivering' and d.lease_expires_at < now())
     order by d.next_attempt_at, d.id
     limit greatest(p_limit, 0)
     for update skip locked
  ),
  claimed as (
    update public.report_job_deliveries d
       set status = 'delivering',
           attempts = d.attempts + 1,
           lease_token = gen_random_uuid(),
           lease_expires_at = now() + make_interval(secs => p_lease_seconds),
           locked_by = p_worker,
           updated_at = now()
      from due
     where d.id = due.id
    returning d.*
  )
  select jsonb_build_object('delivery', to_jsonb(c), 'job', to_jsonb(j))
    from claimed c
    join public.report_jobs j on j.id = c.job_row_id
   order by c.next_attempt_at, c.id;
end;
$$;

-- Record the outcome of the attempt holding a delivery: 'delivered',
-- 'pending' (try again after p_retry_after_ms), 'failed' (gave up) or
-- 'skipped' (not sent, with the reason in p_error; the attempt is not
-- counted). Returns the new status, or 'lost' when the attempt no longer
-- holds the delivery (its lease expired and another dispatcher took it).
create or replace function public.record_report_job_delivery(
  p_id             uuid,
  p_lease          uuid,
  p_status         text,
  p_status_code    integer default null,
  p_error          text default null,
  p_retry_after_ms integer default 0
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_status text;
begin
  if p_status is null or p_status not in ('delivered', 'pending', 'failed', 'skipped') then
    raise exception 'unknown delivery outcome %', coalesce(p_status, 'null') using errcode = '22023';
  end if;
  update public.report_job_deliveries
     set status = p_status,
         attempts = case when p_status = 'skipped' then greatest(attempts - 1, 0) else attempts end,
         last_status_code = p_status_code,
         last_error = case when p_status = 'delivered' then null else p_error end,
         next_attempt_at = case when p_status = 'pending'
                                then now() + make_interval(secs => greatest(p_retry_after_ms, 0) / 1000.0)
                                else next_attempt_at end,
         delivered_at = case when p_status = 'delivered' then now() else null end,
         lease_expires_at = null,
         updated_at = now()
   where id = p_id and lease_token = p_lease and status = 'delivering'
  returning status into v_status;
  if found then
    return v_status;
  end if;
  return 'lost';
end;
$$;

-- Row-level security: users read the deliveries of their own jobs (their
-- state, attempts and last error); nobody but the service writes them.
alter table public.report_job_deliveries enable row level security;

drop policy if exists "Users read deliveries of their own report jobs" on public.report_job_deliveries;
create policy "Users read deliveries of their own report jobs"
  on public.report_job_deliveries for select to authenticated
  using ((select auth.uid()) = user_id);

revoke all on public.report_job_deliveries from public, anon, authenticated, service_role;
-- Not the lease token or the dispatcher's id: those are the service's.
grant select (id, job_row_id, user_id, job_id, report_type, report_id, endpoint, job_status, status,
              attempts, next_attempt_at, last_status_code, last_error, delivered_at, created_at, updated_at)
  on public.report_job_deliveries to authenticated;
-- The dispatcher's functions run as service_role (not SECURITY DEFINER), so
-- it needs to read and update rows; delete is for maintenance.
grant select, update, delete on public.report_job_deliveries to service_role;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.report_job_delivery_endpoint(text)',
    'public.report_jobs_enqueue_delivery()',
    'public.claim_report_job_deliveries(text, integer, integer, integer)',
    'public.record_report_job_delivery(uuid, uuid, text, integer, text, integer)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', f);
  end loop;
end $$;

grant execute on function public.report_job_delivery_endpoint(text) to service_role;
grant execute on function public.claim_report_job_deliveries(text, integer, integer, integer) to service_role;
grant execute on function public.record_report_job_delivery(uuid, uuid, text, integer, text, integer) to service_role;
