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
    byId('budget').textContent = ''
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
      byId('budget').textContent = budgetText(s.budget)
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

/**
 * What the caller spent today against their budget, in words.
 * @param {import('./reportd').Budget} b
 */
export function budgetText (b) {
  const n = new Intl.NumberFormat()
  const resets = new Date(b.resets_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  const tokens = b.daily_tokens == null
    ? `${n.format(b.used_tokens)} tokens used today (no daily budget)`
    : `${n.format(b.used_tokens)} of ${n.format(b.daily_tokens)} tokens used today`
  const cost = b.daily_cost == null ? '' : `, cost ${b.used_cost.toFixed(2)} of ${b.daily_cost.toFixed(2)}`
  const reset = b.daily_tokens == null && b.daily_cost == null ? '' : `; resets at ${resets}`
  return `${tokens}${cost}${reset}. Up to ${n.format(b.max_queued)} jobs may wait at once.`
}
