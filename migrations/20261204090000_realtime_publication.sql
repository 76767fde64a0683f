-- Realtime for the app: publish report_jobs in supabase_realtime, so a
-- signed-in user can subscribe with supabase.channel(...).on('postgres_changes',
-- {table: 'report_jobs'}, ...) and receive changes to the rows row-level
-- security lets them read (Realtime checks the subscriber's policies).
--
-- Only where the publication exists: a Supabase project has it, plain
-- PostgreSQL does not, and there this file changes nothing. A publication
-- FOR ALL TABLES already covers the table (and cannot take a table added by
-- name); one that lists the table already is left alone, so the file can be
-- applied again.
--
-- The replica identity stays the default (the primary key): an UPDATE event
-- carries the new row, a DELETE event only the deleted row's id. FULL would
-- log the whole old row, result included, on every progress write.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime') then
    raise notice 'no supabase_realtime publication here; report_jobs is not published';
    return;
  end if;
  if exists (select 1 from pg_catalog.pg_publication_tables
              where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'report_jobs') then
    return;
  end if;
  alter publication supabase_realtime add table public.report_jobs;
end $$;
