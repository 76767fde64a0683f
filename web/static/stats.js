// @ts-check
// The statistics tiles and the active-jobs badge. They are re-read when a
// count can change (a job appears, changes status or is deleted; main.js
// says when), once for a burst of changes, never on a timer.
import { byId, describe, duration } from './dom.js'

export class StatsView {
  /** @param {import('./main.js').App} app */
  constructor (app) {
    this.app = app
    this.timer = 0
    this.generation = 0
  }

  /** Re-reads the statistics soon, once for a burst of changes. */
  soon () {
    clearTimeout(this.timer)
    this.timer = window.setTimeout(() => this.refresh(), 250)
  }

  clear () {
    this.generation++
    clearTimeout(this.timer)
    for (const dd of byId('tiles').querySelectorAll('dd')) dd.textContent = '–'
    byId('active-badge').hidden = true
  }

  async refresh () {
    const gen = ++this.generation
    try {
      const s = await this.app.client.stats()
      if (gen !== this.generation) return
      for (const dd of byId('tiles').querySelectorAll('dd')) {
        const key = /** @type {keyof typeof s} */ (/** @type {HTMLElement} */ (dd).dataset.stat)
        dd.textContent = key === 'avgDurationMs' ? duration(s[key]) : String(s[key])
      }
      byId('stats-error').textContent = ''
      this.badge(s.queued + s.running)
    } catch (e) {
      if (gen === this.generation) byId('stats-error').textContent = `Could not load the statistics: ${describe(e)}`
    }
  }

  /** @param {number} n active jobs */
  badge (n) {
    const el = byId('active-badge')
    el.hidden = false
    el.textContent = n === 0 ? 'No active jobs' : `${n} active job${n === 1 ? '' : 's'}`
    el.classList.toggle('busy', n > 0)
  }
}
