-- The engine's bookkeeping, moved out of what users read, and a claim that
-- no single row can break.
--
-- Users read their rows with select('*') (the old browser code does), so
-- every column of report_jobs is readable by its owner. The lease token and
-- the worker holding a job (host names, process ids) were columns there, and
-- the attempt history with worker ids lived in the caller's own metadata,
-- where a caller could also write a forged history the worker then believed.
-- Now:
--   * fencing uses lease_epoch, a number every claim increases: a worker
--     write names the epoch it was given and lands only while the job still
--     has it. A number says nothing a user could use (the worker functions
--     are service_role's alone) and needs no secret.
--   * report_job_attempts holds one row per attempt (who ran it, how it
--     ended, what it measured), written only by the service's functions;
--     owners read their attempts without the worker column.
--   * report_job_quarantine holds the rows a claim could neither start nor
--     settle, so they are skipped instead of failing every later claim.

alter table public.report_jobs add column if not exists lease_epoch bigint not null default 0;

create table if not exists public.report_job_attempts (
  job_row_id uuid        not null references public.report_jobs (id) on delete cascade,
  epoch      bigint      not null,
  attempt    integer     not null,
  user_id    uuid,
  worker     text        not null,
  started_at timestamptz not null default now(),
  ended_at   timestamptz,
  outcome    text check (outcome in ('succeeded', 'retried', 'failed', 'cancelled', 'released', 'lease expired')),
  error      text,
  -- false: the attempt was given back (shutdown, or a rate limit of ours)
  charged    boolean     not null default true,
  details    jsonb       not null default '{}'::jsonb,
  primary key (job_row_id, epoch)
);

create table if not exists public.report_job_quarantine (
  job_row_id uuid primary key references public.report_jobs (id) on delete cascade,
  reason     text not null,
  at         timestamptz not null default now()
);

-- History that earlier versions kept in metadata.attempt_history becomes
-- attempt rows, and leaves the caller's metadata.
-- Values in old histories are read leniently: metadata was the caller's to
-- write, so an entry may hold anything.
create or replace function pg_temp.lenient_timestamptz(p text) returns timestamptz
language plpgsql immutable as $$
begin
  return p::timestamptz;
exception when others then
  return null;
end;
$$;

do $$
begin
  if exists (select 1 from information_schema.columns
              where table_schema = 'public' and table_name = 'report_jobs' and column_name = 'locked_by') then
    insert into public.report_job_attempts
      (job_row_id, epoch, attempt, user_id, worker, started_at, ended_at, outcome, error, details)
    select j.id, h.n,
           case when h.e ->> 'attempt' ~ '^[0-9]{1,9}$' then (h.e ->> 'attempt')::integer else h.n::integer end,
           j.user_id, left(coalesce(h.e ->> 'worker', 'unknown'), 200),
           coalesce(pg_temp.lenient_timestamptz(h.e ->> 'ended_at'), j.updated_at),
           coalesce(pg_temp.lenient_timestamptz(h.e ->> 'ended_at'), j.updated_at),
           case when h.e ->> 'error' = 'lease expired' then 'lease expired'
                when h.e ->> 'retryable' = 'true' then 'retried' else 'failed' end,
           h.e ->> 'error',
           h.e - 'attempt' - 'worker' - 'error' - 'ended_at'
      from public.report_jobs j,
           jsonb_array_elements(j.metadata -> 'attempt_history') with ordinality as h(e, n)
     where jsonb_typeof(j.metadata -> 'attempt_history') = 'array' and jsonb_typeof(h.e) = 'object'
    on conflict do nothing;

    update public.report_jobs j
       set lease_epoch = coalesce((select max(a.epoch) from public.report_job_attempts a where a.job_row_id = j.id), 0),
           metadata = j.metadata - 'attempt_history'
     where j.metadata ? 'attempt_history';

    -- Attempts in flight under the earlier version keep their worker, so
    -- that a rescue records them.
    insert into public.report_job_attempts (job_row_id, epoch, attempt, user_id, worker, started_at)
    select j.id, j.lease_epoch + 1, j.attempts, j.user_id, coalesce(j.locked_by, 'unknown'), coalesce(j.started_at, now())
      from public.report_jobs j
     where j.status = 'running' and j.lease_token is not null
    on conflict do nothing;
    update public.report_jobs set lease_epoch = lease_epoch + 1 where status = 'running' and lease_token is not null;

    alter table public.report_jobs drop column lease_token, drop column locked_by;
  end if;
end $$;

-- The functions of the earlier version, fenced by the lease token.
drop function if exists public.claim_report_jobs(text, integer, integer, integer);
drop function if exists public.report_job_heartbeat(uuid, uuid, integer, integer, integer, text);
drop function if exists public.complete_report_job(uuid, uuid, text, jsonb);
drop function if exists public.fail_report_job(uuid, uuid, text, boolean, integer, boolean, jsonb, jsonb);
drop function if exists public.release_report_job(uuid, uuid);
drop function if exists public.keep_partial_report_result(uuid, uuid, text);
drop function if exists public.report_job_fence_miss(uuid, uuid);
drop function if exists public.report_job_history(jsonb, integer, text, text, jsonb);

-- Row-level security and grants of the new tables.
alter table public.report_job_attempts enable row level security;
alter table public.report_job_quarantine enable row level security;
drop policy if exists "Users read attempts of their own report jobs" on public.report_job_attempts;
create policy "Users read attempts of their own report jobs"
  on public.report_job_attempts for select to authenticated
  using ((select auth.uid()) = user_id);
create index if not exists report_job_attempts_user on public.report_job_attempts (user_id);

revoke all on public.report_job_attempts, public.report_job_quarantine from public, anon, authenticated, service_role;
-- Not the worker column: it names the service's hosts and processes.
grant select (job_row_id, epoch, attempt, user_id, started_at, ended_at, outcome, error, charged, details)
  on public.report_job_attempts to authenticated;
grant select, insert, update, delete on public.report_job_attempts, public.report_job_quarantine to service_role;

-- Settle a row a claim could not start: fail it with the reason, or, when
-- even that is refused, set it aside so later claims skip it. Returns what
-- the claim reports about the row. Never raises.
create or replace function public.report_job_refuse(p_id uuid, p_reason text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_job_id text;
  v_user   uuid;
begin
  select job_id, user_id into v_job_id, v_user from public.report_jobs where id = p_id;
  begin
    update public.report_jobs
       set status = 'failed', percent = 100, eta_seconds = null, lease_expires_at = null,
           error = 'This job could not be started: its stored data is invalid (' || p_reason || ')'
     where id = p_id;
    raise warning 'report_jobs: claim settled job % (failed): %', v_job_id, p_reason;
    return jsonb_build_object('refused', jsonb_build_object('id', p_id, 'job_id', v_job_id, 'user_id', v_user,
                                                            'reason', p_reason, 'settled', true));
  exception when data_exception or integrity_constraint_violation or raise_exception or program_limit_exceeded then
    insert into public.report_job_quarantine (job_row_id, reason) values (p_id, p_reason || '; settling it failed too: ' || sqlerrm)
    on conflict (job_row_id) do update set reason = excluded.reason, at = now();
    raise warning 'report_jobs: claim set job % aside: %; settling it failed too: %', v_job_id, p_reason, sqlerrm;
    return jsonb_build_object('refused', jsonb_build_object('id', p_id, 'job_id', v_job_id, 'user_id', v_user,
                                                            'reason', p_reason, 'settled', false));
  end;
end;
$$;

-- Lease the given (already locked) rows in one statement: the job row, the
-- previous attempt closed when its lease had expired (a rescue), and the new
-- attempt opened. Returns a JSON array of {job, rescued, free_retries}.
create or replace function public.report_job_lease(p_ids uuid[], p_worker text, p_lease_seconds integer)
returns jsonb
language sql
set search_path = ''
as $$
  with picked as (
    select j.id, j.status as was from public.report_jobs j where j.id = any(p_ids)
  ),
  leased as (
    update public.report_jobs j
       set status = 'running',
           attempts = j.attempts + 1,
           lease_epoch = j.lease_epoch + 1,
           lease_expires_at = now() + make_interval(secs => p_lease_seconds),
           heartbeat_at = now(),
           result = null,
           percent = 0,
           eta_seconds = null
      from picked
     where j.id = picked.id
    returning j.*, picked.was
  ),
  closed as (
    update public.report_job_attempts a
       set ended_at = now(), outcome = 'lease expired', error = 'lease expired'
      from leased l
     where l.was = 'running' and a.job_row_id = l.id and a.epoch = l.lease_epoch - 1 and a.ended_at is null
    returning a.job_row_id
  ),
  opened as (
    insert into public.report_job_attempts (job_row_id, epoch, attempt, user_id, worker)
    select l.id, l.lease_epoch, l.attempts, l.user_id, p_worker from leased l
    returning job_row_id
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'job', to_jsonb(l) - 'was',
           'rescued', l.was = 'running',
           'free_retries', (select count(*) from public.report_job_attempts a where a.job_row_id = l.id and not a.charged))
         order by l.created_at, l.id), '[]'::jsonb)
    from leased l;
$$;

-- A running job whose lease expired with no attempts left failed for good.
create or replace function public.report_job_fail_exhausted()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_out jsonb := '[]'::jsonb;
  v_id  uuid;
begin
  begin
    with failed as (
      update public.report_jobs
         set status = 'failed',
             error = format('The job was interrupted %s times (its worker stopped responding)', attempts),
             eta_seconds = null, lease_expires_at = null
       where status = 'running' and coalesce(lease_expires_at, '-infinity') < now()
         and attempts >= max_attempts
      returning id, lease_epoch
    )
    update public.report_job_attempts a
       set ended_at = now(), outcome = 'lease expired', error = 'lease expired'
      from failed f
     where a.job_row_id = f.id and a.epoch = f.lease_epoch and a.ended_at is null;
  exception when data_exception or integrity_constraint_violation or raise_exception or program_limit_exceeded then
    -- One row broke the statement: the rows are failed one by one, and a
    -- row that cannot be is reported (and set aside).
    for v_id in select j.id from public.report_jobs j
                 where j.status = 'running' and coalesce(j.lease_expires_at, '-infinity') < now()
                   and j.attempts >= j.max_attempts
                   and not exists (select 1 from public.report_job_quarantine q where q.job_row_id = j.id)
    loop
      begin
        with failed as (
          update public.report_jobs
             set status = 'failed',
                 error = format('The job was interrupted %s times (its worker stopped responding)', attempts),
                 eta_seconds = null, lease_expires_at = null
           where id = v_id
          returning id, lease_epoch
        )
        update public.report_job_attempts a
           set ended_at = now(), outcome = 'lease expired', error = 'lease expired'
          from failed f
         where a.job_row_id = f.id and a.epoch = f.lease_epoch and a.ended_at is null;
      exception when data_exception or integrity_constraint_violation or raise_exception or program_limit_exceeded then
        v_out := v_out || jsonb_build_array(public.report_job_refuse(v_id, sqlerrm));
      end;
    end loop;
  end;
  return v_out;
end;
$$;

-- Candidates of a claim, locked, fair across users whatever their backlog.
-- Running jobs whose lease expired come first (their worker died; they
-- were already someone's turn). Then queued jobs whose backoff has passed,
-- in rounds: every user's oldest claimable job, oldest first, then every
-- user's second, and so on, with at most p_per_user_limit running per user
-- when it is positive. The users with queued jobs are found with a skip
-- scan of report_jobs_queued_user (one index probe per user, not per job),
-- so one user's ten thousand jobs cost no more than one; only the users
-- whose oldest job waited longest are looked at further. Rows set aside are
-- never picked. SKIP LOCKED: concurrent claimers never wait for each other.
create or replace function public.report_job_claim_candidates(p_limit integer, p_per_user_limit integer)
returns uuid[]
language plpgsql
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
-- Planned once per session, not on every call: planning this query costs
-- more than running it (a SQL function, or PL/pgSQL's custom plans, would
-- plan it again each time). Its plan does not depend on the limits.
declare
  v_ids uuid[];
begin
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
    busy as (
      select user_id, count(*)::integer as n
        from public.report_jobs
       where p_per_user_limit > 0 and status = 'running' and lease_expires_at >= now()
       group by user_id
    ),
    rescue as (
      select j.id, 0::bigint as round, j.created_at
        from public.report_jobs j
       where j.status = 'running' and coalesce(j.lease_expires_at, '-infinity') < now()
         and (j.expires_at is null or j.expires_at > now())
       order by j.created_at, j.id
       limit greatest(p_limit, 0)
    ),
    -- The users whose oldest claimable job waited longest: enough of them to
    -- fill the claim even when some rows are locked by another claimer.
    firsts as (
      select u.user_id, f.created_at, row_number() over (order by f.created_at, u.user_id) as pos
        from users u
        cross join lateral (
          select j.created_at from public.report_jobs j
           where j.status = 'queued' and j.user_id = u.user_id
             and j.run_after <= now() and (j.expires_at is null or j.expires_at > now())
           order by j.created_at, j.id
           limit 1
        ) f
       where u.user_id is not null
       order by f.created_at, u.user_id
       limit greatest(p_limit, 0) * 2 + 16
    ),
    -- Each of those users' oldest claimable jobs, numbered by round (the
    -- numbering is outside the LIMIT: a window inside it would number every
    -- waiting job of the user first).
    rounds as (
      select c.id, row_number() over (partition by u.user_id order by c.created_at, c.id) as round, c.created_at
        from firsts u
        left join busy b on b.user_id = u.user_id
        cross join lateral (
          select j.id, j.created_at
            from public.report_jobs j
           where j.status = 'queued' and j.user_id = u.user_id
             and j.run_after <= now() and (j.expires_at is null or j.expires_at > now())
             and not exists (select 1 from public.report_job_quarantine q where q.job_row_id = j.id)
           order by j.created_at, j.id
           limit case when p_per_user_limit > 0 then greatest(least(p_limit, p_per_user_limit - coalesce(b.n, 0)), 0)
                      -- The first few users get slack: when one user's backlog is
                      -- all there is, concurrent claimers would otherwise offer one
                      -- another the same rows, find them locked and claim nothing.
                      when u.pos <= 4 then greatest(p_limit, 0) * 4 + 16
                      else greatest(p_limit, 0) end
        ) c
    ),
    candidates as (
      select * from rescue
       where not exists (select 1 from public.report_job_quarantine q where q.job_row_id = rescue.id)
      union all
      select * from rounds
    ),
    -- The candidates in claim order, locked one by one through the primary
    -- key (an array keeps the planner from hashing the whole table to join
    -- a few dozen ids), skipping those another claimer holds.
    picked as (
      select j.id
        from unnest(array(select c.id from candidates c order by c.round, c.created_at, c.id)) with ordinality as c(id, n)
        join public.report_jobs j on j.id = c.id
       where (j.status = 'queued' and j.run_after <= now())
          or (j.status = 'running' and coalesce(j.lease_expires_at, '-infinity') < now())
       order by c.n
       limit greatest(p_limit, 0)
       for update of j skip locked
    )
  select coalesce(array_agg(id), '{}') into v_ids from picked;
  return v_ids;
end;
$$;

-- Lease up to p_limit claimable jobs. Returns one JSON value per job:
-- {"job": <row>, "rescued": <its previous attempt's lease had expired>,
-- "free_retries": <attempts given back so far>}, or, for a row whose data
-- made the claim fail, {"refused": {id, job_id, reason, settled}}: that row
-- was failed with the reason (settled) or set aside, and the rest were
-- claimed. A claim never fails as a whole because of one row.
create or replace function public.claim_report_jobs(
  p_worker         text,
  p_limit          integer default 1,
  p_lease_seconds  integer default 30,
  p_per_user_limit integer default 0
)
returns setof jsonb
language plpgsql
set search_path = ''
set lock_timeout = '10s'
as $$
declare
  v_out jsonb;
  v_ids uuid[];
  v_id  uuid;
begin
  v_out := public.report_job_fail_exhausted();
  perform public.report_job_fail_over_budget();
  v_ids := public.report_job_claim_candidates(p_limit, p_per_user_limit);
  if cardinality(v_ids) > 0 then
    begin
      v_out := v_out || public.report_job_lease(v_ids, p_worker, p_lease_seconds);
    -- Errors about a row's data; anything else (a lock timeout, the
    -- database going away) fails the claim, to be tried again.
    exception when data_exception or integrity_constraint_violation or raise_exception or program_limit_exceeded then
      foreach v_id in array v_ids loop
        begin
          v_out := v_out || public.report_job_lease(array[v_id], p_worker, p_lease_seconds);
        exception when data_exception or integrity_constraint_violation or raise_exception or program_limit_exceeded then
          v_out := v_out || jsonb_build_array(public.report_job_refuse(v_id, sqlerrm));
        end;
      end loop;
    end;
  end if;
  return query select e from jsonb_array_elements(v_out) as e;
end;
$$;

-- Why a fenced write matched nothing: 'cancelled' (the job was cancelled
-- while this attempt held it; its attempt row is closed now) or 'lost'.
create or replace function public.report_job_fence_miss(p_id uuid, p_epoch bigint)
returns text
language plpgsql
set search_path = ''
as $$
begin
  if exists (select 1 from public.report_jobs where id = p_id and lease_epoch = p_epoch and status = 'cancelled') then
    update public.report_job_attempts
       set ended_at = now(), outcome = 'cancelled'
     where job_row_id = p_id and epoch = p_epoch and ended_at is null;
    return 'cancelled';
  end if;
  return 'lost';
end;
$$;

-- Renew the lease and record progress. Percent never goes down and stays
-- below 100 until completion. Returns 'running', 'cancelled' or 'lost'.
create or replace function public.report_job_heartbeat(
  p_id            uuid,
  p_epoch         bigint,
  p_lease_seconds integer default 30,
  p_percent       integer default null,
  p_eta_seconds   integer default null,
  p_partial       text default null
)
returns text
language plpgsql
set search_path = ''
set lock_timeout = '10s'
as $$
begin
  update public.report_jobs
     set lease_expires_at = now() + make_interval(secs => p_lease_seconds),
         heartbeat_at = now(),
         percent = greatest(percent, least(coalesce(p_percent, percent), 99)),
         eta_seconds = coalesce(greatest(p_eta_seconds, 0), eta_seconds),
         result = coalesce(p_partial, result)
   where id = p_id and lease_epoch = p_epoch and status = 'running';
  if found then
    return 'running';
  end if;
  return public.report_job_fence_miss(p_id, p_epoch);
end;
$$;

-- Store the result of the attempt holding the job. Returns 'succeeded',
-- 'cancelled' or 'lost'; a stale attempt can never overwrite a newer one.
create or replace function public.complete_report_job(
  p_id uuid, p_epoch bigint, p_result text, p_metadata jsonb default '{}'::jsonb, p_attempt jsonb default '{}'::jsonb,
  p_tokens bigint default 0, p_cost numeric default 0
)
returns text
language plpgsql
set search_path = ''
set lock_timeout = '10s'
as $$
declare
  v_user uuid;
begin
  update public.report_jobs
     set status = 'succeeded', result = p_result, error = null, percent = 100, eta_seconds = 0,
         lease_expires_at = null,
         metadata = coalesce(metadata, '{}'::jsonb) || coalesce(p_metadata, '{}'::jsonb)
   where id = p_id and lease_epoch = p_epoch and status = 'running'
  returning user_id into v_user;
  if not found then
    return public.report_job_fence_miss(p_id, p_epoch);
  end if;
  perform public.report_job_record_usage(v_user, p_tokens, p_cost, 1);
  update public.report_job_attempts
     set ended_at = now(), outcome = 'succeeded', details = coalesce(p_attempt, '{}'::jsonb)
   where job_row_id = p_id and epoch = p_epoch;
  return 'succeeded';
end;
$$;

-- Record a failed attempt. A retryable failure with attempts left queues the
-- job again after p_retry_after_ms; p_charge_attempt = false gives the attempt
-- back (a rate limit of ours, not the job's fault). p_attempt is what the
-- worker measured, kept on the attempt row. Returns the new status ('queued'
-- or 'failed'), or 'cancelled' / 'lost'.
create or replace function public.fail_report_job(
  p_id             uuid,
  p_epoch          bigint,
  p_error          text,
  p_retryable      boolean default false,
  p_retry_after_ms integer default 0,
  p_charge_attempt boolean default true,
  p_attempt        jsonb default '{}'::jsonb,
  p_tokens         bigint default 0,
  p_cost           numeric default 0
)
returns text
language plpgsql
set search_path = ''
set lock_timeout = '10s'
as $$
declare
  v_status text;
  v_user   uuid;
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
         lease_expires_at = null
   where id = p_id and lease_epoch = p_epoch and status = 'running'
  returning status, user_id into v_status, v_user;
  if not found then
    return public.report_job_fence_miss(p_id, p_epoch);
  end if;
  perform public.report_job_record_usage(v_user, p_tokens, p_cost, 0);
  update public.report_job_attempts
     set ended_at = now(), outcome = case when v_status = 'queued' then 'retried' else 'failed' end,
         error = p_error, charged = p_charge_attempt, details = coalesce(p_attempt, '{}'::jsonb)
   where job_row_id = p_id and epoch = p_epoch;
  return v_status;
end;
$$;

-- Give a job back without charging the attempt (graceful shutdown), so
-- another worker takes it at once. Returns 'queued', 'cancelled' or 'lost'.
create or replace function public.release_report_job(p_id uuid, p_epoch bigint)
returns text
language plpgsql
set search_path = ''
set lock_timeout = '10s'
as $$
begin
  update public.report_jobs
     set status = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(),
         lease_expires_at = null, percent = 0, eta_seconds = null, result = null
   where id = p_id and lease_epoch = p_epoch and status = 'running';
  if not found then
    return public.report_job_fence_miss(p_id, p_epoch);
  end if;
  update public.report_job_attempts
     set ended_at = now(), outcome = 'released', charged = false
   where job_row_id = p_id and epoch = p_epoch;
  return 'queued';
end;
$$;

-- Keep the text a cancelled attempt had streamed. Returns 'cancelled' when
-- stored, else 'lost'.
create or replace function public.keep_partial_report_result(p_id uuid, p_epoch bigint, p_partial text)
returns text
language plpgsql
set search_path = ''
set lock_timeout = '10s'
as $$
begin
  update public.report_jobs
     set result = p_partial
   where id = p_id and lease_epoch = p_epoch and status = 'cancelled'
     and length(coalesce(result, '')) <= length(p_partial);
  if found then
    return 'cancelled';
  end if;
  return 'lost';
end;
$$;

-- Who may call what: the worker's functions are service_role's alone.
do $$
declare
  f text;
begin
  foreach f in array array[
    'public.report_job_refuse(uuid, text)',
    'public.report_job_lease(uuid[], text, integer)',
    'public.report_job_fail_exhausted()',
    'public.report_job_claim_candidates(integer, integer)',
    'public.claim_report_jobs(text, integer, integer, integer)',
    'public.report_job_fence_miss(uuid, bigint)',
    'public.report_job_heartbeat(uuid, bigint, integer, integer, integer, text)',
    'public.complete_report_job(uuid, bigint, text, jsonb, jsonb, bigint, numeric)',
    'public.fail_report_job(uuid, bigint, text, boolean, integer, boolean, jsonb, bigint, numeric)',
    'public.release_report_job(uuid, bigint)',
    'public.keep_partial_report_result(uuid, bigint, text)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end $$;
