import { useCallback, useEffect, useRef, useState } from 'react'
import { ApiError } from './client.js'
import { useJobsFeed, useReportdClient } from './context.js'
import { isFinal, type Job, type LiveMode, type Stats, type Status } from './types.js'

export interface ReportJobsMonitorProps {
  /** How many of the latest jobs to list (the old monitor: 20). */
  limit?: number
  /** Heading of the section. */
  title?: string
  className?: string
  /** When given, each job gets an Open button that calls it. */
  onSelect?: (job: Job) => void
}

const statusLabels: Record<Status, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
}

const modeLabels: Record<LiveMode, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  polling: 'Reconnecting (polling meanwhile)',
  closed: 'Stopped',
}

const statFields = ['total', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const

/**
 * ReportJobsMonitor replaces the old monitor: the user's latest jobs with
 * their statistics, live percent and ETA, and a Cancel button on the jobs
 * still queued or running. Changes arrive over the live feed instead of a
 * refresh every 5 s.
 */
export function ReportJobsMonitor({ limit = 20, title = 'Report jobs', className, onSelect }: ReportJobsMonitorProps) {
  const client = useReportdClient()
  const [jobs, setJobs] = useState<Job[] | null>(null)
  const [stats, setStats] = useState<Stats | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [mode, setMode] = useState<LiveMode>('connecting')
  const statuses = useRef(new Map<string, Status>())
  const asked = useRef(0)

  const loadStats = useCallback(() => {
    const n = ++asked.current
    client.stats().then((s) => n === asked.current && setStats(s), () => {})
  }, [client])
  const load = useCallback(() => {
    client.listJobs({ limit }).then((page) => {
      setJobs((list) => merge(list ?? [], page.jobs, limit))
      setError(null)
    }, (e: unknown) => setError(messageOf(e)))
    loadStats()
  }, [client, limit, loadStats])
  useEffect(load, [load])

  const show = useCallback((job: Job) => {
    setJobs((list) => merge(list ?? [], [job], limit))
    if (statuses.current.get(job.job_id) !== job.status) {
      statuses.current.set(job.job_id, job.status)
      loadStats()
    }
  }, [limit, loadStats])
  useJobsFeed({ onJob: show, onReload: load, onMode: setMode })

  return (
    <section className={['reportd-monitor', className].filter(Boolean).join(' ')} aria-label={title} data-mode={mode}>
      <header className="reportd-monitor__header">
        <h2>{title}</h2>
        <span className="reportd-monitor__mode" role="status">{modeLabels[mode]}</span>
      </header>
      {stats && <Statistics stats={stats} />}
      {error && <p className="reportd-monitor__error" role="alert">{error}</p>}
      {jobs === null
        ? <p className="reportd-monitor__empty">Loading…</p>
        : jobs.length === 0
        ? <p className="reportd-monitor__empty">No jobs yet</p>
        : (
          <ul className="reportd-monitor__jobs">
            {jobs.map((job) => <JobRow key={job.job_id} job={job} onChanged={show} onSelect={onSelect} />)}
          </ul>
        )}
    </section>
  )
}

function Statistics({ stats }: { stats: Stats }) {
  return (
    <dl className="reportd-monitor__stats">
      {statFields.map((k) => (
        <div key={k}>
          <dt>{k === 'total' ? 'Total' : statusLabels[k]}</dt>
          <dd data-stat={k}>{stats[k]}</dd>
        </div>
      ))}
      <div>
        <dt>Average duration</dt>
        <dd data-stat="avgDurationMs">{stats.avgDurationMs > 0 ? duration(stats.avgDurationMs) : '–'}</dd>
      </div>
    </dl>
  )
}

function JobRow(
  { job, onChanged, onSelect }: { job: Job; onChanged: (job: Job) => void; onSelect?: (job: Job) => void },
) {
  const client = useReportdClient()
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<string | null>(null)
  const short = job.prompt.length > 80 ? `${job.prompt.slice(0, 80)}…` : job.prompt
  const cancel = (): void => {
    setBusy(true)
    setProblem(null)
    client.cancelJob(job.job_id).then(onChanged, (e: unknown) => setProblem(messageOf(e))).finally(() => setBusy(false))
  }
  return (
    <li className="reportd-monitor__job" data-job-id={job.job_id} data-status={job.status}>
      <div className="reportd-monitor__prompt" title={job.prompt}>{short}</div>
      <div className="reportd-monitor__meta">
        <span className="reportd-monitor__status">{statusLabels[job.status]}</span>
        {' · '}
        {job.model}
        {' · '}
        <time dateTime={job.created_at}>{new Date(job.created_at).toLocaleString()}</time>
      </div>
      <div
        className="reportd-monitor__progress"
        role="progressbar"
        aria-label={`Progress: ${short}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={job.percent}
        style={{ background: '#e5e7eb', borderRadius: 4, height: 6, overflow: 'hidden' }}
      >
        <div
          style={{
            width: `${job.percent}%`,
            height: '100%',
            background: barColor(job.status),
            transition: 'width .3s',
          }}
        />
      </div>
      <span className="reportd-monitor__percent">{job.percent}%</span>
      {job.status === 'running' && job.eta_seconds != null && job.eta_seconds > 0 && (
        <span className="reportd-monitor__eta">{` · about ${duration(job.eta_seconds * 1000)} left`}</span>
      )}
      {job.status === 'failed' && job.error && <p className="reportd-monitor__job-error">{job.error}</p>}
      {problem && <p className="reportd-monitor__job-error" role="alert">{problem}</p>}
      <span className="reportd-monitor__actions" style={{ display: 'inline-flex', gap: '.5em', marginLeft: '.75em' }}>
        {!isFinal(job.status) && (
          <button
            type="button"
            className="reportd-monitor__cancel"
            onClick={cancel}
            disabled={busy}
            aria-label={`Cancel: ${short}`}
          >
            {busy ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
        {onSelect && (
          <button
            type="button"
            className="reportd-monitor__open"
            onClick={() => onSelect(job)}
            aria-label={`Open: ${short}`}
          >
            Open
          </button>
        )}
      </span>
    </li>
  )
}

/**
 * merge adds jobs to a list, keeping the newest version of each (a list
 * answer can arrive after a newer live event), newest job first, at most
 * limit of them.
 */
export function merge(list: Job[], incoming: Job[], limit: number): Job[] {
  const byId = new Map(list.map((j) => [j.job_id, j]))
  for (const j of incoming) {
    const had = byId.get(j.job_id)
    if (!had || j.version >= had.version) byId.set(j.job_id, j)
  }
  return [...byId.values()]
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || (a.job_id < b.job_id ? 1 : -1))
    .slice(0, limit)
}

function barColor(s: Status): string {
  return s === 'failed' ? '#dc2626' : s === 'cancelled' ? '#9ca3af' : s === 'succeeded' ? '#16a34a' : '#2563eb'
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`
}

function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.message
  return 'reportd could not be reached'
}
