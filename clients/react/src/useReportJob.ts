import { useCallback, useEffect, useState } from 'react'
import { useReportdClient } from './context.js'
import type { Job, LiveMode } from './types.js'

export interface ReportJobState {
  /** The job as last seen; null until the first answer. */
  job: Job | null
  /** The job does not exist, or is not the user's. */
  notFound: boolean
  error: unknown
  mode: LiveMode
  /** Cancels the job; resolves with it cancelled, rejects with ApiError (409 once it finished). */
  cancel: () => Promise<Job>
}

interface Seen {
  id: string | null
  job: Job | null
  notFound: boolean
  error: unknown
  mode: LiveMode
}

/**
 * useReportJob follows one job live, from GET /v1/jobs/{id}/events, until it
 * is final: status, percent, ETA, and at the end the result or the error.
 * Pass null or undefined to follow nothing.
 */
export function useReportJob(jobId: string | null | undefined): ReportJobState {
  const client = useReportdClient()
  const [seen, setSeen] = useState<Seen>({ id: null, job: null, notFound: false, error: null, mode: 'connecting' })
  useEffect(() => {
    if (!jobId) return
    setSeen({ id: jobId, job: null, notFound: false, error: null, mode: 'connecting' })
    const update = (change: Partial<Seen>): void => setSeen((s) => (s.id === jobId ? { ...s, ...change } : s))
    const watch = client.watchJob(jobId, {
      onJob: (job) => update({ job, error: null }),
      onDeleted: () => update({ notFound: true }),
      onError: (error) => update({ error }),
      onMode: (mode) => update({ mode }),
    })
    return () => watch.close()
  }, [client, jobId])
  const cancel = useCallback(async () => {
    if (!jobId) throw new Error('useReportJob: no job to cancel')
    const job = await client.cancelJob(jobId)
    setSeen((s) => (s.id === jobId ? { ...s, job } : s))
    return job
  }, [client, jobId])
  const current = seen.id === jobId
  return {
    job: current ? seen.job : null,
    notFound: current && seen.notFound,
    error: current ? seen.error : null,
    mode: current ? seen.mode : 'connecting',
    cancel,
  }
}
