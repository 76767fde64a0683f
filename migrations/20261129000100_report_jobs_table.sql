-- report_jobs: the table, its constraints, indexes, trigger, row-level security
-- and grants. Applies to an empty project and on top of the table created by
-- the system this service replaces (rows are kept, old columns untouched).

-- The table as the old system created it. On an existing project this does
-- nothing; the columns below are added to it.
create table if not exists public.report_jobs (
  id            uuid primary key default gen_random_uuid(),
  job_id        text not null unique,
  user_id       uuid references auth.users (id) on delete cascade,
  summary_id    uuid,
  status        text not null default 'queued'
                check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  model         text,
  prompt        text,
  temperature   numeric(3, 2) default 0.2,
  max_tokens    integer default 4000,
  result        text,
  error         text,
  percent       integer default 0 check (percent between 0 and 100),
  eta_seconds   integer,
  idempotency_key text,
  metadata      jsonb default '{}'::jsonb,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  started_at    timestamptz,
  completed_at  timestamptz,
  expires_at    timestamptz default (now() + interval '7 days')
);

-- What leases, attempts and retries need. None of these is indexed except
-- through partial-index predicates on status, so heartbeats stay HOT updates.
alter table public.report_jobs
  add column if not exists attempts         integer not null default 0,
  add column if not exists max_attempts     integer not null default 3,
  add column if not exists run_after        timestamptz not null default now(),
  add column if not exists lease_token      uuid,
  add column if not exists lease_expires_at timestamptz,
  add column if not exists locked_by        text,
  add column if not exists heartbeat_at     timestamptz,
  add column if not exists request_hash     text,
  add column if not exists version          bigint not null default 0;

-- user_id: filled from the caller's token. The rules on owners and value
-- ranges (report_jobs_user_id_required, report_jobs_limits) are added by
-- 20261204000100_legacy_rows.sql, after it has settled the rows the old
-- route left behind: a NOT VALID check is still enforced on every UPDATE of
-- a row that breaks it, so adding them here made this file's own UPDATEs,
-- and later every claim, fail on such rows.
alter table public.report_jobs alter column user_id set default auth.uid();

do $$
begin
  -- The foreign key to polaris_summaries only where that table exists.
  if to_regclass('public.polaris_summaries') is not null then
    if not exists (select 1 from pg_constraint
                   where conrelid = 'public.report_jobs'::regclass and contype = 'f'
                     and confrelid = to_regclass('public.polaris_summaries')) then
      alter table public.report_jobs
        add constraint report_jobs_summary_id_fkey foreign key (summary_id)
        references public.polaris_summaries (id) on delete cascade not valid;
    end if;
  end if;
end $$;

-- Idempotency keys are unique per user, never across users. The old system
-- returned one user's job for another user's key; where a user holds the same
-- key twice, the newest row keeps it and the older rows keep theirs in
-- metadata.legacy_idempotency_key.
with ranked as (
  select id, idempotency_key,
         row_number() over (partition by user_id, idempotency_key order by created_at desc, id desc) as rn
  from public.report_jobs
  where idempotency_key is not null and user_id is not null
)
update public.report_jobs j
   set metadata = case jsonb_typeof(j.metadata)
                    when 'object' then j.metadata
                    when 'null' then '{}'::jsonb
                    else coalesce(jsonb_build_object('legacy_metadata', j.metadata), '{}'::jsonb)
                  end || jsonb_build_object('legacy_idempotency_key', ranked.idempotency_key),
       idempotency_key = null
  from ranked
 where ranked.id = j.id and ranked.rn > 1;

create unique index if not exists report_jobs_user_idempotency_key
  on public.report_jobs (user_id, idempotency_key) where idempotency_key is not null;

-- Listing a user's jobs newest first, and the monitor's status filter.
create index if not exists report_jobs_user_created
  on public.report_jobs (user_id, created_at desc, id desc);
create index if not exists report_jobs_user_status on public.report_jobs (user_id, status);
create index if not exists report_jobs_summary on public.report_jobs (summary_id) where summary_id is not null;
-- Claiming: queued jobs oldest first; running jobs are few and scanned for expired leases.
create index if not exists report_jobs_queued on public.report_jobs (created_at, id) where status = 'queued';
create index if not exists report_jobs_running on public.report_jobs (status) where status = 'running';
-- Cleanup.
create index if not exists report_jobs_expires on public.report_jobs (expires_at);
create index if not exists report_jobs_completed on public.report_jobs (completed_at) where completed_at is not null;

-- A queue table: leave room on each page for in-place (HOT) updates, and
-- vacuum it far more often than the defaults would.
alter table public.report_jobs set (
  fillfactor = 70,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 100,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 1
);

-- Timestamps and the change counter. started_at is set when an attempt
-- starts; completed_at when the job reaches a final state.
create or replace function public.report_jobs_touch()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  if tg_op = 'UPDATE' then
    new.version := old.version + 1;
    if new.status = 'running' and (old.status is distinct from 'running' or new.attempts <> old.attempts) then
      new.started_at := now();
    end if;
    if new.status in ('succeeded', 'failed', 'cancelled') and old.status in ('queued', 'running') then
      new.completed_at := now();
    end if;
    if new.status in ('queued', 'running') then
      new.completed_at := null;
    end if;
  end if;
  return new;
end;
$$;

-- Replace whatever triggers the old migration created (their names are not
-- known here) with this one, and drop their functions once no trigger uses
-- them (a shared updated_at function of other tables stays). Our own
-- triggers, this one and those of later migrations, stay.
do $$
declare
  t record;
begin
  for t in select tgname, tgfoid from pg_trigger
            where tgrelid = 'public.report_jobs'::regclass and not tgisinternal
              and tgname not in ('report_jobs_touch', 'report_jobs_guard', 'report_jobs_enforce', 'report_jobs_enqueue_delivery')
  loop
    execute format('drop trigger %I on public.report_jobs', t.tgname);
    if t.tgfoid <> 'public.report_jobs_touch'::regproc
       and not exists (select 1 from pg_trigger where tgfoid = t.tgfoid) then
      execute format('drop function %s', t.tgfoid::regprocedure);
    end if;
  end loop;
end $$;

drop trigger if exists report_jobs_touch on public.report_jobs;
create trigger report_jobs_touch
  before insert or update on public.report_jobs
  for each row execute function public.report_jobs_touch();

-- Row-level security. The old policies (including a user UPDATE policy that
-- let users mark their own jobs succeeded) are replaced.
alter table public.report_jobs enable row level security;

do $$
declare
  p record;
begin
  for p in select policyname from pg_policies where schemaname = 'public' and tablename = 'report_jobs'
  loop
    execute format('drop policy %I on public.report_jobs', p.policyname);
  end loop;
end $$;

create policy "Users read their own report jobs"
  on public.report_jobs for select to authenticated
  using ((select auth.uid()) = user_id);

-- Direct inserts (the old browser code) create queued jobs only; column
-- grants below keep worker-owned fields out of reach.
create policy "Users queue their own report jobs"
  on public.report_jobs for insert to authenticated
  with check ((select auth.uid()) = user_id and status = 'queued');

-- The only direct update a user may make: cancel an active job.
create policy "Users cancel their own active report jobs"
  on public.report_jobs for update to authenticated
  using ((select auth.uid()) = user_id and status in ('queued', 'running'))
  with check ((select auth.uid()) = user_id and status = 'cancelled');

create policy "Users delete their own report jobs"
  on public.report_jobs for delete to authenticated
  using ((select auth.uid()) = user_id);

-- Grants: explicit, since Supabase no longer grants new tables by default,
-- and revoking first, since older projects granted everything to everyone.
revoke all on public.report_jobs from public, anon, authenticated, service_role;
grant select, delete on public.report_jobs to authenticated;
grant insert (job_id, user_id, summary_id, status, model, prompt, temperature, max_tokens,
              metadata, idempotency_key)
  on public.report_jobs to authenticated;
grant update (status) on public.report_jobs to authenticated;
grant select, insert, update, delete on public.report_jobs to service_role;

-- Jobs the old route left behind (running or queued when it stopped) are
-- settled by 20261204000100_legacy_rows.sql.
