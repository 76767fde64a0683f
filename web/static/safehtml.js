// @ts-check
// Puts a report's HTML, rendered by the server (package markdown: raw HTML
// shown as text, only http(s)/mailto links, no images), into the page
// through a second, independent allow-list: the HTML is parsed into an
// inert document (scripts there never run and images never load), and only
// known elements and attributes are copied into the page, element by
// element. The page's CSP lets no other code hand HTML to the DOM: it
// requires Trusted Types, and this module owns the only policy.

const TAGS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'blockquote', 'pre', 'code',
  'em', 'strong', 'del', 'a', 'hr', 'br', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'input'])

/** Elements whose content is not text a reader should see. */
const DROP = new Set(['script', 'style', 'template', 'noscript', 'iframe', 'object', 'embed', 'svg', 'math'])

/** @type {any} */
const tt = /** @type {any} */ (globalThis).trustedTypes
/** @type {{createHTML: (s: string) => any}|null} */
const policy = tt ? tt.createPolicy('reportd-result', { createHTML: (/** @type {string} */ s) => s }) : null

/** @param {string} href */
export function safeHref (href) {
  try {
    const u = new URL(href)
    return ['http:', 'https:', 'mailto:'].includes(u.protocol) ? u.href : null
  } catch {
    return null
  }
}

/**
 * Replaces target's content with the allowed part of html.
 * @param {HTMLElement} target
 * @param {string} html
 */
export function renderSafe (target, html) {
  const doc = new DOMParser().parseFromString(policy ? policy.createHTML(html) : html, 'text/html')
  const out = document.createDocumentFragment()
  doc.body.childNodes.forEach((n) => copy(n, out))
  target.replaceChildren(out)
}

/**
 * @param {Node} node
 * @param {Node} parent
 */
function copy (node, parent) {
  if (node.nodeType === Node.TEXT_NODE) {
    parent.appendChild(document.createTextNode(/** @type {Text} */ (node).data))
    return
  }
  if (node.nodeType !== Node.ELEMENT_NODE) return
  const src = /** @type {Element} */ (node)
  const tag = src.localName
  if (DROP.has(tag)) return
  if (!TAGS.has(tag)) { // keep the text of an unknown element, not the element
    src.childNodes.forEach((c) => copy(c, parent))
    return
  }
  const el = document.createElement(tag)
  if (tag === 'a') {
    const href = safeHref(src.getAttribute('href') || '')
    if (href) {
      el.setAttribute('href', href)
      el.setAttribute('rel', 'noopener noreferrer nofollow')
      el.setAttribute('target', '_blank')
    }
    const title = src.getAttribute('title')
    if (title) el.setAttribute('title', title)
  } else if (tag === 'input') {
    if (src.getAttribute('type') !== 'checkbox') return
    el.setAttribute('type', 'checkbox')
    el.setAttribute('disabled', '')
    if (src.hasAttribute('checked')) el.setAttribute('checked', '')
  } else if (tag === 'code') {
    const cls = src.getAttribute('class') || ''
    if (/^language-[\w+-]{1,40}$/.test(cls)) el.setAttribute('class', cls)
  } else if (tag === 'ol') {
    const start = src.getAttribute('start') || ''
    if (/^\d{1,9}$/.test(start)) el.setAttribute('start', start)
  } else if (tag === 'pre' && src.getAttribute('class') === 'raw-html') {
    el.setAttribute('class', 'raw-html')
  }
  src.childNodes.forEach((c) => copy(c, el))
  parent.appendChild(el)
}
