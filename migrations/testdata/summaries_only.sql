-- A project that has the app's summaries table but not yet report_jobs.
create table public.polaris_summaries (id uuid primary key default gen_random_uuid(), title text);
