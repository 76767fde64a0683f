-- A project that publishes every table to Realtime.
create publication supabase_realtime for all tables;
