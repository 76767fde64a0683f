// @ts-check
// Small DOM helpers. Every text goes in through textContent or text nodes;
// nothing here parses HTML.

/**
 * An element with attributes and children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, string|number|boolean|undefined|null>} [attrs]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) {
    if (c !== null && c !== undefined && c !== false) el.append(c)
  }
  return el
}

/** @param {string} id @returns {HTMLElement} */
export function byId (id) {
  const el = document.getElementById(id)
  if (!el) throw new Error(`#${id} is missing from the page`)
  return el
}

/** @param {HTMLElement} el @param {boolean} shown */
export function show (el, shown) { el.hidden = !shown }

/** @param {string} id @param {string} text */
export function say (id, text) { byId(id).textContent = text }

/** Shows a short message in the toast region (read out by screen readers). */
let toastTimer = 0
/** @param {string} text */
export function toast (text) {
  const el = byId('toast')
  el.textContent = text
  el.classList.add('shown')
  clearTimeout(toastTimer)
  toastTimer = window.setTimeout(() => el.classList.remove('shown'), 4000)
}

/** A message for an error the API (or the network) gave. @param {any} e */
export function describe (e) {
  if (e && e.name === 'ApiError') {
    const fields = (e.fields || []).map((/** @type {any} */ f) => f.message).join('; ')
    return fields || e.message
  }
  if (e && e.name === 'TypeError') return 'The service cannot be reached. Check your connection and try again.'
  return (e && e.message) || 'Something went wrong.'
}

const STATUS_LABEL = { queued: 'Queued', running: 'Running', succeeded: 'Succeeded', failed: 'Failed', cancelled: 'Cancelled' }

/** @param {string} status */
export function statusPill (status) {
  return h('span', { class: `status status-${status}` }, STATUS_LABEL[/** @type {keyof STATUS_LABEL} */ (status)] || status)
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })

/** "3 minutes ago". @param {string} iso @param {number} [now] */
export function age (iso, now = Date.now()) {
  const s = Math.round((Date.parse(iso) - now) / 1000)
  const a = Math.abs(s)
  if (a < 45) return rtf.format(s, 'second')
  if (a < 45 * 60) return rtf.format(Math.round(s / 60), 'minute')
  if (a < 22 * 3600) return rtf.format(Math.round(s / 3600), 'hour')
  return rtf.format(Math.round(s / 86400), 'day')
}

/** "1 min 5 s". @param {number} ms */
export function duration (ms) {
  if (!ms || ms < 0) return '–'
  const s = Math.round(ms / 1000)
  if (s < 60) return ms < 10000 ? `${(ms / 1000).toFixed(1)} s` : `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${s % 60} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

/** "about 12 s left". @param {number|null} seconds */
export function eta (seconds) {
  if (seconds === null || seconds === undefined) return ''
  if (seconds < 1) return 'almost done'
  return `about ${duration(seconds * 1000)} left`
}

/** The first line of a prompt, shortened for a list. @param {string} prompt */
export function headline (prompt) {
  const line = (prompt || '').trim().split('\n')[0]
  return line.length > 140 ? line.slice(0, 139) + '…' : line || '(empty prompt)'
}
