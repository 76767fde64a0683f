// @ts-check
/**
 * reportd.js: a small client for the reportd REST API (/v1). An ES module
 * with no dependencies and no build step; reportd.d.ts declares its types
 * for TypeScript, and the JSDoc here gives editors the same help in plain
 * JavaScript. The service serves both at /app/reportd.js and
 * /app/reportd.d.ts; the monitor page uses this very file.
 *
 * Live updates read the Server-Sent Events endpoints with fetch() and a
 * streaming reader, so the access token travels in the Authorization
 * header like every other request. EventSource cannot send that header, and
 * a token in the URL would end up in proxy and server logs.
 *
 * @module reportd
 */

/** @typedef {'queued'|'running'|'succeeded'|'failed'|'cancelled'} Status */
/** @typedef {import('./reportd').Job} Job */
/** @typedef {import('./reportd').JobPage} JobPage */
/** @typedef {import('./reportd').NewJob} NewJob */
/** @typedef {import('./reportd').ListOptions} ListOptions */
/** @typedef {import('./reportd').Stats} Stats */
/** @typedef {import('./reportd').Active} Active */
/** @typedef {import('./reportd').Result} Result */
/** @typedef {import('./reportd').OperatorStats} OperatorStats */
/** @typedef {import('./reportd').PublicConfig} PublicConfig */
/** @typedef {import('./reportd').ClientOptions} ClientOptions */
/** @typedef {import('./reportd').WatchOptions} WatchOptions */
/** @typedef {import('./reportd').JobWatchOptions} JobWatchOptions */
/** @typedef {import('./reportd').Watch} Watch */
/** @typedef {import('./reportd').StreamEvent} StreamEvent */

/** The statuses of a job that is not finished yet. */
export const ACTIVE = Object.freeze(['queued', 'running'])

/** @param {string} s @returns {boolean} */
export const isFinal = (s) => s === 'succeeded' || s === 'failed' || s === 'cancelled'

/** An answer other than 2xx, in the API's error shape. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {any} body the parsed error body, when there was one
   * @param {Headers} [headers]
   */
  constructor (status, body, headers) {
    super((body && body.error) || `The service answered ${status}`)
    this.name = 'ApiError'
    /** @type {number} */ this.status = status
    /** @type {string} */ this.code = (body && body.code) || `http_${status}`
    /** @type {{field: string, message: string}[]} */ this.fields = (body && body.fields) || []
    /** @type {string|undefined} */ this.requestId = body && body.request_id
    const retry = headers && Number(headers.get('Retry-After'))
    /** @type {number|undefined} seconds */ this.retryAfter = retry || undefined
  }
}

export class ReportdClient {
  /** @param {ClientOptions} [options] */
  constructor (options = {}) {
    this.baseUrl = (options.baseUrl || '').replace(/\/+$/, '')
    this.getToken = options.getToken || (async () => null)
    this.onUnauthorized = options.onUnauthorized
    this.fetch = options.fetch || globalThis.fetch.bind(globalThis)
  }

  /**
   * @param {string} path
   * @param {Record<string, string|number|string[]|undefined>} [query]
   */
  url (path, query) {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(query || {})) {
      if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue
      params.set(k, Array.isArray(v) ? v.join(',') : String(v))
    }
    const qs = params.toString()
    return this.baseUrl + path + (qs ? '?' + qs : '')
  }

  /**
   * One API call. A 401 asks onUnauthorized (refresh the session) and
   * retries once when it says so.
   * @param {string} method
   * @param {string} path
   * @param {{body?: any, query?: Record<string, any>, headers?: Record<string, string>, token?: string|null, signal?: AbortSignal}} [o]
   * @returns {Promise<any>}
   */
  async request (method, path, o = {}) {
    for (let attempt = 0; ; attempt++) {
      /** @type {Record<string, string>} */
      const headers = { Accept: 'application/json', ...(o.headers || {}) }
      const token = o.token !== undefined ? o.token : await this.getToken()
      if (token) headers.Authorization = `Bearer ${token}`
      if (o.body !== undefined) headers['Content-Type'] = 'application/json'
      const res = await this.fetch(this.url(path, o.query), {
        method, headers, signal: o.signal, cache: 'no-store',
        body: o.body === undefined ? undefined : JSON.stringify(o.body)
      })
      if (res.status === 401 && attempt === 0 && o.token === undefined && this.onUnauthorized &&
          await this.onUnauthorized()) continue
      if (res.status === 204 || res.status === 304) return undefined
      const data = await res.json().catch(() => null)
      if (!res.ok) throw new ApiError(res.status, data, res.headers)
      return data
    }
  }

  /** @returns {Promise<PublicConfig>} */
  config () { return this.request('GET', '/v1/config', { token: null }) }

  /**
   * @param {NewJob} job
   * @param {{idempotencyKey?: string}} [o]
   * @returns {Promise<Job>}
   */
  createJob (job, o = {}) {
    const headers = o.idempotencyKey ? { 'Idempotency-Key': o.idempotencyKey } : undefined
    return this.request('POST', '/v1/jobs', { body: job, headers })
  }

  /** @param {string} id @returns {Promise<Job>} */
  getJob (id) { return this.request('GET', `/v1/jobs/${encodeURIComponent(id)}`) }

  /** @param {ListOptions} [o] @returns {Promise<JobPage>} */
  listJobs (o = {}) {
    return this.request('GET', '/v1/jobs', {
      query: { status: o.status, model: o.model, summary_id: o.summaryId, limit: o.limit, cursor: o.cursor }
    })
  }

  /** @param {string} id @returns {Promise<Job>} */
  cancelJob (id) { return this.request('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`) }

  /** @param {string} id @returns {Promise<void>} */
  deleteJob (id) { return this.request('DELETE', `/v1/jobs/${encodeURIComponent(id)}`) }

  /** @param {string} id @returns {Promise<Result>} */
  result (id) { return this.request('GET', `/v1/jobs/${encodeURIComponent(id)}/result`) }

  /** @returns {Promise<Stats>} */
  stats () { return this.request('GET', '/v1/stats') }

  /** @returns {Promise<Active>} */
  activeJobs () { return this.request('GET', '/v1/stats/active') }

  /**
   * Cross-user statistics, for operators: the credential is a service key
   * (the project's secret key), sent for this call only.
   * @param {string} serviceKey
   * @param {{days?: number, topDays?: number, topUsers?: number}} [w]
   * @returns {Promise<OperatorStats>}
   */
  operatorStats (serviceKey, w = {}) {
    return this.request('GET', '/v1/admin/stats', {
      token: serviceKey, query: { days: w.days, top_days: w.topDays, top_users: w.topUsers }
    })
  }

  /**
   * Every change to the caller's jobs, live (GET /v1/events). While the
   * stream is up nothing polls; when it drops, the watch polls the active
   * jobs every pollInterval and reconnects with backoff, resuming with
   * Last-Event-ID so no change is missed.
   * @param {WatchOptions} o
   * @returns {Watch}
   */
  watchJobs (o) {
    /** @type {Set<string>} */
    let active = new Set()
    return new LiveFeed(this, '/v1/events', o, {
      event: (ev) => {
        if (ev.event === 'job') o.onJob(JSON.parse(ev.data))
        else if (ev.event === 'reset' && o.onReset) o.onReset()
      },
      poll: async () => {
        const page = await this.listJobs({ status: [...ACTIVE], limit: 100 })
        const now = new Set(page.jobs.map((j) => j.job_id))
        page.jobs.forEach((j) => o.onJob(j))
        const gone = [...new Set([...active, ...(o.activeIds ? o.activeIds() : [])])].filter((id) => !now.has(id))
        active = now
        for (const id of gone) await this.pollOne(id, o.onJob, o.onDeleted)
      }
    })
  }

  /**
   * One job, live, until it is final (GET /v1/jobs/{id}/events); polls
   * while the stream is down, like watchJobs.
   * @param {string} id
   * @param {JobWatchOptions} o
   * @returns {Watch}
   */
  watchJob (id, o) {
    /** @type {LiveFeed} */
    const feed = new LiveFeed(this, `/v1/jobs/${encodeURIComponent(id)}/events`, o, {
      event: (ev) => {
        if (ev.event === 'job') {
          const job = JSON.parse(ev.data)
          o.onJob(job)
          if (isFinal(job.status)) feed.finish()
        } else if (ev.event === 'deleted') {
          if (o.onDeleted) o.onDeleted(id)
          feed.finish()
        }
      },
      poll: async () => {
        const job = await this.pollOne(id, o.onJob, o.onDeleted)
        if (!job || isFinal(job.status)) feed.finish()
      }
    })
    return feed
  }

  /**
   * @param {string} id
   * @param {(job: Job) => void} onJob
   * @param {((id: string) => void)|undefined} onDeleted
   * @returns {Promise<Job|null>}
   */
  async pollOne (id, onJob, onDeleted) {
    try {
      const job = await this.getJob(id)
      onJob(job)
      return job
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e
      if (onDeleted) onDeleted(id)
      return null
    }
  }
}

/**
 * A live stream with a polling fallback. Mode: "connecting", "live",
 * "polling" (stream down, polling), "closed".
 */
class LiveFeed {
  /**
   * @param {ReportdClient} client
   * @param {string} path
   * @param {WatchOptions|JobWatchOptions} o
   * @param {{event: (ev: StreamEvent) => void, poll: () => Promise<void>}} handlers
   */
  constructor (client, path, o, handlers) {
    this.client = client
    this.path = path
    this.o = { pollInterval: 3000, minRetry: 1000, maxRetry: 15000, idleTimeout: 45000, ...o }
    this.handlers = handlers
    /** @type {string|null} */ this.lastEventId = null
    /** @type {import('./reportd').WatchMode} */ this.mode = 'connecting'
    this.ctrl = new AbortController()
    /** @type {ReturnType<typeof setTimeout>|undefined} */ this.pollTimer = undefined
    this.run()
  }

  get closed () { return this.mode === 'closed' }

  /** Stop streaming and polling. */
  close () {
    this.setMode('closed')
    this.ctrl.abort()
    clearTimeout(this.pollTimer)
  }

  /** The watched job reached its end: stop quietly. */
  finish () { this.close() }

  /** @param {import('./reportd').WatchMode} mode */
  setMode (mode) {
    if (this.mode === mode || this.mode === 'closed') return
    this.mode = mode
    if (this.o.onMode) this.o.onMode(mode)
  }

  async run () {
    let wait = this.o.minRetry
    while (!this.closed) {
      try {
        // A stream that ran a while and ended (the server ends streams when
        // the token that opened them expires, and at shutdown) is reopened
        // at once, with the current token; only failures fall back to polling.
        if (await this.stream()) {
          wait = this.o.minRetry
          continue
        }
      } catch (e) {
        if (this.closed) return
        if (this.o.onError) this.o.onError(e)
      }
      if (this.closed) return
      if (this.mode !== 'polling') {
        this.setMode('polling')
        this.schedulePoll(0)
      }
      await sleep(wait, this.ctrl.signal)
      wait = Math.min(wait * 2, this.o.maxRetry)
    }
  }

  /**
   * Reads the stream until it ends. True when it was open for a while.
   * @returns {Promise<boolean>}
   */
  async stream () {
    const ctrl = new AbortController()
    const stop = () => ctrl.abort()
    this.ctrl.signal.addEventListener('abort', stop)
    try {
      /** @type {Record<string, string>} */
      const headers = { Accept: 'text/event-stream' }
      const token = await this.client.getToken()
      if (token) headers.Authorization = `Bearer ${token}`
      if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId
      const res = await this.client.fetch(this.client.url(this.path), { headers, signal: ctrl.signal, cache: 'no-store' })
      if (res.status === 204) { this.finish(); return true } // a single job's stream: nothing more to come
      if (!res.ok || !res.body) {
        const body = await res.json().catch(() => null)
        if (res.status === 401 && this.client.onUnauthorized) await this.client.onUnauthorized()
        throw new ApiError(res.status, body, res.headers)
      }
      this.setMode('live')
      clearTimeout(this.pollTimer)
      const opened = Date.now()
      await readEventStream(res.body, (ev) => {
        if (ev.id != null) this.lastEventId = ev.id
        if (ev.data !== '') this.handlers.event(ev)
      }, { idleTimeout: this.o.idleTimeout })
      return Date.now() - opened > this.o.minRetry
    } finally {
      this.ctrl.signal.removeEventListener('abort', stop)
      ctrl.abort()
    }
  }

  /** @param {number} delay */
  schedulePoll (delay) {
    clearTimeout(this.pollTimer)
    this.pollTimer = setTimeout(async () => {
      if (this.mode !== 'polling') return
      try {
        await this.handlers.poll()
      } catch (e) {
        if (this.o.onError) this.o.onError(e)
      }
      if (this.mode === 'polling') this.schedulePoll(this.o.pollInterval)
    }, delay)
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal} signal
 */
function sleep (ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(undefined) }, { once: true })
  })
}

/**
 * Parses a text/event-stream body (the WHATWG format) and calls onEvent for
 * each event. Resolves when the body ends; rejects when it fails, or when
 * nothing (not even a keep-alive comment) arrives for idleTimeout ms.
 * @param {ReadableStream<Uint8Array>} body
 * @param {(ev: StreamEvent) => void} onEvent
 * @param {{idleTimeout?: number}} [o]
 */
export async function readEventStream (body, onEvent, o = {}) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let timer
  const arm = () => {
    if (!o.idleTimeout) return
    clearTimeout(timer)
    timer = setTimeout(() => { reader.cancel().catch(() => {}) }, o.idleTimeout)
  }
  let buf = ''
  let ev = { event: '', data: /** @type {string[]} */ ([]), id: /** @type {string|null} */ (null) }
  const dispatch = () => {
    if (ev.data.length || ev.id != null) onEvent({ event: ev.event || 'message', data: ev.data.join('\n'), id: ev.id })
    ev = { event: '', data: [], id: null }
  }
  try {
    arm()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      arm()
      buf += value
      let m
      while ((m = /\r\n|\r|\n/.exec(buf))) {
        const line = buf.slice(0, m.index)
        buf = buf.slice(m.index + m[0].length)
        if (line === '') dispatch()
        else if (!line.startsWith(':')) field(ev, line)
      }
    }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * @param {{event: string, data: string[], id: string|null}} ev
 * @param {string} line
 */
function field (ev, line) {
  const i = line.indexOf(':')
  const name = i < 0 ? line : line.slice(0, i)
  let value = i < 0 ? '' : line.slice(i + 1)
  if (value.startsWith(' ')) value = value.slice(1)
  if (name === 'event') ev.event = value
  else if (name === 'data') ev.data.push(value)
  else if (name === 'id' && !value.includes('\0')) ev.id = value
}
