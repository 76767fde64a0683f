import { createContext, type ReactNode, useContext, useEffect, useMemo, useRef } from 'react'
import type { ReportdClient, Watch } from './client.js'
import type { Job, LiveMode } from './types.js'

/** What a component hears from the user's live jobs feed. */
export interface JobsListener {
  onJob?: (job: Job) => void
  /** Reload what you show: the feed may have missed changes, or is down and polling. */
  onReload?: () => void
  onMode?: (mode: LiveMode) => void
}

/**
 * One GET /v1/events stream per provider, shared by every hook and monitor
 * under it: a browser allows only a few connections per origin, and each
 * stream holds one open. It opens with the first listener and closes with
 * the last.
 */
class SharedJobsFeed {
  private readonly listeners = new Set<JobsListener>()
  private watch: Watch | null = null
  mode: LiveMode = 'connecting'

  constructor(private readonly client: ReportdClient) {}

  subscribe(l: JobsListener): () => void {
    this.listeners.add(l)
    if (!this.watch) {
      this.watch = this.client.watchJobs({
        onJob: (job) => this.listeners.forEach((x) => x.onJob?.(job)),
        onReload: () => this.listeners.forEach((x) => x.onReload?.()),
        onMode: (mode) => {
          this.mode = mode
          this.listeners.forEach((x) => x.onMode?.(mode))
        },
      })
    }
    return () => {
      this.listeners.delete(l)
      if (this.listeners.size === 0 && this.watch) {
        this.watch.close()
        this.watch = null
        this.mode = 'connecting'
      }
    }
  }
}

interface Shared {
  client: ReportdClient
  jobs: SharedJobsFeed
}

const ReportdContext = createContext<Shared | null>(null)

/** ReportdProvider gives the hooks and the monitor below it a client. */
export function ReportdProvider({ client, children }: { client: ReportdClient; children?: ReactNode }) {
  const value = useMemo(() => ({ client, jobs: new SharedJobsFeed(client) }), [client])
  return <ReportdContext.Provider value={value}>{children}</ReportdContext.Provider>
}

function useShared(): Shared {
  const shared = useContext(ReportdContext)
  if (!shared) throw new Error('reportd: wrap the app (or the monitor) in <ReportdProvider client={...}>')
  return shared
}

/** useReportdClient returns the provider's client, for calls of your own. */
export function useReportdClient(): ReportdClient {
  return useShared().client
}

/**
 * useJobsFeed listens to the shared feed while the component is mounted.
 * The listener may change on every render; the subscription does not.
 */
export function useJobsFeed(listener: JobsListener): void {
  const { jobs } = useShared()
  const latest = useRef(listener)
  latest.current = listener
  useEffect(() => {
    const unsubscribe = jobs.subscribe({
      onJob: (job) => latest.current.onJob?.(job),
      onReload: () => latest.current.onReload?.(),
      onMode: (mode) => latest.current.onMode?.(mode),
    })
    latest.current.onMode?.(jobs.mode)
    return unsubscribe
  }, [jobs])
}
