// The reportd API's shapes, as GET /openapi.json describes them.

export type Status = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** A job as GET /v1/jobs/{job_id} shows it. */
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
  /** Grows with every change. */
  version: number
  created_at: string
  updated_at: string
  started_at: string | null
  completed_at: string | null
  expires_at: string | null
}

export interface JobPage {
  jobs: Job[]
  /** The next page's cursor; null on the last page. */
  next_cursor: string | null
}

/** The body of POST /v1/jobs. Unknown fields are refused (422). */
export interface NewJob {
  prompt: string
  model?: string
  temperature?: number
  max_tokens?: number
  summary_id?: string
  metadata?: Record<string, unknown>
  report_type?: string
  report_id?: string | number
}

export interface ListOptions {
  status?: Status | Status[]
  model?: string
  summaryId?: string
  /** 1..100, default 20 */
  limit?: number
  cursor?: string
}

/** The old monitor's statistics of the caller's jobs (GET /v1/stats). */
export interface Stats {
  total: number
  queued: number
  running: number
  succeeded: number
  failed: number
  cancelled: number
  avgDurationMs: number
}

/** What the old useActiveJobs() hook returned (GET /v1/stats/active). */
export interface ActiveJobs {
  hasActiveJobs: boolean
  activeCount: number
}

/**
 * The state of a live connection: "connecting" before the first stream,
 * "live" while a stream is open, "polling" while it is down (the hooks poll
 * and it reconnects with backoff), "closed" once stopped.
 */
export type LiveMode = 'connecting' | 'live' | 'polling' | 'closed'

export const isFinal = (s: Status): boolean => s === 'succeeded' || s === 'failed' || s === 'cancelled'
