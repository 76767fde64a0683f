// @ts-check
// The operator view: statistics across users from /v1/admin/stats, which
// only service callers may read. The operator pastes a service key; it lives
// in this object only (never in storage or the URL), is sent with the
// statistics request only, and is dropped on Forget, sign-out or reload.
import { byId, describe, h } from './dom.js'
import { dailyChart, modelChart } from './charts.js'

export class OperatorView {
  /** @param {import('./main.js').App} app */
  constructor (app) {
    this.app = app
    /** @type {string|null} */ this.key = null
    this.input = /** @type {HTMLInputElement} */ (byId('op-key'))
    byId('operator-form').addEventListener('submit', (e) => { e.preventDefault(); this.submit() })
    byId('op-forget').addEventListener('click', () => this.forget())
    byId('op-days').addEventListener('change', () => { if (this.key) this.load() })
  }

  /** Shown: reload when a key is held. */
  open () {
    if (this.key) this.load()
  }

  submit () {
    const key = this.input.value.trim()
    if (!key && !this.key) {
      byId('op-error').textContent = 'Paste the service key first.'
      this.input.focus()
      return
    }
    if (key) this.key = key
    this.input.value = '' // out of the DOM as soon as it is read
    this.input.placeholder = 'Key held in memory; paste another to replace it'
    this.load()
  }

  forget () {
    this.key = null
    this.input.value = ''
    this.input.placeholder = ''
    byId('op-results').hidden = true
    byId('op-state').textContent = 'The key is forgotten.'
  }

  async load () {
    if (!this.key) return
    byId('op-error').textContent = ''
    byId('op-state').textContent = 'Loading statistics…'
    try {
      const days = Number(/** @type {HTMLSelectElement} */ (byId('op-days')).value)
      const st = await this.app.client.operatorStats(this.key, { days })
      this.render(st)
      byId('op-state').textContent = ''
    } catch (e) {
      byId('op-state').textContent = ''
      const status = /** @type {any} */ (e).status
      if (status === 401 || status === 403) {
        this.forget()
        byId('op-error').textContent = 'That key is not a service key of this project.'
      } else {
        byId('op-error').textContent = `Could not load the statistics: ${describe(e)}`
      }
    }
  }

  /** @param {import('./reportd').OperatorStats} st */
  render (st) {
    byId('chart-daily').replaceChildren(dailyChart(st.daily))
    byId('chart-models').replaceChildren(st.models.length ? modelChart(st.models) : h('p', { class: 'state' }, 'No jobs in this period.'))
    const rows = st.top_users.map((u) => h('tr', {},
      h('td', { class: 'mono' }, u.user_id), h('td', {}, String(u.jobs)),
      h('td', {}, String(u.succeeded)), h('td', {}, String(u.failed))))
    byId('top-users').querySelector('tbody')?.replaceChildren(...(rows.length ? rows
      : [h('tr', {}, h('td', { colspan: 4 }, 'No jobs in the last days.'))]))
    byId('op-results').hidden = false
  }
}
