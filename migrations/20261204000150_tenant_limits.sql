-- The database is the last line: every path into report_jobs (the service's
-- create_report_job(), a user's own insert through the Data API, anything
-- else) meets the same limits, kept in one row that the service writes from
-- its configuration at start-up (report_job_configure) and the trigger
-- below reads. Per-user budgets, with overrides, bound what a user can
-- spend in a day; a user's queued jobs are capped.
--
-- Jobs created before these limits existed are not touched: the checks run
-- when a row is inserted.

create table if not exists public.report_job_settings (
  id                  boolean primary key default true check (id), -- one row
  max_prompt_chars    integer not null default 10000 check (max_prompt_chars > 0),
  max_tokens          integer not null default 32000 check (max_tokens > 0),
  max_metadata_bytes  integer not null default 16384 check (max_metadata_bytes > 0),
  max_metadata_depth  integer not null default 32 check (max_metadata_depth > 0),
  max_attempts        integer not null default 5 check (max_attempts between 1 and 20),
  max_queued_per_user integer not null default 100 check (max_queued_per_user > 0),
  -- Per user and UTC day, unless report_job_budgets says otherwise; null: none.
  daily_token_budget  bigint check (daily_token_budget > 0),
  daily_cost_budget   numeric check (daily_cost_budget > 0),
  updated_at          timestamptz not null default now()
);
insert into public.report_job_settings (id) values (true) on conflict (id) do nothing;

-- A user's own limits, set by operators: null columns take the defaults above.
create table if not exists public.report_job_budgets (
  user_id             uuid primary key references auth.users (id) on delete cascade,
  daily_token_budget  bigint check (daily_token_budget > 0),
  daily_cost_budget   numeric check (daily_cost_budget > 0),
  max_queued          integer check (max_queued > 0),
  updated_at          timestamptz not null default now()
);

-- What each user spent per UTC day: tokens (as the provider reported them,
-- or as counted from the stream) and cost (in the provider's currency).
create table if not exists public.report_job_usage (
  user_id uuid    not null,
  day     date    not null,
  tokens  bigint  not null default 0,
  cost    numeric not null default 0,
  jobs    integer not null default 0,
  primary key (user_id, day)
);

-- Claiming visits users with queued jobs one by one (fair across users).
create index if not exists report_jobs_queued_user on public.report_jobs (user_id, created_at, id) where status = 'queued';

alter table public.report_job_settings enable row level security;
alter table public.report_job_budgets enable row level security;
alter table public.report_job_usage enable row level security;
drop policy if exists "Users read their own usage" on public.report_job_usage;
create policy "Users read their own usage" on public.report_job_usage for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists "Users read their own budget" on public.report_job_budgets;
create policy "Users read their own budget" on public.report_job_budgets for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists "Everyone signed in reads the limits" on public.report_job_settings;
create policy "Everyone signed in reads the limits" on public.report_job_settings for select to authenticated
  using (true);

revoke all on public.report_job_settings, public.report_job_budgets, public.report_job_usage
  from public, anon, authenticated, service_role;
grant select on public.report_job_settings, public.report_job_budgets, public.report_job_usage to authenticated;
grant select, insert, update, delete on public.report_job_settings, public.report_job_budgets, public.report_job_usage
  to service_role;

-- How deeply objects and arrays nest in a JSON value (a scalar is 0,
-- {"a":1} is 1, {"a":{"b":[]}} is 3; report.JSONDepth counts the same way),
-- counted level by level and stopping past p_limit, so a value nested
-- thousands deep costs no more than p_limit levels.
create or replace function public.report_job_json_depth(p_value jsonb, p_limit integer)
returns integer
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_level jsonb[] := array[p_value];
  v_next  jsonb[];
  v_depth integer := 0;
  v_found boolean;
  v       jsonb;
begin
  while v_depth <= p_limit loop
    v_next := '{}';
    v_found := false;
    foreach v in array v_level loop
      case jsonb_typeof(v)
        when 'object' then v_found := true; v_next := v_next || array(select e.value from jsonb_each(v) as e);
        when 'array' then v_found := true; v_next := v_next || array(select e from jsonb_array_elements(v) as e);
        else null;
      end case;
    end loop;
    exit when not v_found;
    v_depth := v_depth + 1;
    v_level := v_next;
  end loop;
  return v_depth;
end;
$$;

-- The effective limits of one user, with today's usage and when it resets.
create or replace function public.report_job_user_limits(p_user uuid)
returns table (max_queued integer, daily_tokens bigint, daily_cost numeric,
               used_tokens bigint, used_cost numeric, resets_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(b.max_queued, s.max_queued_per_user),
         coalesce(b.daily_token_budget, s.daily_token_budget),
         coalesce(b.daily_cost_budget, s.daily_cost_budget),
         coalesce(u.tokens, 0), coalesce(u.cost, 0),
         ((now() at time zone 'UTC')::date + 1)::timestamp at time zone 'UTC'
    from public.report_job_settings s
    left join public.report_job_budgets b on b.user_id = p_user
    left join public.report_job_usage u on u.user_id = p_user and u.day = (now() at time zone 'UTC')::date
   where s.id;
$$;

-- Whether a summary belongs to the user: where the app's polaris_summaries
-- has a user_id column, it must be the user's; where it has none, it must
-- exist; where the table does not exist, there is nothing to check.
create or replace function public.report_job_summary_allowed(p_summary uuid, p_user uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_found boolean;
begin
  if p_summary is null or to_regclass('public.polaris_summaries') is null then
    return true;
  end if;
  if exists (select 1 from pg_catalog.pg_attribute
              where attrelid = 'public.polaris_summaries'::regclass and attname = 'user_id' and not attisdropped) then
    execute 'select exists (select 1 from public.polaris_summaries where id = $1 and user_id = $2)'
      into v_found using p_summary, p_user;
  else
    execute 'select exists (select 1 from public.polaris_summaries where id = $1)' into v_found using p_summary;
  end if;
  return v_found;
end;
$$;

-- The limits every new job meets. Errors a Data API caller can act on:
-- 22023 (400) for a value out of range, PT413 (413) for a size over its
-- limit, PT429 (429, with the seconds to wait in the hint) for the queue cap
-- and the budget. The field at fault is the error's detail. Operators'
-- scripts that must load many jobs at once may set reportd.bypass_limits =
-- on in their session; the API roles cannot set it.
create or replace function public.report_jobs_enforce()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  s      public.report_job_settings;
  lim    record;
  v_n    integer;
  v_size integer;
begin
  if coalesce(current_setting('reportd.bypass_limits', true), '') = 'on'
     and session_user not in ('authenticator', 'anon', 'authenticated', 'service_role') then
    return new;
  end if;
  select * into s from public.report_job_settings where id;

  if new.job_id is null or new.job_id !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' then
    raise exception 'job_id must be 1 to 128 letters, digits or _.:- starting with a letter or digit (got % characters)',
      coalesce(length(new.job_id), 0) using errcode = '22023', detail = 'job_id';
  end if;
  if coalesce(btrim(new.prompt), '') = '' then
    raise exception 'prompt is required' using errcode = '22023', detail = 'prompt';
  end if;
  v_size := char_length(new.prompt);
  if v_size > s.max_prompt_chars then
    raise exception 'prompt is % characters long; the limit is %', v_size, s.max_prompt_chars
      using errcode = 'PT413', detail = 'prompt';
  end if;
  if new.max_tokens is not null and new.max_tokens > s.max_tokens then
    raise exception 'max_tokens must be between 1 and %', s.max_tokens using errcode = '22023', detail = 'max_tokens';
  end if;
  if new.max_attempts > s.max_attempts then
    raise exception 'max_attempts must be between 1 and %', s.max_attempts using errcode = '22023', detail = 'max_attempts';
  end if;
  if new.metadata is not null then
    v_size := octet_length(new.metadata::text);
    if v_size > s.max_metadata_bytes then
      raise exception 'metadata is % bytes; the limit is %', v_size, s.max_metadata_bytes
        using errcode = 'PT413', detail = 'metadata';
    end if;
    if public.report_job_json_depth(new.metadata, s.max_metadata_depth) > s.max_metadata_depth then
      raise exception 'metadata is nested more than % levels deep', s.max_metadata_depth
        using errcode = '22023', detail = 'metadata';
    end if;
  end if;
  if not public.report_job_summary_allowed(new.summary_id, new.user_id) then
    raise exception 'summary_id does not refer to a summary of yours' using errcode = '22023', detail = 'summary_id';
  end if;

  select * into lim from public.report_job_user_limits(new.user_id);
  -- One user's inserts at a time, so concurrent ones cannot both pass the cap.
  perform pg_advisory_xact_lock(hashtextextended('report_jobs:queue:' || new.user_id::text, 0));
  select count(*) into v_n from (
    select 1 from public.report_jobs
     where user_id = new.user_id and status = 'queued'
     limit lim.max_queued) q;
  if v_n >= lim.max_queued then
    raise exception 'You have % jobs waiting; the limit is %. Wait for some to finish, or cancel some.', v_n, lim.max_queued
      using errcode = 'PT429', detail = 'queue', hint = '30';
  end if;
  if (lim.daily_tokens is not null and lim.used_tokens >= lim.daily_tokens)
     or (lim.daily_cost is not null and lim.used_cost >= lim.daily_cost) then
    raise exception 'Your daily budget is used up (% tokens%); it resets at %', lim.used_tokens,
      case when lim.daily_cost is not null then format(', cost %s of %s', lim.used_cost, lim.daily_cost) else '' end,
      to_char(lim.resets_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      using errcode = 'PT429', detail = 'budget',
            hint = ceil(extract(epoch from lim.resets_at - now()))::text;
  end if;
  return new;
end;
$$;

revoke all on function public.report_jobs_enforce() from public, anon, authenticated, service_role;
drop trigger if exists report_jobs_enforce on public.report_jobs;
create trigger report_jobs_enforce
  before insert on public.report_jobs
  for each row execute function public.report_jobs_enforce();

-- The service writes its configured limits at start-up and reads back what
-- is in force. Keys missing from p_settings keep their value.
create or replace function public.report_job_configure(p_settings jsonb)
returns public.report_job_settings
language plpgsql
set search_path = ''
as $$
declare
  v public.report_job_settings;
begin
  update public.report_job_settings s
     set max_prompt_chars = coalesce((p_settings ->> 'max_prompt_chars')::integer, s.max_prompt_chars),
         max_tokens = coalesce((p_settings ->> 'max_tokens')::integer, s.max_tokens),
         max_metadata_bytes = coalesce((p_settings ->> 'max_metadata_bytes')::integer, s.max_metadata_bytes),
         max_metadata_depth = coalesce((p_settings ->> 'max_metadata_depth')::integer, s.max_metadata_depth),
         max_attempts = coalesce((p_settings ->> 'max_attempts')::integer, s.max_attempts),
         max_queued_per_user = coalesce((p_settings ->> 'max_queued_per_user')::integer, s.max_queued_per_user),
         daily_token_budget = case when p_settings ? 'daily_token_budget'
                                   then (p_settings ->> 'daily_token_budget')::bigint else s.daily_token_budget end,
         daily_cost_budget = case when p_settings ? 'daily_cost_budget'
                                  then (p_settings ->> 'daily_cost_budget')::numeric else s.daily_cost_budget end,
         updated_at = now()
   where s.id
  returning * into v;
  return v;
end;
$$;

revoke all on function public.report_job_configure(jsonb) from public, anon, authenticated, service_role;
grant execute on function public.report_job_configure(jsonb) to service_role;
revoke all on function public.report_job_json_depth(jsonb, integer) from public, anon, authenticated, service_role;
revoke all on function public.report_job_user_limits(uuid) from public, anon, authenticated, service_role;
revoke all on function public.report_job_summary_allowed(uuid, uuid) from public, anon, authenticated, service_role;
grant execute on function public.report_job_user_limits(uuid) to service_role;
grant execute on function public.report_job_json_depth(jsonb, integer) to service_role;
grant execute on function public.report_job_summary_allowed(uuid, uuid) to service_role;

-- Add what an attempt spent to its owner's usage of the day.
create or replace function public.report_job_record_usage(p_user uuid, p_tokens bigint, p_cost numeric, p_jobs integer)
returns void
language sql
set search_path = ''
as $$
  insert into public.report_job_usage as u (user_id, day, tokens, cost, jobs)
  select p_user, (now() at time zone 'UTC')::date, greatest(coalesce(p_tokens, 0), 0), greatest(coalesce(p_cost, 0), 0),
         coalesce(p_jobs, 0)
   where p_user is not null
  on conflict (user_id, day) do update
    set tokens = u.tokens + excluded.tokens, cost = u.cost + excluded.cost, jobs = u.jobs + excluded.jobs;
$$;

-- Queued jobs of users whose budget of the day is used up fail, saying
-- when it resets, instead of being sent to the provider. Called by every
-- claim; it looks only at today's usage rows over their budget.
create or replace function public.report_job_fail_over_budget()
returns void
language plpgsql
set search_path = ''
as $$
declare
  r record;
begin
  for r in
    select u.user_id, l.used_tokens, l.daily_tokens, l.used_cost, l.daily_cost, l.resets_at
      from public.report_job_usage u
      cross join lateral public.report_job_user_limits(u.user_id) l
     where u.day = (now() at time zone 'UTC')::date
       and ((l.daily_tokens is not null and l.used_tokens >= l.daily_tokens)
         or (l.daily_cost is not null and l.used_cost >= l.daily_cost))
  loop
    update public.report_jobs
       set status = 'failed', percent = 100, eta_seconds = null,
           error = format('Your daily budget is used up (%s of %s tokens); it resets at %s. Create the job again then.',
                          r.used_tokens, coalesce(r.daily_tokens::text, 'unlimited'),
                          to_char(r.resets_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
     where user_id = r.user_id and status = 'queued' and run_after <= now();
  end loop;
end;
$$;

revoke all on function public.report_job_record_usage(uuid, bigint, numeric, integer) from public, anon, authenticated, service_role;
revoke all on function public.report_job_fail_over_budget() from public, anon, authenticated, service_role;
grant execute on function public.report_job_record_usage(uuid, bigint, numeric, integer) to service_role;
grant execute on function public.report_job_fail_over_budget() to service_role;

-- Statistics over the caller's jobs in the old monitor's shape, and the
-- caller's budget of the day (null limits: none).
create or replace function public.report_job_stats(p_user_id uuid default null)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := public.report_job_actor(p_user_id);
  v_out  json;
begin
  select json_build_object(
    'total',     count(*),
    'queued',    count(*) filter (where status = 'queued'),
    'running',   count(*) filter (where status = 'running'),
    'succeeded', count(*) filter (where status = 'succeeded'),
    'failed',    count(*) filter (where status = 'failed'),
    'cancelled', count(*) filter (where status = 'cancelled'),
    'avgDurationMs', coalesce(round(avg(extract(epoch from (completed_at - started_at)) * 1000)
                         filter (where completed_at is not null and started_at is not null)), 0)::bigint,
    'budget', (select json_build_object('daily_tokens', l.daily_tokens, 'used_tokens', l.used_tokens,
                                        'daily_cost', l.daily_cost, 'used_cost', l.used_cost,
                                        'max_queued', l.max_queued, 'resets_at', l.resets_at)
                 from public.report_job_user_limits(v_user) l)
  ) into v_out
  from public.report_jobs
  where user_id = v_user;
  return v_out;
end;
$$;

revoke all on function public.report_job_stats(uuid) from public, anon, authenticated, service_role;
grant execute on function public.report_job_stats(uuid) to authenticated, service_role;

-- Webhook deliveries: at most p_per_user_per_minute attempts started per
-- job owner per minute, across every dispatcher (0: no limit), so a user
-- who creates and cancels jobs in a loop cannot flood the app's receiver;
-- their deliveries wait their turn, none is dropped.
alter table public.report_job_deliveries add column if not exists last_attempt_at timestamptz;
create index if not exists report_job_deliveries_user_recent
  on public.report_job_deliveries (user_id, last_attempt_at) where last_attempt_at is not null;

drop function if exists public.claim_report_job_deliveries(text, integer, integer, integer);
create or replace function public.claim_report_job_deliveries(
  p_worker              text,
  p_limit               integer default 10,
  p_lease_seconds       integer default 30,
  p_max_attempts        integer default 4,
  p_per_user_per_minute integer default 0
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
  with recent as (
    select d.user_id, count(*)::integer as n
      from public.report_job_deliveries d
     where p_per_user_per_minute > 0 and d.last_attempt_at > now() - interval '1 minute' and d.user_id is not null
     group by d.user_id
  ),
  ready as (
    select d.id, d.user_id, d.next_attempt_at,
           row_number() over (partition by d.user_id order by d.next_attempt_at, d.id) as rn
      from public.report_job_deliveries d
     where (d.status = 'pending' and d.next_attempt_at <= now())
        or (d.status = 'delivering' and d.lease_expires_at < now())
  ),
  allowed as (
    select r.id, r.next_attempt_at
      from ready r
      left join recent x on x.user_id = r.user_id
     where p_per_user_per_minute <= 0 or r.user_id is null or r.rn + coalesce(x.n, 0) <= p_per_user_per_minute
     order by r.next_attempt_at, r.id
     limit greatest(p_limit, 0) * 2 + 8
  ),
  due as (
    select d.id
      from public.report_job_deliveries d
     where d.id in (select id from allowed)
       and ((d.status = 'pending' and d.next_attempt_at <= now())
         or (d.status = 'delivering' and d.lease_expires_at < now()))
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
           last_attempt_at = now(),
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

revoke all on function public.claim_report_job_deliveries(text, integer, integer, integer, integer)
  from public, anon, authenticated, service_role;
grant execute on function public.claim_report_job_deliveries(text, integer, integer, integer, integer) to service_role;
