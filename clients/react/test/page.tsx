// The browser tests' page (e2e/react_test.go): the built package, mounted
// against a running reportd. ?api= names the service; ?user= the user whose
// short-lived tokens this page's own /token hands out, one per call, as a
// Supabase session refreshes its access token.
import { StrictMode, useEffect, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { ReportdClient, ReportdProvider, ReportJobsMonitor, useActiveJobs, useReportJob } from '../dist/index.js'

const params = new URLSearchParams(location.search)

const client = new ReportdClient({
  baseUrl: params.get('api') ?? '',
  getToken: async () => {
    const res = await fetch(`/token?user=${encodeURIComponent(params.get('user') ?? '')}`)
    return res.ok ? res.text() : null
  },
  pollInterval: 500,
  minRetry: 200,
  maxRetry: 1000,
})

function ActiveBadge() {
  const { hasActiveJobs, activeCount } = useActiveJobs()
  return <p id="active" data-count={activeCount}>{hasActiveJobs ? `${activeCount} active` : 'No active jobs'}</p>
}

function Watched({ id }: { id: string }) {
  const { job, notFound } = useReportJob(id)
  return (
    <section
      id="watched"
      data-status={job?.status ?? ''}
      data-percent={job?.percent ?? ''}
      data-not-found={String(notFound)}
    >
      <h2>Watching {id}</h2>
      <pre>{job?.result ?? ''}</pre>
    </section>
  )
}

declare global {
  interface Window {
    reportdTest: { watch: (id: string) => void }
  }
}

function App() {
  const [watching, setWatching] = useState<string | null>(null)
  useEffect(() => {
    window.reportdTest = { watch: setWatching }
  }, [])
  return (
    <ReportdProvider client={client}>
      <ActiveBadge />
      <ReportJobsMonitor />
      {watching && <Watched key={watching} id={watching} />}
    </ReportdProvider>
  )
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
