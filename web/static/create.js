// @ts-check
// The "new report job" form.
import { byId, describe, h, toast } from './dom.js'

export class CreateForm {
  /** @param {import('./main.js').App} app */
  constructor (app) {
    this.app = app
    this.form = /** @type {HTMLFormElement} */ (byId('create-form'))
    this.prompt = /** @type {HTMLTextAreaElement} */ (byId('prompt'))
    this.model = /** @type {HTMLInputElement} */ (byId('model'))
    this.prompt.addEventListener('input', () => this.count())
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.submit() })
  }

  /** Fills the model field from the server's settings. */
  configure () {
    const { default_model: def, models } = this.app.config
    byId('models').replaceChildren(...models.map((m) => h('option', { value: m })))
    if (!this.model.value) this.model.value = def || 'demo'
  }

  count () {
    byId('prompt-count').textContent = `${this.prompt.value.length} / 10000 characters`
  }

  async submit () {
    const err = byId('create-error')
    err.textContent = ''
    const prompt = this.prompt.value.trim()
    if (!prompt) {
      err.textContent = 'Write a prompt first.'
      this.prompt.focus()
      return
    }
    /** @type {import('./reportd').NewJob} */
    const job = { prompt }
    if (this.model.value.trim()) job.model = this.model.value.trim()
    const maxTokens = /** @type {HTMLInputElement} */ (byId('max-tokens')).value
    if (maxTokens) job.max_tokens = Number(maxTokens)
    const temperature = /** @type {HTMLInputElement} */ (byId('temperature')).value
    if (temperature) job.temperature = Number(temperature)
    const button = /** @type {HTMLButtonElement} */ (this.form.querySelector('button[type=submit]'))
    button.disabled = true
    try {
      // One key per submission: a retried request cannot create the job twice.
      const created = await this.app.client.createJob(job, { idempotencyKey: crypto.randomUUID() })
      this.app.jobs.upsert(created)
      this.app.stats.soon()
      this.prompt.value = ''
      this.count()
      toast('Job created.')
    } catch (e) {
      err.textContent = `Could not create the job: ${describe(e)}`
    } finally {
      button.disabled = false
    }
  }
}
