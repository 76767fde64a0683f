import { readEventStream, type StreamEvent } from './stream.js'
import {
  type ActiveJobs,
  isFinal,
  type Job,
  type JobPage,
  type ListOptions,
  type LiveMode,
  type NewJob,
  type Stats,
} from './types.js'

export interface ClientOptions {
  /** Where reportd is, e.g. import.meta.env.VITE_REPORTD_URL; default: this origin. */
  baseUrl?: string
  /**
   * The user's current access token, asked for before every request and
   * every stream, e.g. (await supabase.auth.getSession()).data.session?.access_token.
   */
  getToken: () => Promise<string | null | undefined> | string | null | undefined
  /** Called on a 401: refresh the session and resolve true to retry once. */
  onUnauthorized?: () => Promise<boolean>
  fetch?: typeof fetch
  /** While a stream is down: poll every pollInterval ms (3000). */
  pollInterval?: number
  /** Reconnect backoff bounds, ms (1000 doubling to 15000). */
  minRetry?: number
  maxRetry?: number
  /** Reconnect when not even a keep-alive arrives for this long, ms (45000). */
  idleTimeout?: number
}

/** An answer other than 2xx, in the API's error shape {error, code, fields, request_id}. */
export class ApiError extends Error {
  readonly status: number
  /** A stable code: not_found, conflict, unauthenticated, rate_limited... */
  readonly code: string
  readonly requestId?: string
  constructor(status: number, body: unknown) {
    const b = (body ?? {}) as { error?: string; code?: string; request_id?: string }
    super(b.error || `reportd answered ${status}`)
    this.name = 'ApiError'
    this.status = status
    this.code = b.code || `http_${status}`
    this.requestId = b.request_id
  }
}

/** A live stream that can be stopped. */
export interface Watch {
  close(): void
}

/** What a watch tells its owner. */
export interface WatchHandlers {
  onJob: (job: Job) => void
  /** Reload: the server could not replay every change, or the stream is down (called every pollInterval). */
  onReload?: () => void
  onDeleted?: (jobId: string) => void
  onMode?: (mode: LiveMode) => void
  onError?: (error: unknown) => void
}

/** The options a client runs with, defaults applied. */
interface Settings {
  getToken: ClientOptions['getToken']
  onUnauthorized?: ClientOptions['onUnauthorized']
  pollInterval: number
  minRetry: number
  maxRetry: number
  idleTimeout: number
}

/** ReportdClient calls the reportd REST API (/v1) as the signed-in user. */
export class ReportdClient {
  readonly baseUrl: string
  readonly options: Readonly<Settings>
  readonly fetch: typeof fetch

  constructor(options: ClientOptions) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '')
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis)
    this.options = {
      getToken: options.getToken,
      onUnauthorized: options.onUnauthorized,
      pollInterval: options.pollInterval ?? 3000,
      minRetry: options.minRetry ?? 1000,
      maxRetry: options.maxRetry ?? 15000,
      idleTimeout: options.idleTimeout ?? 45000,
    }
  }

  async headers(extra: Record<string, string>): Promise<Record<string, string>> {
    const token = await this.options.getToken()
    return token ? { ...extra, Authorization: `Bearer ${token}` } : extra
  }

  url(path: string, query: Record<string, string | number | string[] | undefined> = {}): string {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue
      params.set(k, Array.isArray(v) ? v.join(',') : String(v))
    }
    const qs = params.toString()
    return this.baseUrl + path + (qs ? `?${qs}` : '')
  }

  /** One call; a 401 asks onUnauthorized and retries once when it says so. */
  async request<T>(
    method: string,
    path: string,
    o: { body?: unknown; query?: Record<string, string | number | string[] | undefined> } = {},
  ): Promise<T> {
    for (let attempt = 0;; attempt++) {
      const headers = await this.headers(
        o.body === undefined
          ? { Accept: 'application/json' }
          : { Accept: 'application/json', 'Content-Type': 'application/json' },
      )
      const res = await this.fetch(this.url(path, o.query), {
        method,
        headers,
        cache: 'no-store',
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
      })
      if (res.status === 401 && attempt === 0 && this.options.onUnauthorized && await this.options.onUnauthorized()) {
        continue
      }
      if (res.status === 204) return undefined as T
      const data: unknown = await res.json().catch(() => null)
      if (!res.ok) throw new ApiError(res.status, data)
      return data as T
    }
  }

  createJob(job: NewJob): Promise<Job> {
    return this.request('POST', '/v1/jobs', { body: job })
  }

  getJob(id: string): Promise<Job> {
    return this.request('GET', `/v1/jobs/${encodeURIComponent(id)}`)
  }

  listJobs(o: ListOptions = {}): Promise<JobPage> {
    const status = o.status === undefined ? undefined : ([] as string[]).concat(o.status)
    return this.request('GET', '/v1/jobs', {
      query: { status, model: o.model, summary_id: o.summaryId, limit: o.limit, cursor: o.cursor },
    })
  }

  cancelJob(id: string): Promise<Job> {
    return this.request('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`)
  }

  stats(): Promise<Stats> {
    return this.request('GET', '/v1/stats')
  }

  activeJobs(): Promise<ActiveJobs> {
    return this.request('GET', '/v1/stats/active')
  }

  /**
   * Every change to the user's jobs (GET /v1/events). While the stream is
   * down, onReload is called every pollInterval so the owner can poll.
   */
  watchJobs(h: WatchHandlers): Watch {
    return new LiveFeed(this, '/v1/events', h, (ev) => {
      if (ev.event === 'job') h.onJob(JSON.parse(ev.data) as Job)
      else if (ev.event === 'reset') h.onReload?.()
      return false
    })
  }

  /** One job until it is final (GET /v1/jobs/{id}/events); polls it while the stream is down. */
  watchJob(id: string, h: Omit<WatchHandlers, 'onReload'>): Watch {
    const poll = (): void => {
      this.getJob(id).then((job) => {
        h.onJob(job)
        if (isFinal(job.status)) feed.close()
      }, (e: unknown) => {
        if (e instanceof ApiError && e.status === 404) {
          h.onDeleted?.(id)
          feed.close()
        } else h.onError?.(e)
      })
    }
    const feed = new LiveFeed(this, `/v1/jobs/${encodeURIComponent(id)}/events`, { ...h, onReload: poll }, (ev) => {
      if (ev.event === 'deleted') {
        h.onDeleted?.(id)
        return true
      }
      if (ev.event !== 'job') return false
      const job = JSON.parse(ev.data) as Job
      h.onJob(job)
      return isFinal(job.status)
    }, () => h.onDeleted?.(id))
    return feed
  }
}

/**
 * A stream that is reopened whenever it ends: at once, with the current
 * token and Last-Event-ID, when it had been open a while (the server ends a
 * stream when the token that opened it expires); after a backoff, polling
 * meanwhile, when it failed.
 */
class LiveFeed implements Watch {
  private mode: LiveMode = 'connecting'
  private lastEventId: string | null = null
  private readonly stop = new AbortController()
  private pollTimer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly client: ReportdClient,
    private readonly path: string,
    private readonly h: WatchHandlers,
    /** Handles one event; true when the stream has nothing more to say. */
    private readonly handle: (ev: StreamEvent) => boolean,
    /** The watched thing is not there (404): stop. */
    private readonly onGone?: () => void,
  ) {
    void this.run()
  }

  close(): void {
    this.setMode('closed')
    this.stop.abort()
    clearInterval(this.pollTimer)
  }

  private setMode(mode: LiveMode): void {
    if (this.mode === mode || this.mode === 'closed') return
    this.mode = mode
    if (mode === 'polling') {
      this.h.onReload?.()
      this.pollTimer = setInterval(() => this.h.onReload?.(), this.client.options.pollInterval)
    } else clearInterval(this.pollTimer)
    this.h.onMode?.(mode)
  }

  private async run(): Promise<void> {
    const { minRetry, maxRetry } = this.client.options
    let wait = minRetry
    while (!this.stop.signal.aborted) {
      try {
        const opened = Date.now()
        if (await this.stream()) return this.close()
        if (Date.now() - opened > minRetry) {
          wait = minRetry
          continue // ended after a while: reopen now, with a fresh token
        }
      } catch (e) {
        if (this.stop.signal.aborted) return
        this.h.onError?.(e)
      }
      this.setMode('polling')
      await sleep(wait, this.stop.signal)
      wait = Math.min(wait * 2, maxRetry)
    }
  }

  /** Reads one stream to its end; true when the stream said it is done. */
  private async stream(): Promise<boolean> {
    const extra: Record<string, string> = { Accept: 'text/event-stream' }
    if (this.lastEventId !== null) extra['Last-Event-ID'] = this.lastEventId
    const res = await this.client.fetch(this.client.url(this.path), {
      headers: await this.client.headers(extra),
      signal: this.stop.signal,
      cache: 'no-store',
    })
    if (res.status === 204) return true // a finished job's stream: nothing more to come
    if (!res.ok || !res.body) {
      const body: unknown = await res.json().catch(() => null)
      if (res.status === 401) await this.client.options.onUnauthorized?.()
      if (res.status === 404 && this.onGone) {
        this.onGone()
        return true
      }
      throw new ApiError(res.status, body)
    }
    this.setMode('live')
    let done = false
    await readEventStream(res.body, (ev) => {
      if (ev.id !== null) this.lastEventId = ev.id
      if (!done && ev.data !== '') done = this.handle(ev)
    }, this.client.options.idleTimeout)
    return done
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(t)
      resolve()
    }, { once: true })
  })
}
