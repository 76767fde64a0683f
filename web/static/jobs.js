// @ts-check
// The list of the caller's jobs, newest first: filters, "load more", live
// progress (from the watch main.js runs), cancel and delete.
import { isFinal } from './reportd.js'
import { age, byId, describe, duration, eta, h, headline, statusPill, toast } from './dom.js'
import { ask } from './confirm.js'

/** @typedef {import('./reportd').Job} Job */

const PAGE = 20

export class JobsView extends EventTarget {
  /** @param {import('./main.js').App} app */
  constructor (app) {
    super()
    this.app = app
    /** @type {Map<string, Job>} */ this.jobs = new Map()
    /** @type {Map<string, HTMLElement>} */ this.rows = new Map()
    /** @type {string|null} */ this.cursor = null
    this.filter = ''
    this.loaded = false
    this.generation = 0 // drops answers to superseded loads
    this.list = byId('job-list')
    this.more = /** @type {HTMLButtonElement} */ (byId('load-more'))
    this.more.addEventListener('click', () => this.loadMore())
    byId('status-filter').addEventListener('change', (e) => {
      this.filter = /** @type {HTMLSelectElement} */ (e.target).value
      this.reload()
    })
    this.list.addEventListener('click', (e) => this.onClick(e))
    window.setInterval(() => this.refreshAges(), 30000)
  }

  /** Forgets everything (sign-out, or another user signed in). */
  clear () {
    this.generation++
    this.jobs.clear()
    this.rows.clear()
    this.list.replaceChildren()
    this.cursor = null
    this.loaded = false
    this.more.hidden = true
  }

  /** Loads the first page for the current filter. */
  async reload () {
    const gen = ++this.generation
    this.state('Loading jobs…')
    try {
      const page = await this.app.client.listJobs({ status: this.status(), limit: PAGE })
      if (gen !== this.generation) return
      this.jobs.clear()
      this.rows.clear()
      this.list.replaceChildren()
      page.jobs.forEach((j) => this.put(j, true))
      this.cursor = page.next_cursor
      this.loaded = true
      this.afterChange()
    } catch (e) {
      if (gen !== this.generation) return
      this.state(`Could not load your jobs: ${describe(e)}`, 'Try again', () => this.reload())
    }
  }

  async loadMore () {
    if (!this.cursor) return
    const gen = this.generation
    this.more.disabled = true
    try {
      const page = await this.app.client.listJobs({ status: this.status(), limit: PAGE, cursor: this.cursor })
      if (gen !== this.generation) return
      page.jobs.forEach((j) => this.put(j, true))
      this.cursor = page.next_cursor
      this.afterChange()
    } catch (e) {
      toast(`Could not load more jobs: ${describe(e)}`)
    } finally {
      this.more.disabled = false
    }
  }

  /**
   * A job from the live stream, a poll or an action.
   * @param {Job} job
   */
  upsert (job) {
    const before = this.jobs.get(job.job_id)
    if (before && before.version > job.version) return // an older state arriving late
    if (before || this.belongs(job)) {
      this.put(job, false)
      this.afterChange()
    }
    // Other views (an open result) follow jobs the list does not show, too.
    this.dispatchEvent(new CustomEvent('job', { detail: { job, statusChanged: !before || before.status !== job.status } }))
  }

  /**
   * Whether a job not shown yet goes into the list as it is loaded now.
   * @param {Job} job
   */
  belongs (job) {
    if (!this.loaded || (this.filter && job.status !== this.filter)) return false
    // With more pages to load, a job no newer than the oldest shown belongs
    // to one of them (ties too: the page order breaks them by a hidden id).
    const last = this.oldest()
    return !(this.cursor && last && time(job) <= time(last))
  }

  /** @param {string} id */
  remove (id) {
    const row = this.rows.get(id)
    this.jobs.delete(id)
    this.rows.delete(id)
    if (row) row.remove()
    this.afterChange()
    this.dispatchEvent(new CustomEvent('removed', { detail: { id } }))
  }

  /** The status filter chosen, for the API. */
  status () {
    return /** @type {import('./reportd').Status|undefined} */ (this.filter || undefined)
  }

  /** Ids of jobs shown as queued or running (polling asks for their fate). */
  activeIds () {
    return [...this.jobs.values()].filter((j) => !isFinal(j.status)).map((j) => j.job_id)
  }

  /** @param {string} id */
  get (id) { return this.jobs.get(id) }

  oldest () {
    let last = null
    for (const j of this.jobs.values()) if (!last || time(j) < time(last)) last = j
    return last
  }

  /**
   * Adds or updates a job's row, in created_at order, newest first.
   * @param {Job} job
   * @param {boolean} append rows of a page arrive in order
   */
  put (job, append) {
    this.jobs.set(job.job_id, job)
    let row = this.rows.get(job.job_id)
    if (!row) {
      row = buildRow(job)
      this.rows.set(job.job_id, row)
      const next = append ? null : [...this.list.children].find((el) => {
        const other = this.jobs.get(/** @type {HTMLElement} */ (el).dataset.jobId || '')
        return other && time(other) <= time(job) // a new job goes above one of the same millisecond
      })
      this.list.insertBefore(row, next || null)
    }
    fillRow(row, job)
  }

  afterChange () {
    this.more.hidden = !this.cursor
    if (this.jobs.size > 0) this.state('')
    else if (this.filter) this.state(`No ${this.filter} jobs.`)
    else this.state('No jobs yet. Create one above: the demo model shows the whole flow in a few seconds.')
  }

  /**
   * The list's status line, with an optional action button.
   * @param {string} text
   * @param {string} [action]
   * @param {() => void} [run]
   */
  state (text, action, run) {
    const el = byId('list-state')
    el.replaceChildren(text)
    el.hidden = !text
    if (action && run) {
      const b = h('button', { type: 'button' }, action)
      b.addEventListener('click', run)
      el.append(' ', b)
    }
  }

  refreshAges () {
    for (const [id, row] of this.rows) {
      const job = this.jobs.get(id)
      const t = row.querySelector('time')
      if (job && t) t.textContent = age(job.created_at)
    }
  }

  /** @param {Event} e */
  async onClick (e) {
    const button = /** @type {HTMLElement} */ (e.target).closest('button')
    const row = button && /** @type {HTMLElement|null} */ (button.closest('li[data-job-id]'))
    if (!button || !row) return
    const id = row.dataset.jobId || ''
    if (button.classList.contains('cancel')) await this.cancel(id, /** @type {HTMLButtonElement} */ (button))
    if (button.classList.contains('delete')) await this.delete(id, row)
  }

  /** @param {string} id @param {HTMLButtonElement} button */
  async cancel (id, button) {
    button.disabled = true
    try {
      this.upsert(await this.app.client.cancelJob(id))
      toast('Job cancelled.')
    } catch (e) {
      if (!this.gone(e, id)) toast(`Could not cancel the job: ${describe(e)}`)
    } finally {
      button.disabled = false
    }
  }

  /** @param {string} id @param {HTMLElement} row */
  async delete (id, row) {
    const job = this.jobs.get(id)
    if (!job || !await ask(`“${headline(job.prompt)}” and its result are removed for good.`)) return
    try {
      await this.app.client.deleteJob(id)
      const next = /** @type {HTMLElement|null} */ (row.nextElementSibling || row.previousElementSibling)
      this.remove(id)
      const target = next ? next.querySelector('a') : byId('list-title')
      if (target) /** @type {HTMLElement} */ (target).focus()
      toast('Job deleted.')
    } catch (e) {
      if (!this.gone(e, id)) toast(`Could not delete the job: ${describe(e)}`)
    }
  }

  /**
   * A job deleted elsewhere (another tab, the API) answers 404: the live
   * stream does not announce deletions, so the row goes when it is noticed.
   * @param {any} e
   * @param {string} id
   */
  gone (e, id) {
    if (!e || e.status !== 404) return false
    this.remove(id)
    toast('This job no longer exists.')
    return true
  }
}

/** When a job was created, comparable (the API's timestamps vary in length). @param {Job} job */
const time = (job) => Date.parse(job.created_at)

/**
 * The row's fixed structure; fillRow sets what changes, in place, so focus
 * and screen-reader position survive live updates.
 * @param {Job} job
 */
function buildRow (job) {
  const title = `job-title-${job.job_id}`
  const bar = h('div', { class: 'fill' })
  const progress = h('div', {
    class: 'progress', role: 'progressbar', 'aria-labelledby': title,
    'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0
  }, bar)
  return h('li', { class: 'job', 'data-job-id': job.job_id },
    h('div', { class: 'job-top' },
      h('a', { class: 'job-title', id: title, href: `#/jobs/${encodeURIComponent(job.job_id)}` }, headline(job.prompt)),
      h('span', { class: 'pill' })),
    h('p', { class: 'job-meta' }),
    progress,
    h('p', { class: 'job-eta' }),
    h('p', { class: 'job-error' }),
    h('div', { class: 'job-actions' },
      h('button', { type: 'button', class: 'cancel', 'aria-label': `Cancel: ${headline(job.prompt)}` }, 'Cancel'),
      h('a', { class: 'open button', href: `#/jobs/${encodeURIComponent(job.job_id)}` }, 'Open result'),
      h('button', { type: 'button', class: 'delete quiet', 'aria-label': `Delete: ${headline(job.prompt)}` }, 'Delete')))
}

/** @param {HTMLElement} row @param {Job} job */
function fillRow (row, job) {
  const q = (/** @type {string} */ sel) => /** @type {HTMLElement} */ (row.querySelector(sel))
  row.dataset.status = job.status
  q('.pill').replaceChildren(statusPill(job.status))
  const took = job.started_at && job.completed_at ? Date.parse(job.completed_at) - Date.parse(job.started_at) : 0
  q('.job-meta').replaceChildren(
    h('span', { class: 'model' }, job.model), ' · ',
    h('time', { datetime: job.created_at, title: new Date(job.created_at).toLocaleString() }, age(job.created_at)),
    took ? ` · took ${duration(took)}` : '',
    job.attempts > 1 ? ` · attempt ${job.attempts} of ${job.max_attempts}` : '')
  const active = !isFinal(job.status)
  const progress = q('.progress')
  progress.hidden = !active
  progress.setAttribute('aria-valuenow', String(job.percent))
  const when = eta(job.eta_seconds)
  progress.setAttribute('aria-valuetext', `${job.percent}%${when ? ', ' + when : ''}`)
  q('.fill').style.width = `${job.percent}%`
  const etaLine = q('.job-eta')
  etaLine.hidden = !active
  etaLine.textContent = job.status === 'queued' ? 'Waiting for a worker…' : `${job.percent}%${when ? ' · ' + when : ''}`
  const err = q('.job-error')
  err.hidden = !job.error || job.status !== 'failed'
  err.textContent = job.error || ''
  q('.cancel').hidden = !active
  q('.open').hidden = job.result === null
}
