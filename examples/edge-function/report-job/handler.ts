// The request handling of the report-job Edge Function, apart from
// Deno.serve so that the configuration comes in as a value.
//
// The function never holds a credential of its own: it forwards the caller's
// Authorization header (the signed-in user's access token) to reportd, which
// verifies it and reads and writes the job as that user, under row-level
// security. A caller without a token gets 401 here and reportd is not asked.

/** Where reportd is; the function's only setting. */
export interface Config {
  /** REPORTD_URL, e.g. https://reportd.example.com */
  reportdUrl: string
  /** For tests: the fetch to call reportd with. */
  fetch?: typeof fetch
}

/** Browsers call Edge Functions from the app's origin (supabase.functions.invoke). */
const cors: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type, idempotency-key, last-event-id',
  'Access-Control-Expose-Headers': 'location',
}

/** Request headers passed on to reportd as they came. */
const forwarded = ['authorization', 'idempotency-key', 'last-event-id']

/**
 * handler answers:
 *   POST  {prompt, model, ...}          creates a job (reportd's POST /v1/jobs body);
 *         answers 201 with the job, or, when the caller accepts
 *         text/event-stream, streams the job's events until it is final.
 *   GET   ?job_id=ID                    the job now (poll this), or with
 *         Accept: text/event-stream its events (send Last-Event-ID to resume).
 */
export function handler(config: Config): (req: Request) => Promise<Response> {
  const base = config.reportdUrl.replace(/\/+$/, '')
  const call = config.fetch ?? fetch
  return async (req) => {
    if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: cors })
    if (!base) return problem(500, 'not_configured', 'REPORTD_URL is not set')
    if (!/^bearer\s+\S/i.test(req.headers.get('authorization') ?? '')) {
      return problem(401, 'unauthenticated', "Sign in: send the user's access token as Authorization: Bearer <token>")
    }
    const stream = (req.headers.get('accept') ?? '').includes('text/event-stream')
    const url = new URL(req.url)
    try {
      if (req.method === 'POST') return await create(req, stream)
      if (req.method === 'GET') {
        const id = url.searchParams.get('job_id')
        if (!id) return problem(400, 'invalid_request', 'job_id is required')
        return stream ? await events(req, id) : await relay(await upstream(req, 'GET', jobPath(id)))
      }
      return problem(405, 'method_not_allowed', 'Use GET or POST')
    } catch (e) {
      if (req.signal.aborted) throw e
      console.error('reportd unreachable:', e instanceof Error ? e.message : e)
      return problem(502, 'upstream_unreachable', 'reportd could not be reached')
    }
  }

  async function create(req: Request, stream: boolean): Promise<Response> {
    const res = await upstream(req, 'POST', '/v1/jobs', await req.text())
    if (!res.ok) return relay(res)
    const job = await res.json() as { job_id: string }
    if (stream) return events(req, job.job_id)
    // Where to poll: this function, not reportd, which the caller may not reach. A
    // query-only reference, because the platform serves the function under a
    // prefix (/functions/v1) that the function's own URL does not show.
    return relay(res, JSON.stringify(job), { Location: `?job_id=${encodeURIComponent(job.job_id)}` })
  }

  /** The job's event stream, passed through as reportd sends it. */
  async function events(req: Request, id: string): Promise<Response> {
    const res = await upstream(req, 'GET', `${jobPath(id)}/events`, undefined, 'text/event-stream')
    if (!res.ok || res.status === 204 || !res.body) return relay(res)
    return new Response(res.body, {
      status: 200,
      headers: { ...cors, 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' },
    })
  }

  function upstream(
    req: Request,
    method: string,
    path: string,
    body?: string,
    accept = 'application/json',
  ): Promise<Response> {
    const headers = new Headers({ Accept: accept })
    for (const name of forwarded) {
      const v = req.headers.get(name)
      if (v) headers.set(name, v)
    }
    if (body !== undefined) headers.set('Content-Type', 'application/json')
    // The caller going away (or the platform's time limit) ends the request to reportd too.
    return call(base + path, { method, headers, body, signal: req.signal })
  }
}

function jobPath(id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`
}

/** reportd's answer, with its status and body, as this function's answer. */
async function relay(res: Response, body?: string, extra: Record<string, string> = {}): Promise<Response> {
  const headers = new Headers({ ...cors, ...extra })
  for (const name of ['content-type', 'retry-after', 'www-authenticate', 'x-request-id']) {
    const v = res.headers.get(name)
    if (v) headers.set(name, v)
  }
  if (body === undefined && res.status !== 204) body = await res.text()
  return new Response(res.status === 204 ? null : body, { status: res.status, headers })
}

/** An error in reportd's own shape, so callers handle one shape. */
function problem(status: number, code: string, error: string): Response {
  return new Response(JSON.stringify({ error, code }), {
    status,
    headers: { ...cors, 'Content-Type': 'application/json' },
  })
}
