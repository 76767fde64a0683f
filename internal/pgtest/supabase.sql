-- What a Supabase project provides before the first migration runs: the API roles, the auth and
-- extensions schemas, the current auth helper functions and a minimal auth.users.
-- Safe to run again, and on a server shared with other test databases (roles are cluster-wide).

-- Serialise bootstraps across databases: roles and role settings live in shared catalogs, and two
-- concurrent CREATE ROLE or ALTER ROLE calls would otherwise fail on each other.
lock table pg_catalog.pg_authid in share row exclusive mode;

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator;
  end if;
end
$$;

alter role anon nologin noinherit nobypassrls;
alter role authenticated nologin noinherit nobypassrls;
alter role service_role nologin noinherit bypassrls;
alter role authenticator login noinherit nobypassrls nosuperuser password 'authenticator';
grant anon, authenticated, service_role to authenticator;

-- Supabase's per-role limits; PostgREST applies them with the role switch.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

create schema if not exists auth;
create schema if not exists extensions;
grant usage on schema public, auth, extensions to anon, authenticated, service_role;

-- Functions stay executable by the API roles by default, as on Supabase; tables are not granted
-- (Supabase stopped granting new public tables by default in 2026).
alter default privileges in schema public grant execute on functions to anon, authenticated, service_role;

-- The current helpers from the auth server's migrations: the legacy per-claim setting first, then
-- the claims JSON. nullif because a setting once set reads '' (not NULL) after its transaction.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

create table if not exists auth.users (
  id uuid primary key,
  email text,
  aud varchar(255),
  role varchar(255),
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);

do $$
begin
  if exists (select from pg_catalog.pg_available_extensions where name = 'pgcrypto') then
    create extension if not exists pgcrypto with schema extensions;
  end if;
end
$$;
