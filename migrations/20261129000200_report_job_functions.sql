-- State transitions of report jobs, called over PostgREST RPC. The Go service
-- calls these; it never updates job state with ad-hoc queries.
--
-- Caller-facing functions (create, cancel, stats) act for auth.uid(); a
-- service_role caller names the user in p_user_id. Worker functions are
-- executable by service_role alone, and every worker write is fenced by the
-- lease token handed out by claim_report_jobs.

-- Whom a caller-facing call acts for. A user always acts for themselves (a
-- user_id they pass is ignored); service_role must name the user.
create or replace function public.report_job_actor(p_user_id uuid default null)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
begin
  if auth.role() = 'service_role' then
    if p_user_id is null then
      raise exception 'a service caller must name the user it acts for'
        using errcode = '22023', hint = 'pass p_user_id';
    end if;
    return p_user_id;
  end if;
  if auth.uid() is null then
    raise exception 'a signed-in user is required' using errcode = '42501';
  end if;
  return auth.uid();
end;
$$;

-- Create a queued job, or return the caller's job that already has this
-- idempotency key. Returns {"created": bool, "job": {...row...}}.
create or replace function public.create_report_job(
  p_job_id          text,
  p_prompt          text,
  p_model           text,
  p_temperature     numeric default 0.2,
  p_max_tokens      integer default 2600,
  p_summary_id      uuid default null,
  p_metadata        jsonb default '{}'::jsonb,
  p_idempotency_key text default null,
  p_request_hash    text default null,
  p_max_attempts    integer default 3,
  p_user_id         uuid default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := public.report_job_actor(p_user_id);
  v_row  public.report_jobs;
begin
  insert into public.report_jobs as j
    (job_id, user_id, summary_id, status, model, prompt, temperature, max_tokens,
     metadata, idempotency_key, request_hash, max_attempts)
  values
    (p_job_id, v_user, p_summary_id, 'queued', p_model, p_prompt, p_temperature, p_max_tokens,
     coalesce(p_metadata, '{}'::jsonb), p_idempotency_key, p_request_hash, p_max_attempts)
  on conflict (user_id, idempotency_key) where idempotency_key is not null do nothing
  returning * into v_row;

  if found then
    return jsonb_build_object('created', true, 'job', to_jsonb(v_row));
  end if;

  select * into v_row from public.report_jobs
   where user_id = v_user and idempotency_key = p_idempotency_key;
  return jsonb_build_object('created', false, 'job', to_jsonb(v_row));
end;
$$;

-- Cancel a queued or running job of the caller. A running attempt notices at
-- its next fenced write. Cancelling a cancelled job returns it unchanged.
create or replace function public.cancel_report_job(p_job_id text, p_user_id uuid default null)
returns public.report_jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := public.report_job_actor(p_user_id);
  v_row  public.report_jobs;
begin
  update public.report_jobs
     set status = 'cancelled', eta_seconds = null, lease_expires_at = null
   where job_id = p_job_id and user_id = v_user and status in ('queued', 'running')
  returning * into v_row;
  if found then
    return v_row;
  end if;

  select * into v_row from public.report_jobs where job_id = p_job_id and user_id = v_user;
  if not found then
    raise exception 'Job not found' using errcode = 'PT404';
  end if;
  if v_row.status = 'cancelled' then
    return v_row;
  end if;
  raise exception 'Job already %', v_row.status using errcode = 'PT409';
end;
$$;

-- Statistics over the caller's jobs in the old monitor's shape.
create or replace function public.report_job_stats(p_user_id uuid default null)
returns json
language sql
stable
set search_path = ''
as $$
  select json_build_object(
    'total',     count(*),
    'queued',    count(*) filter (where status = 'queued'),
    'running',   count(*) filter (where status = 'running'),
    'succeeded', count(*) filter (where status = 'succeeded'),
    'failed',    count(*) filter (where status = 'failed'),
    'cancelled', count(*) filter (where status = 'cancelled'),
    'avgDurationMs', coalesce(round(avg(extract(epoch from (completed_at - started_at)) * 1000)
                         filter (where completed_at is not null and started_at is not null)), 0)::bigint
  )
  from public.report_jobs
  where user_id = (select public.report_job_actor(p_user_id));
$$;

-- Lease up to p_limit claimable jobs: queued ones whose backoff has passed,
-- and running ones whose lease expired (their worker is gone). Oldest first,
-- and at most p_per_user_limit running jobs per user when it is positive.
-- Fairness is decided among the oldest 500 claimable jobs. Candidates come
-- from the partial indexes on queued and running jobs; only the picked rows
-- are locked, with SKIP LOCKED, so concurrent claimers never wait for each
-- other.
-- (Dropped first: a later migration gives it another return type, and these
-- files must stay safe to apply again.)
drop function if exists public.claim_report_jobs(text, integer, integer, integer);
create or replace function public.claim_report_jobs(
  p_worker         text,
  p_limit          integer default 1,
  p_lease_seconds  integer default 30,
  p_per_user_limit integer default 0
)
returns setof public.report_jobs
language plpgsql
set search_path = ''
as $$
declare
  -- Candidates looked at: enough for fairness, or a margin over p_limit for
  -- rows a concurrent claimer holds (they are skipped, not waited for).
  v_window integer := case when p_per_user_limit > 0 then 500 else greatest(p_limit, 0) * 4 + 16 end;
begin
  -- An expired lease with no attempts left: the job failed for good.
  update public.report_jobs
     set status = 'failed',
         error = format('The job was interrupted %s times (its worker stopped responding)', attempts),
         eta_seconds = null, lease_expires_at = null,
         metadata = public.report_job_history(metadata, attempts, locked_by, 'lease expired')
   where status = 'running' and coalesce(lease_expires_at, '-infinity') < now()
     and attempts >= max_attempts;

  return query
  with queued as (
    select j.id, j.user_id, j.created_at
      from public.report_jobs j
     where j.status = 'queued' and j.run_after <= now()
       and (j.expires_at is null or j.expires_at > now())
     order by j.created_at, j.id
     limit v_window
  ),
  expired as (
    select j.id, j.user_id, j.created_at
      from public.report_jobs j
     where j.status = 'running' and coalesce(j.lease_expires_at, '-infinity') < now()
       and (j.expires_at is null or j.expires_at > now())
     order by j.created_at, j.id
     limit v_window
  ),
  candidates as (
    select * from queued union all select * from expired
  ),
  busy as (
    select user_id, count(*)::integer as n
      from public.report_jobs
     where p_per_user_limit > 0 and status = 'running' and lease_expires_at >= now()
     group by user_id
  ),
  eligible as (
    select c.id
      from (select c.*, row_number() over (partition by c.user_id order by c.created_at, c.id) as rn
              from candidates c) c
      left join busy b on b.user_id = c.user_id
     where p_per_user_limit <= 0 or c.rn + coalesce(b.n, 0) <= p_per_user_limit
  ),
  picked as (
    select j.id
      from public.report_jobs j
     where j.id in (select id from eligible)
       and ((j.status = 'queued' and j.run_after <= now())
         or (j.status = 'running' and coalesce(j.lease_expires_at, '-infinity') < now()))
     order by j.created_at, j.id
     limit greatest(p_limit, 0)
     for update skip locked
  )
  update public.report_jobs j
     set metadata = case when j.status = 'running'
                         then public.report_job_history(j.metadata, j.attempts, j.locked_by, 'lease expired')
                         else j.metadata end,
         status = 'running',
         attempts = j.attempts + 1,
         lease_token = gen_random_uuid(),
         lease_expires_at = now() + make_interval(secs => p_lease_seconds),
         locked_by = p_worker,
         heartbeat_at = now(),
         result = null,
         percent = 0,
         eta_seconds = null
    from picked
   where j.id = picked.id
  returning j.*;
end;
$$;

-- metadata with one more entry in attempt_history.
create or replace function public.report_job_history(
  p_metadata jsonb, p_attempt integer, p_worker text, p_error text, p_extra jsonb default '{}'::jsonb
)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object(
    'attempt_history',
    coalesce(p_metadata -> 'attempt_history', '[]'::jsonb) || jsonb_build_array(
      jsonb_build_object('attempt', p_attempt, 'worker', p_worker, 'error', p_error, 'ended_at', now())
      || coalesce(p_extra, '{}'::jsonb)));
$$;

-- Why a fenced write matched nothing: 'cancelled' or 'lost'.
create or replace function public.report_job_fence_miss(p_id uuid, p_lease uuid)
returns text
language sql
stable
set search_path = ''
as $$
  select case when exists (select 1 from public.report_jobs
                            where id = p_id and lease_token = p_lease and status = 'cancelled')
              then 'cancelled' else 'lost' end;
$$;

-- Renew the lease and record progress. Percent never goes down and stays
-- below 100 until completion. Returns 'running', 'cancelled' or 'lost'.
create or replace function public.report_job_heartbeat(
  p_id            uuid,
  p_lease         uuid,
  p_lease_seconds integer default 30,
  p_percent       integer default null,
  p_eta_seconds   integer default null,
  p_partial       text default null
)
returns text
language plpgsql
set search_path = ''
as $$
begin
  update public.report_jobs
     set lease_expires_at = now() + make_interval(secs => p_lease_seconds),
         heartbeat_at = now(),
         percent = greatest(percent, least(coalesce(p_percent, percent), 99)),
         eta_seconds = coalesce(p_eta_seconds, eta_seconds),
         result = coalesce(p_partial, result)
   where id = p_id and lease_token = p_lease and status = 'running';
  if found then
    return 'running';
  end if;
  return public.report_job_fence_miss(p_id, p_lease);
end;
$$;

-- Store the result of the attempt holding the job. Returns 'succeeded',
-- 'cancelled' or 'lost'; a stale attempt can never overwrite a newer one.
create or replace function public.complete_report_job(
  p_id uuid, p_lease uuid, p_result text, p_metadata jsonb default '{}'::jsonb
)
returns text
language plpgsql
set search_path = ''
as $$
begin
  update public.report_jobs
     set status = 'succeeded', result = p_result, error = null, percent = 100, eta_seconds = 0,
         lease_expires_at = null,
         metadata = coalesce(metadata, '{}'::jsonb) || coalesce(p_metadata, '{}'::jsonb)
   where id = p_id and lease_token = p_lease and status = 'running';
  if found then
    return 'succeeded';
  end if;
  return public.report_job_fence_miss(p_id, p_lease);
end;
$$;

-- Record a failed attempt. A retryable failure with attempts left queues the
-- job again after p_retry_after_ms; p_charge_attempt = false gives the attempt
-- back (a rate limit of ours, not the job's fault). Returns the new status
-- ('queued' or 'failed'), or 'cancelled' / 'lost'.
create or replace function public.fail_report_job(
  p_id             uuid,
  p_lease          uuid,
  p_error          text,
  p_retryable      boolean default false,
  p_retry_after_ms integer default 0,
  p_charge_attempt boolean default true,
  p_attempt        jsonb default '{}'::jsonb,
  p_metadata       jsonb default '{}'::jsonb
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_status text;
begin
  update public.report_jobs
     set status = case when p_retryable and (attempts < max_attempts or not p_charge_attempt)
                       then 'queued' else 'failed' end,
         percent = case when p_retryable and (attempts < max_attempts or not p_charge_attempt)
                        then 0 else 100 end,
         attempts = case when p_charge_attempt then attempts else greatest(attempts - 1, 0) end,
         run_after = now() + make_interval(secs => greatest(p_retry_after_ms, 0) / 1000.0),
         error = p_error,
         eta_seconds = null,
         result = null,
         lease_expires_at = null,
         metadata = public.report_job_history(coalesce(metadata, '{}'::jsonb) || coalesce(p_metadata, '{}'::jsonb),
                                              attempts, locked_by, p_error, p_attempt)
   where id = p_id and lease_token = p_lease and status = 'running'
  returning status into v_status;
  if found then
    return v_status;
  end if;
  return public.report_job_fence_miss(p_id, p_lease);
end;
$$;

-- Give a job back without charging the attempt (graceful shutdown), so
-- another worker takes it at once. Returns 'queued', 'cancelled' or 'lost'.
create or replace function public.release_report_job(p_id uuid, p_lease uuid)
returns text
language plpgsql
set search_path = ''
as $$
begin
  update public.report_jobs
     set status = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(),
         lease_token = null, lease_expires_at = null, locked_by = null,
         percent = 0, eta_seconds = null, result = null
   where id = p_id and lease_token = p_lease and status = 'running';
  if found then
    return 'queued';
  end if;
  return public.report_job_fence_miss(p_id, p_lease);
end;
$$;

-- Keep the text a cancelled attempt had streamed. Returns 'cancelled' when
-- stored, else 'lost'.
create or replace function public.keep_partial_report_result(p_id uuid, p_lease uuid, p_partial text)
returns text
language plpgsql
set search_path = ''
as $$
begin
  update public.report_jobs
     set result = p_partial
   where id = p_id and lease_token = p_lease and status = 'cancelled'
     and length(coalesce(result, '')) <= length(p_partial);
  if found then
    return 'cancelled';
  end if;
  return 'lost';
end;
$$;

-- Same rules as the old function (expired rows, and finished rows older than
-- a day), but it returns how many rows it deleted. Only one caller does the
-- work at a time; a concurrent caller returns 0 at once.
drop function if exists public.cleanup_expired_report_jobs();
create function public.cleanup_expired_report_jobs()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_deleted integer;
begin
  if not pg_try_advisory_xact_lock(hashtext('public.cleanup_expired_report_jobs')) then
    return 0;
  end if;
  delete from public.report_jobs
   where expires_at < now()
      or (status in ('succeeded', 'failed', 'cancelled') and completed_at < now() - interval '24 hours');
  get diagnostics v_deleted = row_count;
  return v_deleted;
end;
$$;

-- Who may call what. Functions are executable by PUBLIC by default and
-- Supabase grants anon/authenticated/service_role explicitly, so revoke from
-- all of them, then grant to the intended role.
do $$
declare
  f text;
begin
  foreach f in array array[
    'public.report_job_actor(uuid)',
    'public.create_report_job(text, text, text, numeric, integer, uuid, jsonb, text, text, integer, uuid)',
    'public.cancel_report_job(text, uuid)',
    'public.report_job_stats(uuid)',
    'public.claim_report_jobs(text, integer, integer, integer)',
    'public.report_job_history(jsonb, integer, text, text, jsonb)',
    'public.report_job_fence_miss(uuid, uuid)',
    'public.report_job_heartbeat(uuid, uuid, integer, integer, integer, text)',
    'public.complete_report_job(uuid, uuid, text, jsonb)',
    'public.fail_report_job(uuid, uuid, text, boolean, integer, boolean, jsonb, jsonb)',
    'public.release_report_job(uuid, uuid)',
    'public.keep_partial_report_result(uuid, uuid, text)',
    'public.cleanup_expired_report_jobs()',
    'public.report_jobs_touch()'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', f);
  end loop;
end $$;

-- Caller-facing: signed-in users and service callers.
grant execute on function public.report_job_actor(uuid) to authenticated, service_role;
grant execute on function public.create_report_job(text, text, text, numeric, integer, uuid, jsonb, text, text, integer, uuid)
  to authenticated, service_role;
grant execute on function public.cancel_report_job(text, uuid) to authenticated, service_role;
grant execute on function public.report_job_stats(uuid) to authenticated, service_role;

-- Worker and maintenance: service_role only.
grant execute on function public.claim_report_jobs(text, integer, integer, integer) to service_role;
grant execute on function public.report_job_history(jsonb, integer, text, text, jsonb) to service_role;
grant execute on function public.report_job_fence_miss(uuid, uuid) to service_role;
grant execute on function public.report_job_heartbeat(uuid, uuid, integer, integer, integer, text) to service_role;
grant execute on function public.complete_report_job(uuid, uuid, text, jsonb) to service_role;
grant execute on function public.fail_report_job(uuid, uuid, text, boolean, integer, boolean, jsonb, jsonb) to service_role;
grant execute on function public.release_report_job(uuid, uuid) to service_role;
grant execute on function public.keep_partial_report_result(uuid, uuid, text) to service_role;
grant execute on function public.cleanup_expired_report_jobs() to service_role;
