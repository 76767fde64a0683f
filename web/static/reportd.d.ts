// Types of reportd.js, the client of the reportd REST API. Keep this file
// beside reportd.js (same name, .d.ts) and TypeScript picks it up.

export type Status = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** A job as GET /v1/jobs/{id} shows it. */
export interface Job {
  job_id: string
  user_id: string
  status: Status
  model: string
  prompt: string
  temperature: number
  max_tokens: number
  summary_id: string | null
  result: string | null
  error: string | null
  /** 0..100 */
  percent: number
  eta_seconds: number | null
  attempts: number
  max_attempts: number
  idempotency_key: string | null
  metadata: Record<string, unknown>
  /** Grows with every change; the id of a single job's stream events. */
  version: number
  created_at: string
  updated_at: string
  started_at: string | null
  completed_at: string | null
  expires_at: string | null
}

export interface JobPage {
  jobs: Job[]
  /** Pass as ListOptions.cursor for the next page; null on the last page. */
  next_cursor: string | null
}

/** POST /v1/jobs. Unknown fields are refused (422). */
export interface NewJob {
  prompt: string
  model?: string
  temperature?: number
  max_tokens?: number
  summary_id?: string
  metadata?: Record<string, unknown>
  report_type?: string
  report_id?: string | number
  idempotency_key?: string
}

export interface ListOptions {
  status?: Status | Status[]
  model?: string
  summaryId?: string
  /** 1..100, default 20 */
  limit?: number
  cursor?: string
}

/** The old monitor's statistics of the caller's jobs, and the caller's budget of the day. */
export interface Stats {
  total: number
  queued: number
  running: number
  succeeded: number
  failed: number
  cancelled: number
  avgDurationMs: number
  budget: Budget
}

/** What the caller may spend in a UTC day (null: no such budget) and has spent today. */
export interface Budget {
  daily_tokens: number | null
  used_tokens: number
  daily_cost: number | null
  used_cost: number
  /** jobs the caller may have waiting at once */
  max_queued: number
  /** RFC 3339: the next UTC midnight */
  resets_at: string
}

/** What the old useActiveJobs() hook returned. */
export interface Active {
  hasActiveJobs: boolean
  activeCount: number
}

/** GET /v1/jobs/{id}/result: the stored result and its safe HTML. */
export interface Result {
  job_id: string
  status: Status
  format: 'markdown' | 'json'
  markdown: string
  /** Rendered on the server: raw HTML shown as text, only http(s)/mailto links, no images. */
  html: string
  citations: { index: number; url: string; title: string }[]
}

export interface OperatorStats {
  daily: { day: string; jobs: number; unique_users: number }[]
  models: { model: string; jobs: number; succeeded: number; failed: number; success_rate: number; avg_duration_ms: number }[]
  top_users: { user_id: string; jobs: number; succeeded: number; failed: number }[]
}

/** GET /v1/config: how the page signs in. Nothing in it is secret. */
export interface PublicConfig {
  auth: 'supabase' | 'dev' | 'none'
  supabase_url?: string
  supabase_anon_key?: string
  default_model: string
  models: string[]
}

export interface ClientOptions {
  /** Where the service is; default: this origin. */
  baseUrl?: string
  /** The current access token (refreshed as needed), or null. */
  getToken?: () => Promise<string | null> | string | null
  /** Called on a 401: refresh the session and resolve true to retry once. */
  onUnauthorized?: () => Promise<boolean>
  fetch?: typeof fetch
}

export type WatchMode = 'connecting' | 'live' | 'polling' | 'closed'

export interface CommonWatchOptions {
  onJob: (job: Job) => void
  onDeleted?: (jobId: string) => void
  /** live: streaming; polling: the stream is down and the watch polls. */
  onMode?: (mode: WatchMode) => void
  onError?: (error: unknown) => void
  /** Poll period while the stream is down, ms (default 3000). */
  pollInterval?: number
  /** Reconnect backoff bounds, ms (default 1000 and 15000). */
  minRetry?: number
  maxRetry?: number
  /** Reconnect when nothing, not even a keep-alive, arrives for this long, ms (default 45000). */
  idleTimeout?: number
}

export interface WatchOptions extends CommonWatchOptions {
  /** The server could not replay every change: reload the list. */
  onReset?: () => void
  /** Jobs the caller shows as active, so polling can fetch their final state. */
  activeIds?: () => string[]
}

export type JobWatchOptions = CommonWatchOptions

export interface Watch {
  readonly mode: WatchMode
  close(): void
}

export interface StreamEvent {
  event: string
  data: string
  id: string | null
}

export declare const ACTIVE: readonly ['queued', 'running']
export declare function isFinal(status: string): boolean

export declare class ApiError extends Error {
  status: number
  /** Stable error code, e.g. not_found, invalid_request, rate_limited. */
  code: string
  fields: { field: string; message: string }[]
  requestId?: string
  /** Seconds, from Retry-After. */
  retryAfter?: number
  constructor(status: number, body: unknown, headers?: Headers)
}

export declare class ReportdClient {
  constructor(options?: ClientOptions)
  baseUrl: string
  request(method: string, path: string, options?: {
    body?: unknown
    query?: Record<string, unknown>
    headers?: Record<string, string>
    /** Overrides getToken for this call; null sends no token. */
    token?: string | null
    signal?: AbortSignal
  }): Promise<any>
  config(): Promise<PublicConfig>
  createJob(job: NewJob, options?: { idempotencyKey?: string }): Promise<Job>
  getJob(id: string): Promise<Job>
  listJobs(options?: ListOptions): Promise<JobPage>
  cancelJob(id: string): Promise<Job>
  deleteJob(id: string): Promise<void>
  result(id: string): Promise<Result>
  stats(): Promise<Stats>
  activeJobs(): Promise<Active>
  operatorStats(serviceKey: string, window?: { days?: number; topDays?: number; topUsers?: number }): Promise<OperatorStats>
  watchJobs(options: WatchOptions): Watch
  watchJob(id: string, options: JobWatchOptions): Watch
}

export declare function readEventStream(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: StreamEvent) => void,
  options?: { idleTimeout?: number }
): Promise<void>
