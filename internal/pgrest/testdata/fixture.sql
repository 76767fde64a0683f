-- The gateway tests' schema: one RLS table owned per user, one plain table, and functions of
-- every result shape, volatility and privilege the tests need. Grants are explicit, as on
-- Supabase since 2026.

create table public.notes (
  id bigint generated always as identity primary key,
  user_id uuid not null default auth.uid(),
  title text not null,
  done boolean not null default false,
  score numeric(10, 2),
  created_at timestamptz not null default '2024-05-06 07:08:09.123456+00'
);
create index notes_user_id on public.notes (user_id);
alter table public.notes enable row level security;
create policy notes_select on public.notes for select to authenticated
  using ((select auth.uid()) = user_id);
create policy notes_insert on public.notes for insert to authenticated
  with check ((select auth.uid()) = user_id);
create policy notes_update on public.notes for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy notes_delete on public.notes for delete to authenticated
  using ((select auth.uid()) = user_id);
grant select, insert, update, delete on public.notes to authenticated, service_role;

-- Insert-only for authenticated: a policy allows INSERT but none allows SELECT, so
-- return=representation fails where return=minimal succeeds.
create table public.inbox (
  id bigint generated always as identity primary key,
  body text not null
);
alter table public.inbox enable row level security;
create policy inbox_insert on public.inbox for insert to authenticated with check (true);
grant select, insert on public.inbox to authenticated;

create table public.tags (
  name text primary key,
  color text,
  weight int not null default 1
);
grant select, insert, update, delete on public.tags to authenticated, service_role;
grant select on public.tags to anon;

-- Reports the request context the gateway set up, as a function sees it.
create function public.whoami() returns json
language sql stable
as $$
  select json_build_object(
    'current_user', current_user,
    'role', current_setting('role'),
    'claims', current_setting('request.jwt.claims', true)::json,
    'legacy_sub', coalesce(current_setting('request.jwt.claim.sub', true), ''),
    'uid', auth.uid(),
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'headers', current_setting('request.headers', true)::json,
    'cookies', current_setting('request.cookies', true)::json,
    'search_path', current_setting('search_path'),
    'statement_timeout', current_setting('statement_timeout'),
    'read_only', current_setting('transaction_read_only'),
    'isolation', current_setting('transaction_isolation'))
$$;

create function public.tx_mode() returns text
language sql volatile
as $$ select current_setting('transaction_read_only') $$;

create function public.set_done(note_id bigint) returns void
language sql
as $$ update public.notes set done = true where id = note_id $$;

create function public.add(a int, b int default 10) returns int
language sql immutable
as $$ select a + b $$;

create type public.pair as (k text, v numeric);
create function public.make_pair(k text, v numeric) returns public.pair
language sql immutable
as $$ select row(k, v)::public.pair $$;

create function public.my_notes() returns setof public.notes
language sql stable
as $$ select * from public.notes order by id $$;

create function public.series(n int) returns setof int
language sql immutable
as $$ select generate_series(1, n) $$;

create function public.note_stats() returns table (total bigint, finished bigint)
language sql stable
as $$ select count(*), count(*) filter (where done) from public.notes $$;

create function public.stamp() returns timestamptz
language sql immutable
as $$ select '2024-05-06 07:08:09.123456+00'::timestamptz $$;

create function public.write_tag(tag text) returns void
language sql volatile
as $$ insert into public.tags (name) values (tag) $$;

-- STABLE, so PostgREST runs it read-only; the write it reaches fails with 25006.
create function public.stable_writer(tag text) returns int
language plpgsql stable
as $$ begin perform public.write_tag(tag); return 1; end $$;

create function public.count_owned(owner uuid) returns bigint
language sql stable
as $$ select count(*) from public.notes where user_id = owner $$;

create function public.pay() returns void
language plpgsql
as $$ begin raise sqlstate 'PT402' using message = 'Payment required', detail = 'top up', hint = 'card'; end $$;

create function public.fail(reason text) returns void
language plpgsql
as $$ begin raise exception '%', reason; end $$;

create function public.pick(a int) returns text language sql immutable as $$ select 'one' $$;
create function public.pick(a int, b int) returns text language sql immutable as $$ select 'two' $$;
create function public.echo(x int) returns text language sql immutable as $$ select 'int' $$;
create function public.echo(x text) returns text language sql immutable as $$ select 'text' $$;

-- Counts every user's notes: a SECURITY DEFINER reserved for service_role.
create function public.admin_note_count() returns bigint
language sql stable security definer set search_path = ''
as $$ select count(*) from public.notes $$;
revoke execute on function public.admin_note_count() from public, anon, authenticated;
grant execute on function public.admin_note_count() to service_role;
