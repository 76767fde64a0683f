// @ts-check
// The signed-in user's session: Supabase Auth (email and password against
// the project's /auth/v1/token, refreshed with its refresh token before the
// access token expires) or, on a memory-mode server, the dev sign-in.
//
// The session is kept in localStorage, as supabase-js keeps it, so a reload
// or a second tab stays signed in; the strict CSP and the safe result
// rendering are what keep scripts that could read it off the page. Another
// tab's refresh is picked up through the storage event.

const KEY = 'reportd.session'

/**
 * @typedef {{kind: 'supabase'|'dev', access_token: string, refresh_token?: string,
 *   expires_at: number, expires_in: number, user: {id: string, email?: string}, name?: string}} Stored
 */

export class Session extends EventTarget {
  /** @param {import('./reportd').PublicConfig} config */
  constructor (config) {
    super()
    this.config = config
    /** @type {Stored|null} */ this.current = null
    /** @type {Promise<boolean>|null} */ this.refreshing = null
    /** @type {number} */ this.timer = 0
    /** Why the last session ended, when it was not the user's choice. */
    this.ended = ''
    window.addEventListener('storage', (e) => {
      if (e.key === KEY) this.adopt(read(), false)
    })
  }

  get user () { return this.current && this.current.user }

  /** A name to show for the user. */
  get label () {
    const c = this.current
    return c ? (c.user.email || c.name || c.user.id) : ''
  }

  /** Restores a stored session, refreshing it first when it has expired. */
  async restore () {
    const s = read()
    if (!s || s.kind !== (this.config.auth === 'dev' ? 'dev' : 'supabase')) return
    this.adopt(s, false)
    if (s.expires_at * 1000 <= Date.now() + 5000) await this.refresh()
  }

  /** @param {string} email @param {string} password */
  async signInWithPassword (email, password) {
    const data = await this.auth('password', { email, password })
    this.adopt(fromSupabase(data), true)
  }

  /** @param {string} name */
  async signInDev (name) {
    const res = await fetch('/v1/dev/token', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name })
    })
    const data = await res.json().catch(() => null)
    if (!res.ok) throw new Error(devError(data, res.status))
    this.adopt({ ...fromSupabase(data), kind: 'dev', name }, true)
  }

  /** Signs out here and, for Supabase, revokes this session's refresh token. */
  async signOut () {
    const s = this.current
    this.adopt(null, true)
    if (s && s.kind === 'supabase') {
      await fetch(`${this.config.supabase_url}/auth/v1/logout?scope=local`, {
        method: 'POST', headers: { apikey: this.key(), Authorization: `Bearer ${s.access_token}` }
      }).catch(() => {}) // the local session is gone either way
    }
  }

  /** The access token to send, refreshed first when about to expire. */
  async token () {
    const s = this.current
    if (!s) return null
    if (s.expires_at * 1000 <= Date.now() + 2000) await this.refresh()
    return this.current ? this.current.access_token : null
  }

  /**
   * Gets a new access token (one refresh at a time). False when the session
   * cannot be renewed; it then ends.
   * @returns {Promise<boolean>}
   */
  refresh () {
    if (!this.refreshing) {
      this.refreshing = this.renew().finally(() => { this.refreshing = null })
    }
    return this.refreshing
  }

  async renew () {
    const s = this.current
    if (!s) return false
    try {
      if (s.kind === 'dev' && s.name) {
        await this.signInDev(s.name)
      } else if (s.refresh_token) {
        const data = await this.auth('refresh_token', { refresh_token: s.refresh_token })
        this.adopt(fromSupabase(data), true)
      } else {
        throw Object.assign(new Error('no refresh token'), { final: true })
      }
      return true
    } catch (e) {
      const other = read() // another tab may have refreshed first (refresh tokens rotate)
      if (other && other.access_token !== s.access_token && other.expires_at * 1000 > Date.now()) {
        this.adopt(other, false)
        return true
      }
      if (/** @type {any} */ (e).final || s.expires_at * 1000 <= Date.now()) {
        this.ended = 'Your session ended. Please sign in again.'
        this.adopt(null, true)
        return false
      }
      this.schedule(5000) // a network failure before expiry: try again shortly
      return false
    }
  }

  /**
   * @param {'password'|'refresh_token'} grant
   * @param {Record<string, string>} body
   */
  async auth (grant, body) {
    const res = await fetch(`${this.config.supabase_url}/auth/v1/token?grant_type=${grant}`, {
      method: 'POST',
      headers: { apikey: this.key(), 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    })
    const data = await res.json().catch(() => null)
    if (!res.ok) {
      const msg = data && (data.error_description || data.msg || data.message || data.error)
      throw Object.assign(new Error(msg || `Sign-in failed (${res.status})`), { final: res.status >= 400 && res.status < 500 })
    }
    return data
  }

  key () { return this.config.supabase_anon_key || '' }

  /**
   * Makes s the session, stores it (when it is new here), plans its
   * refresh, and tells listeners.
   * @param {Stored|null} s
   * @param {boolean} store
   */
  adopt (s, store) {
    const before = this.current ? this.current.user.id : null
    this.current = s
    if (store) write(s)
    clearTimeout(this.timer)
    if (s) {
      this.ended = ''
      // Refresh a fifth of the lifetime (at most a minute) before expiry.
      const margin = Math.min(60, Math.max(1, s.expires_in / 5)) * 1000
      this.schedule(s.expires_at * 1000 - margin - Date.now())
    }
    const after = s ? s.user.id : null
    this.dispatchEvent(new CustomEvent('change', { detail: { userChanged: before !== after } }))
  }

  /** @param {number} ms */
  schedule (ms) {
    clearTimeout(this.timer)
    this.timer = window.setTimeout(() => { this.refresh() }, Math.max(0, ms))
  }
}

/** @param {any} d @returns {Stored} */
function fromSupabase (d) {
  const expiresIn = Number(d.expires_in) || 3600
  const expiresAt = Number(d.expires_at) || Math.floor(Date.now() / 1000) + expiresIn
  return {
    kind: 'supabase',
    access_token: String(d.access_token),
    refresh_token: d.refresh_token ? String(d.refresh_token) : undefined,
    expires_at: expiresAt,
    expires_in: expiresIn,
    user: { id: String(d.user && d.user.id), email: d.user && d.user.email ? String(d.user.email) : undefined }
  }
}

/** @param {any} data @param {number} status */
function devError (data, status) {
  const fields = data && Array.isArray(data.fields) ? data.fields.map((/** @type {any} */ f) => f.message).join('; ') : ''
  return fields || (data && data.error) || `Sign-in failed (${status})`
}

/** @returns {Stored|null} */
function read () {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || 'null')
    return s && typeof s.access_token === 'string' && s.user ? s : null
  } catch {
    return null
  }
}

/** @param {Stored|null} s */
function write (s) {
  try {
    if (s) localStorage.setItem(KEY, JSON.stringify(s))
    else localStorage.removeItem(KEY)
  } catch {
    // private mode or full storage: the session lives in this tab only
  }
}
