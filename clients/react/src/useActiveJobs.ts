import { useCallback, useEffect, useRef, useState } from 'react'
import { useJobsFeed, useReportdClient } from './context.js'
import type { ActiveJobs, Status } from './types.js'

/**
 * useActiveJobs is the old hook, with the same answer: whether the user has
 * queued or running jobs, and how many. The old one polled every 5 s; this
 * one re-reads GET /v1/stats/active when the live feed reports a job whose
 * status changed (and polls only while the feed is down).
 */
export function useActiveJobs(): ActiveJobs {
  const client = useReportdClient()
  const [active, setActive] = useState<ActiveJobs>({ hasActiveJobs: false, activeCount: 0 })
  const statuses = useRef(new Map<string, Status>())
  const asked = useRef(0)
  const refresh = useCallback(() => {
    const n = ++asked.current
    client.activeJobs().then((a) => {
      if (n === asked.current) setActive({ hasActiveJobs: a.hasActiveJobs, activeCount: a.activeCount })
    }, () => {}) // keep the last answer; the feed or the next poll tries again
  }, [client])
  useEffect(refresh, [refresh])
  useJobsFeed({
    onJob: (job) => {
      if (statuses.current.get(job.job_id) === job.status) return
      statuses.current.set(job.job_id, job.status)
      refresh()
    },
    onReload: refresh,
  })
  return active
}
