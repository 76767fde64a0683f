// @ts-check
// The monitor page: boot, sign-in, routing between views, and the one live
// watch of the user's jobs that feeds every view.
import { ReportdClient } from './reportd.js'
import { Session } from './session.js'
import { JobsView } from './jobs.js'
import { StatsView } from './stats.js'
import { CreateForm } from './create.js'
import { ResultView } from './result.js'
import { OperatorView } from './operator.js'
import { byId, describe, show } from './dom.js'

/**
 * @typedef {{config: import('./reportd').PublicConfig, session: Session, client: ReportdClient,
 *   jobs: JobsView, stats: StatsView, create: CreateForm, result: ResultView, operator: OperatorView,
 *   watch: import('./reportd').Watch|null}} App
 */

const VIEWS = ['boot', 'signin', 'jobs-view', 'result-view', 'operator-view']

/** @param {string} id */
function only (id) {
  for (const v of VIEWS) show(byId(v), v === id)
}

async function boot () {
  only('boot')
  byId('boot-text').textContent = 'Loading…'
  byId('boot-retry').hidden = true
  let config
  try {
    config = await new ReportdClient().config()
  } catch (e) {
    byId('boot-text').textContent = `The service cannot be reached: ${describe(e)}`
    byId('boot-retry').hidden = false
    return
  }
  const session = new Session(config)
  /** @type {App} */
  const app = /** @type {any} */ ({ config, session, watch: null })
  app.client = new ReportdClient({ getToken: () => session.token(), onUnauthorized: () => session.refresh() })
  app.jobs = new JobsView(app)
  app.stats = new StatsView(app)
  app.create = new CreateForm(app)
  app.result = new ResultView(app)
  app.operator = new OperatorView(app)
  app.create.configure()
  // The statistics count the user's jobs by status: re-read them whenever a
  // count can change (a job appears or changes status, or is deleted).
  app.jobs.addEventListener('job', (e) => {
    if (/** @type {CustomEvent} */ (e).detail.statusChanged) app.stats.soon()
  })
  app.jobs.addEventListener('removed', () => app.stats.soon())
  wireSignIn(app)
  await session.restore()
  session.addEventListener('change', (e) => onSession(app, /** @type {CustomEvent} */ (e).detail.userChanged))
  window.addEventListener('hashchange', () => route(app))
  onSession(app, true)
}

/**
 * Signed in or out (or another user): start or stop the live watch.
 * @param {App} app
 * @param {boolean} userChanged
 */
function onSession (app, userChanged) {
  const user = app.session.user
  byId('account').hidden = !user
  byId('nav').hidden = !user
  byId('who').textContent = app.session.label
  if (!userChanged) return
  if (app.watch) app.watch.close()
  app.watch = null
  app.jobs.clear()
  app.stats.clear()
  byId('live').hidden = true
  if (user) {
    app.jobs.reload()
    app.stats.refresh()
    app.watch = app.client.watchJobs({
      onJob: (job) => app.jobs.upsert(job),
      onDeleted: (id) => app.jobs.remove(id),
      onReset: () => { app.jobs.reload(); app.stats.soon() }, // many jobs changed at once
      activeIds: () => app.jobs.activeIds(),
      onMode: (mode) => liveMode(mode)
    })
  } else if (app.session.ended) {
    byId('signin-error').textContent = app.session.ended
  }
  route(app)
}

/** @param {import('./reportd').WatchMode} mode */
function liveMode (mode) {
  const el = byId('live')
  el.hidden = mode === 'closed'
  el.dataset.mode = mode
  el.textContent = mode === 'live' ? 'Live' : mode === 'polling' ? 'Reconnecting… (checking every few seconds)' : 'Connecting…'
}

/** @param {App} app */
function route (app) {
  const hash = location.hash || '#/'
  const job = /^#\/jobs\/(.+)$/.exec(hash)
  for (const a of byId('nav').querySelectorAll('a')) {
    const here = (a.dataset.view === 'operator') === hash.startsWith('#/operator')
    if (here) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  if (hash.startsWith('#/operator')) {
    app.result.close()
    only('operator-view')
    app.operator.open()
    return focusMain()
  }
  if (!app.session.user) {
    app.result.close()
    only('signin')
    return
  }
  if (job) {
    only('result-view')
    app.result.open(decodeURIComponent(job[1]))
    return focusMain()
  }
  app.result.close()
  only('jobs-view')
}

/** Moves focus to the new view, as a page load would, for keyboard users. */
function focusMain () {
  byId('main').focus({ preventScroll: false })
}

/** @param {App} app */
function wireSignIn (app) {
  const { config, session } = app
  show(byId('password-form'), config.auth === 'supabase')
  show(byId('dev-form'), config.auth === 'dev')
  show(byId('signin-off'), config.auth === 'none')
  /**
   * @param {string} formId
   * @param {() => Promise<void>} signIn
   */
  const submit = (formId, signIn) => {
    const form = /** @type {HTMLFormElement} */ (byId(formId))
    form.addEventListener('submit', async (e) => {
      e.preventDefault()
      const err = byId('signin-error')
      err.textContent = ''
      const button = /** @type {HTMLButtonElement} */ (form.querySelector('button'))
      button.disabled = true
      try {
        await signIn()
        form.reset()
      } catch (ex) {
        err.textContent = describe(ex)
      } finally {
        button.disabled = false
      }
    })
  }
  submit('password-form', () => {
    const email = /** @type {HTMLInputElement} */ (byId('email')).value.trim()
    const password = /** @type {HTMLInputElement} */ (byId('password')).value
    if (!email || !password) return Promise.reject(new Error('Enter your email and password.'))
    return session.signInWithPassword(email, password)
  })
  submit('dev-form', () => {
    const name = /** @type {HTMLInputElement} */ (byId('dev-name')).value.trim()
    if (!name) return Promise.reject(new Error('Enter a name.'))
    return session.signInDev(name)
  })
  byId('sign-out').addEventListener('click', async () => {
    app.operator.forget()
    await session.signOut()
    location.hash = '#/'
  })
}

byId('boot-retry').addEventListener('click', () => { boot() })
boot()
