// @ts-check
// Two small SVG charts, drawn with DOM calls (no library): jobs per day as
// columns, and success rate by model as bars. Each chart has a text
// summary for screen readers and a table of its data.
import { h } from './dom.js'

const NS = 'http://www.w3.org/2000/svg'

/**
 * @param {string} tag
 * @param {Record<string, string|number>} attrs
 * @param {...(Node|string)} children
 */
function s (tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  el.append(...children)
  return el
}

/** A round axis maximum at or above n. @param {number} n */
function niceMax (n) {
  if (n <= 5) return 5
  const p = 10 ** Math.floor(Math.log10(n))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p
  return 10 * p
}

/**
 * Jobs per day, oldest first.
 * @param {{day: string, jobs: number, unique_users: number}[]} days
 */
export function dailyChart (days) {
  const W = 640; const H = 220; const left = 36; const bottom = 28; const top = 10
  const max = niceMax(Math.max(0, ...days.map((d) => d.jobs)))
  const step = (W - left - 8) / Math.max(days.length, 1)
  const y = (/** @type {number} */ v) => top + (H - top - bottom) * (1 - v / max)
  const total = days.reduce((n, d) => n + d.jobs, 0)
  const busiest = days.reduce((a, d) => (d.jobs > a.jobs ? d : a), { day: '', jobs: 0, unique_users: 0 })
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg', 'aria-labelledby': 'daily-title daily-desc' },
    s('desc', { id: 'daily-desc' }, `${total} jobs over ${days.length} days` +
      (busiest.jobs ? `; the busiest day was ${busiest.day} with ${busiest.jobs}.` : '.')))
  for (const v of [0, max / 2, max]) {
    svg.append(s('line', { x1: left, x2: W - 4, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)))
  }
  const every = Math.ceil(days.length / 8)
  days.forEach((d, i) => {
    const x = left + i * step
    const bar = s('rect', { x: x + step * 0.15, width: Math.max(step * 0.7, 1), y: y(d.jobs), height: Math.max(y(0) - y(d.jobs), 0), class: 'bar' },
      s('title', {}, `${d.day}: ${d.jobs} jobs by ${d.unique_users} users`))
    svg.append(bar)
    if ((days.length - 1 - i) % every === 0) { // counted from today, so today is labelled
      svg.append(s('text', { x: x + step / 2, y: H - 8, class: 'axis', 'text-anchor': 'middle' }, d.day.slice(5)))
    }
  })
  return h('div', {}, svg, table(['Day', 'Jobs', 'Users'], days.map((d) => [d.day, d.jobs, d.unique_users])))
}

/**
 * Success rate (succeeded over finished) by model, most jobs first.
 * @param {import('./reportd').OperatorStats['models']} models
 */
export function modelChart (models) {
  const W = 640; const row = 30; const left = 150; const H = Math.max(models.length, 1) * row + 8
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg', 'aria-labelledby': 'models-title models-desc' },
    s('desc', { id: 'models-desc' }, models.map((m) => `${m.model}: ${pct(m.success_rate)} of ${m.succeeded + m.failed} finished`).join('; ') || 'No jobs.'))
  models.forEach((m, i) => {
    const y = 4 + i * row
    const width = (W - left - 130) * m.success_rate
    svg.append(
      s('text', { x: left - 8, y: y + 18, class: 'label', 'text-anchor': 'end' }, m.model.length > 20 ? m.model.slice(0, 19) + '…' : m.model),
      s('rect', { x: left, y: y + 4, width: W - left - 130, height: 20, class: 'track' }),
      s('rect', { x: left, y: y + 4, width: Math.max(width, 0), height: 20, class: rateClass(m.success_rate) },
        s('title', {}, `${m.model}: ${m.succeeded} succeeded, ${m.failed} failed`)),
      s('text', { x: W - 124, y: y + 18, class: 'label' }, `${pct(m.success_rate)} · ${m.jobs} job${m.jobs === 1 ? '' : 's'}`))
  })
  return h('div', {}, svg, table(['Model', 'Jobs', 'Succeeded', 'Failed', 'Success rate'],
    models.map((m) => [m.model, m.jobs, m.succeeded, m.failed, pct(m.success_rate)])))
}

/** @param {number} r */
function pct (r) { return `${Math.round(r * 1000) / 10}%` }

/** @param {number} r */
function rateClass (r) { return r >= 0.9 ? 'bar good' : r >= 0.6 ? 'bar fair' : 'bar poor' }

/**
 * The chart's data as a table, behind a disclosure.
 * @param {string[]} head
 * @param {(string|number)[][]} rows
 */
function table (head, rows) {
  return h('details', { class: 'chart-data' }, h('summary', {}, 'Show the data'),
    h('table', {},
      h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, String(c))))))))
}
