-- Rows as the replaced system stored them. Users 1 and 2 exist in auth.users.
insert into auth.users (id, email) values
  ('11111111-1111-4111-8111-111111111111', 'one@example.com'),
  ('22222222-2222-4222-8222-222222222222', 'two@example.com');
insert into public.polaris_summaries (id, title) values
  ('33333333-3333-4333-8333-333333333333', 'A summary');

insert into public.report_jobs
  (job_id, user_id, summary_id, status, model, prompt, result, error, percent, eta_seconds,
   idempotency_key, metadata, created_at, updated_at, started_at, completed_at)
values
  -- finished jobs of user 1
  ('job_1700000000000_done0001', '11111111-1111-4111-8111-111111111111', '33333333-3333-4333-8333-333333333333',
   'succeeded', 'sonar-pro', 'old prompt', 'old result', null, 100, 0, 'greeting:1',
   '{"source":"api","report_type":"greeting","report_id":"1"}', now() - interval '2 hours', now() - interval '2 hours',
   now() - interval '2 hours', now() - interval '2 hours' + interval '40 seconds'),
  ('job_1700000000000_fail0001', '11111111-1111-4111-8111-111111111111', null,
   'failed', 'sonar', 'another prompt', null, 'Perplexity timeout', 100, 0, null,
   '{}', now() - interval '3 hours', now() - interval '3 hours', now() - interval '3 hours', now() - interval '3 hours'),
  -- the same key twice for user 1 (the old keys were global, so this happened)
  ('job_1700000000000_dupe0001', '11111111-1111-4111-8111-111111111111', null,
   'succeeded', 'sonar', 'dupe older', 'r', null, 100, 0, 'org:5', '{}',
   now() - interval '5 hours', now() - interval '5 hours', null, null),
  ('job_1700000000000_dupe0002', '11111111-1111-4111-8111-111111111111', null,
   'succeeded', 'sonar', 'dupe newer', 'r', null, 100, 0, 'org:5', '{}',
   now() - interval '4 hours', now() - interval '4 hours', null, null),
  -- the old route stored null user ids when the body had none
  ('job_1700000000000_anon0001', null, null,
   'succeeded', 'sonar', 'no owner', 'r', null, 100, 0, null, '{"source":"api"}',
   now() - interval '1 hour', now() - interval '1 hour', null, null),
  -- a crashed job, "running" for hours, and a request that never ran
  ('job_1700000000000_stuck001', '22222222-2222-4222-8222-222222222222', null,
   'running', 'sonar-reasoning', 'stuck prompt', null, null, 15, 75, null, '{"report_type":"org","report_id":"9"}',
   now() - interval '6 hours', now() - interval '6 hours', now() - interval '6 hours', null),
  ('job_1700000000000_lost0001', '22222222-2222-4222-8222-222222222222', null,
   'queued', 'sonar', 'never ran', null, null, 0, null, null, '{}',
   now() - interval '2 days', now() - interval '2 days', null, null),
  -- a job the old route is running right now, and one just queued
  ('job_1700000000000_live0001', '22222222-2222-4222-8222-222222222222', null,
   'running', 'sonar', 'live prompt', null, null, 15, 75, null, '{}',
   now() - interval '30 seconds', now() - interval '30 seconds', now() - interval '30 seconds', null),
  ('job_1700000000000_new00001', '22222222-2222-4222-8222-222222222222', null,
   'queued', 'sonar', 'just queued', null, null, 0, null, null, '{}',
   now() - interval '1 minute', now() - interval '1 minute', null, null);

-- Rows that broke the first version of the migrations: jobs without an
-- owner caught mid-run (stale and recent), and values the old schema
-- allowed but the new constraints do not.
insert into public.report_jobs
  (job_id, user_id, status, model, prompt, temperature, max_tokens, percent, eta_seconds, metadata,
   created_at, updated_at, started_at)
values
  ('job_1700000000000_orph0001', null, 'running', 'sonar', 'unowned, stale', 0.2, 2600, 15, 75, '{}',
   now() - interval '20 minutes', now() - interval '20 minutes', now() - interval '20 minutes'),
  ('job_1700000000000_orph0002', null, 'queued', 'sonar', 'unowned, queued long ago', 0.2, 2600, 0, null, '{}',
   now() - interval '3 hours', now() - interval '3 hours', null),
  ('job_1700000000000_orph0003', null, 'running', 'sonar', 'unowned, running now', 0.2, 2600, 15, 75,
   '{"report_type":"greeting","report_id":"77"}',
   now() - interval '40 seconds', now() - interval '40 seconds', now() - interval '40 seconds'),
  ('job_1700000000000_orph0004', null, 'queued', 'sonar', 'unowned, just queued', 0.2, 2600, 0, null, '{}',
   now() - interval '1 minute', now() - interval '1 minute', null),
  ('job_1700000000000_odd00001', '11111111-1111-4111-8111-111111111111', 'succeeded', 'sonar', 'hot', 5.5, 2600, 100, 0,
   '{}', now() - interval '2 hours', now() - interval '2 hours', null),
  ('job_1700000000000_odd00002', '22222222-2222-4222-8222-222222222222', 'queued', 'sonar', 'odd values, still queued',
   3.25, 0, 0, -5, '["not", "an", "object"]', now() - interval '2 minutes', now() - interval '2 minutes', null),
  ('job_1700000000000_odd00003', '22222222-2222-4222-8222-222222222222', null, 'sonar', 'no status', -1, -20, 0, null,
   '"a string"', now() - interval '1 day', now() - interval '1 day', null);
