// @ts-check
// One job's page: its state, and when it has a result, the report rendered
// safely (safehtml.js), its sources, copy and download.
import { isFinal } from './reportd.js'
import { age, byId, describe, duration, eta, h, headline, statusPill, toast } from './dom.js'
import { renderSafe, safeHref } from './safehtml.js'

/** @typedef {import('./reportd').Job} Job */

export class ResultView {
  /** @param {import('./main.js').App} app */
  constructor (app) {
    this.app = app
    /** @type {string|null} */ this.id = null
    /** @type {Job|null} */ this.job = null
    /** @type {string|null} */ this.markdown = null
    this.generation = 0
    this.copyButton = /** @type {HTMLButtonElement} */ (byId('copy'))
    this.downloadButton = /** @type {HTMLButtonElement} */ (byId('download'))
    this.copyButton.addEventListener('click', () => this.copy())
    this.downloadButton.addEventListener('click', () => this.download())
    app.jobs.addEventListener('job', (e) => {
      const { job } = /** @type {CustomEvent} */ (e).detail
      if (job.job_id === this.id) this.update(job)
    })
    app.jobs.addEventListener('removed', (e) => {
      if (/** @type {CustomEvent} */ (e).detail.id === this.id) this.fail('This job was deleted.')
    })
  }

  /** @param {string} id */
  async open (id) {
    const gen = ++this.generation
    this.id = id
    this.job = null
    this.markdown = null
    this.reset()
    byId('result-title').textContent = 'Report'
    this.state('Loading the job…')
    try {
      const job = this.app.jobs.get(id) || await this.app.client.getJob(id)
      if (gen !== this.generation) return
      this.update(job)
    } catch (e) {
      if (gen !== this.generation) return
      const missing = /** @type {any} */ (e).status === 404
      if (missing) this.app.jobs.remove(id) // deleted elsewhere: not in the list either
      this.fail(missing ? 'Job not found. It may have been deleted, or it belongs to someone else.' : `Could not load the job: ${describe(e)}`)
    }
  }

  close () {
    this.generation++
    this.id = null
  }

  reset () {
    byId('report').replaceChildren()
    byId('citations').replaceChildren()
    byId('sources').hidden = true
    byId('result-meta').replaceChildren()
    byId('result-prompt').textContent = ''
    this.copyButton.disabled = true
    this.downloadButton.disabled = true
  }

  /** @param {Job} job */
  update (job) {
    const had = this.job
    this.job = job
    byId('result-title').textContent = headline(job.prompt)
    byId('result-prompt').textContent = job.prompt
    const took = job.started_at && job.completed_at ? Date.parse(job.completed_at) - Date.parse(job.started_at) : 0
    byId('result-meta').replaceChildren(statusPill(job.status), ` ${job.model} · created ${age(job.created_at)}`,
      took ? ` · took ${duration(took)}` : '')
    if (job.result !== null && (!had || had.result === null || had.version !== job.version)) {
      this.load(job)
    } else if (job.result === null) {
      if (!isFinal(job.status)) {
        const when = eta(job.eta_seconds)
        this.state(job.status === 'queued'
          ? 'Waiting for a worker. The report appears here when it is done.'
          : `Writing the report: ${job.percent}%${when ? ', ' + when : ''}. It appears here when it is done.`)
      } else if (job.status === 'failed') {
        this.fail(`The job failed: ${job.error || 'no reason given'}`)
      } else {
        this.state('The job was cancelled before it wrote a result.')
      }
    }
  }

  /** @param {Job} job */
  async load (job) {
    const gen = this.generation
    if (!byId('report').hasChildNodes()) this.state('Loading the report…')
    try {
      const r = await this.app.client.result(job.job_id)
      if (gen !== this.generation) return
      this.markdown = r.markdown
      renderSafe(byId('report'), r.html)
      this.citations(r.citations)
      this.copyButton.disabled = false
      this.downloadButton.disabled = false
      this.state(job.status === 'succeeded' ? '' : `This result is partial: the job ${job.status === 'cancelled' ? 'was cancelled' : 'failed'}.`)
    } catch (e) {
      if (gen !== this.generation) return
      if (/** @type {any} */ (e).status === 404) {
        this.app.jobs.remove(job.job_id)
        this.fail('Job not found. It may have been deleted.')
      } else {
        this.fail(`Could not load the report: ${describe(e)}`)
      }
    }
  }

  /** @param {import('./reportd').Result['citations']} list */
  citations (list) {
    const items = list.map((c) => {
      const href = safeHref(c.url)
      let host = ''
      try { host = new URL(c.url).host } catch {}
      return h('li', { value: c.index },
        href ? h('a', { href, rel: 'noopener noreferrer nofollow', target: '_blank' }, c.title || host) : c.title,
        host && c.title !== host ? h('span', { class: 'host' }, ` ${host}`) : null)
    })
    byId('citations').replaceChildren(...items)
    byId('sources').hidden = items.length === 0
  }

  async copy () {
    if (this.markdown === null) return
    try {
      await navigator.clipboard.writeText(this.markdown)
      toast('Copied the Markdown to the clipboard.')
    } catch {
      toast('Copying failed: the browser did not allow clipboard access. Use Download instead.')
    }
  }

  download () {
    if (this.markdown === null || !this.job) return
    const url = URL.createObjectURL(new Blob([this.markdown], { type: 'text/markdown;charset=utf-8' }))
    const a = h('a', { href: url, download: `${this.job.job_id}.md` })
    document.body.append(a)
    a.click()
    a.remove()
    setTimeout(() => URL.revokeObjectURL(url), 10000)
  }

  /** @param {string} text */
  state (text) {
    const el = byId('result-state')
    el.classList.remove('error')
    el.textContent = text
    el.hidden = !text
  }

  /** @param {string} text */
  fail (text) {
    this.state(text)
    byId('result-state').classList.add('error')
  }
}
