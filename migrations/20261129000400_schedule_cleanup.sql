-- Schedule cleanup_expired_report_jobs() every hour with pg_cron (Supabase
-- Cron) when the extension can be enabled. Plain PostgreSQL without pg_cron in
-- shared_preload_libraries skips this; the service then runs cleanup on its
-- own schedule (CLEANUP_INTERVAL), which is safe alongside this one.
do $$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available; cleanup is left to the service';
    return;
  end if;
  begin
    create extension if not exists pg_cron with schema pg_catalog;
  exception when others then
    raise notice 'pg_cron could not be enabled (%); cleanup is left to the service', sqlerrm;
    return;
  end;
  execute $cmd$select cron.schedule('cleanup-expired-report-jobs', '17 * * * *',
                                    'select public.cleanup_expired_report_jobs()')$cmd$;
end $$;
