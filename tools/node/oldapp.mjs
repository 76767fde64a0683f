// The old React app's service layer for report_jobs, as its browser code
// called supabase-js (see the Addendum of replaced-system.md), run with the
// real @supabase/supabase-js against a Supabase project (or the stand-in).
//
// Usage: SUPABASE_URL=... SUPABASE_ANON_KEY=... node oldapp.mjs < steps.json
//
// stdin is a JSON array of steps, {"call": "<function>", "token": "<user's
// access token>", "args": [...]}, run in order, each as the user whose token
// it carries. stdout is a JSON array with one result per step:
// {"call", "data", "error": null | {"code", "message", "details", "hint"},
// "status"}. The exit code is 0 whenever every step ran, whatever they
// answered; 2 when the input or the environment is wrong.
import { createClient } from '@supabase/supabase-js'

const TABLE = 'report_jobs'

// The app was signed in; user.id came from its session. Here the session is
// the access token, and the user's id is its subject.
function userOf(token) {
  const payload = token.split('.')[1] ?? ''
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  return { id: claims.sub }
}

// The service layer opened no realtime channel, but supabase-js builds its
// realtime client up front and wants a WebSocket class, which Node 20 lacks.
// It gets one that refuses to connect.
class NoWebSocket {
  constructor() {
    throw new Error('the old service layer uses no realtime channel')
  }
}

// A client for one signed-in user: supabase-js sends the anon key as apikey
// and this token as the bearer on every request.
function clientFor(url, anonKey, token) {
  return createClient(url, anonKey, {
    accessToken: async () => token,
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: globalThis.WebSocket ?? NoWebSocket },
  })
}

// The service layer, one function per call the app made.
function serviceLayer(supabase, user) {
  return {
    createReportJob: (job) =>
      supabase
        .from(TABLE)
        .insert({
          ...job,
          user_id: job.user_id || user.id,
          percent: job.percent || 0,
          eta_seconds: job.eta_seconds || 90,
          metadata: job.metadata || {},
        })
        .select()
        .single(),

    getReportJob: (jobId) => supabase.from(TABLE).select('*').eq('job_id', jobId).single(),

    updateReportJob: (jobId, updates) =>
      supabase.from(TABLE).update(updates).eq('job_id', jobId).select().single(),

    findJobByIdempotencyKey: (key) =>
      supabase
        .from(TABLE)
        .select('*')
        .eq('idempotency_key', key)
        .order('created_at', { ascending: false })
        .limit(1)
        .maybeSingle(),

    getUserReportJobs: (userId, limit = 20) =>
      supabase
        .from(TABLE)
        .select('*')
        .eq('user_id', userId)
        .order('created_at', { ascending: false })
        .limit(limit),

    getSummaryReportJobs: (summaryId) =>
      supabase
        .from(TABLE)
        .select('*')
        .eq('summary_id', summaryId)
        .order('created_at', { ascending: false }),

    // The monitor's Cancel button.
    cancelReportJob: (jobId) =>
      supabase
        .from(TABLE)
        .update({ status: 'cancelled', completed_at: new Date().toISOString() })
        .eq('job_id', jobId)
        .in('status', ['queued', 'running']),

    // Two deletes: expired jobs, then finished jobs older than a day. The
    // answer carries the ids each removed; error and status are those of the
    // first delete that failed, else of the second.
    cleanupOldJobs: async () => {
      const now = new Date()
      const expired = await supabase.from(TABLE).delete().lt('expires_at', now.toISOString()).select('id')
      if (expired.error) return expired
      const dayAgo = new Date(now.getTime() - 24 * 60 * 60 * 1000).toISOString()
      const finished = await supabase
        .from(TABLE)
        .delete()
        .in('status', ['succeeded', 'failed', 'cancelled'])
        .lt('completed_at', dayAgo)
        .select('id')
      const ids = (r) => (r.data ?? []).map((row) => row.id)
      return { ...finished, data: { expired: ids(expired), finished: ids(finished) } }
    },

    // The monitor's statistics: every row's status and times, counted here.
    getJobStatistics: async () => {
      const res = await supabase.from(TABLE).select('status, started_at, completed_at')
      if (res.error) return res
      const stats = { total: 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, avgDurationMs: 0 }
      let timed = 0
      let sum = 0
      for (const row of res.data) {
        stats.total++
        if (row.status in stats) stats[row.status]++
        if (row.started_at && row.completed_at) {
          sum += new Date(row.completed_at) - new Date(row.started_at)
          timed++
        }
      }
      stats.avgDurationMs = timed ? Math.round(sum / timed) : 0
      return { ...res, data: stats }
    },
  }
}

function errorOf(err) {
  if (!err) return null
  return { code: err.code ?? '', message: err.message ?? '', details: err.details ?? null, hint: err.hint ?? null }
}

async function runStep(url, anonKey, step) {
  const layer = serviceLayer(clientFor(url, anonKey, step.token), userOf(step.token))
  const fn = layer[step.call]
  if (!fn) throw new Error(`unknown call ${JSON.stringify(step.call)}`)
  const res = await fn(...(step.args ?? []))
  return { call: step.call, data: res.data ?? null, error: errorOf(res.error), status: res.status }
}

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

async function main() {
  const url = process.env.SUPABASE_URL
  const anonKey = process.env.SUPABASE_ANON_KEY
  if (!url || !anonKey) throw new Error('SUPABASE_URL and SUPABASE_ANON_KEY must be set')
  const steps = JSON.parse(await readStdin())
  if (!Array.isArray(steps)) throw new Error('stdin must be a JSON array of steps')
  const results = []
  for (const step of steps) results.push(await runStep(url, anonKey, step))
  process.stdout.write(JSON.stringify(results) + '\n')
}

main().catch((err) => {
  process.stderr.write(`oldapp: ${err.stack ?? err}\n`)
  process.exit(2)
})
