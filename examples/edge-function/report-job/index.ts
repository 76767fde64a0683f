// Supabase Edge Function "report-job": creates a reportd job for the signed-in
// user and streams its progress back (or lets the caller poll it).
//
// Deploy: copy this folder to supabase/functions/report-job/, then
//   supabase secrets set REPORTD_URL=https://reportd.example.com
//   supabase functions deploy report-job
// Run locally: deno run --allow-net --allow-env index.ts
// (DENO_SERVE_ADDRESS=tcp:127.0.0.1:8001 picks the address; 8000 by default).
import { handler } from './handler.ts'

Deno.serve(handler({ reportdUrl: Deno.env.get('REPORTD_URL') ?? '' }))
