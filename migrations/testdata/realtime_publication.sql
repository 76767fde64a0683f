-- A Supabase project's Realtime publication, as the platform creates it:
-- empty, tables are added by the project's own migrations.
create publication supabase_realtime;
