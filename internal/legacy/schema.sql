-- The schema the replaced system left in existing projects (see
-- replaced-system.md): its report_jobs table, indexes, trigger, cleanup
-- function, policies, and the grants Supabase gave every new table back
-- then. Written here from that description; used to prove the migrations
-- apply on top of it and keep its rows.
create table public.polaris_summaries (
  id    uuid primary key default gen_random_uuid(),
  title text
);

create table public.report_jobs (
  id              uuid primary key default gen_random_uuid(),
  job_id          text unique not null,
  user_id         uuid references auth.users (id) on delete cascade,
  summary_id      uuid references public.polaris_summaries (id) on delete cascade,
  status          text default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  model           text,
  prompt          text,
  temperature     numeric(3, 2) default 0.2,
  max_tokens      integer default 4000,
  result          text,
  error           text,
  percent         integer default 0 check (percent >= 0 and percent <= 100),
  eta_seconds     integer,
  idempotency_key text,
  metadata        jsonb default '{}'::jsonb,
  created_at      timestamptz default now(),
  updated_at      timestamptz default now(),
  started_at      timestamptz,
  completed_at    timestamptz,
  expires_at      timestamptz default (now() + interval '7 days')
);

create index idx_report_jobs_user_status on public.report_jobs (user_id, status);
create index idx_report_jobs_summary_id on public.report_jobs (summary_id);
create index idx_report_jobs_job_id on public.report_jobs (job_id);
create index idx_report_jobs_active on public.report_jobs (status) where status in ('queued', 'running');
create index idx_report_jobs_expires_at on public.report_jobs (expires_at);
create index idx_report_jobs_idempotency on public.report_jobs (idempotency_key) where idempotency_key is not null;

create function public.update_report_jobs_timestamps() returns trigger language plpgsql as $$
begin
  new.updated_at = now();
  if new.status = 'running' and old.status <> 'running' then
    new.started_at = now();
  end if;
  if new.status in ('succeeded', 'failed', 'cancelled') and old.status in ('queued', 'running') then
    new.completed_at = now();
  end if;
  return new;
end $$;

create trigger update_report_jobs_timestamps before update on public.report_jobs
  for each row execute function public.update_report_jobs_timestamps();

create function public.cleanup_expired_report_jobs() returns void language plpgsql as $$
begin
  delete from public.report_jobs
   where expires_at < now()
      or (status in ('succeeded', 'failed', 'cancelled') and completed_at < now() - interval '24 hours');
end $$;

alter table public.report_jobs enable row level security;
create policy "Users can view their own jobs" on public.report_jobs for select using (auth.uid() = user_id);
create policy "Users can create their own jobs" on public.report_jobs for insert with check (auth.uid() = user_id);
create policy "Users can update their own jobs" on public.report_jobs for update using (auth.uid() = user_id) with check (auth.uid() = user_id);
create policy "Users can delete their own jobs" on public.report_jobs for delete using (auth.uid() = user_id);
create policy "Service role has full access" on public.report_jobs for all using (auth.role() = 'service_role');

grant all on public.report_jobs to anon, authenticated, service_role;
grant all on public.polaris_summaries to anon, authenticated, service_role;
