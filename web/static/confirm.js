// @ts-check
// A confirmation in the page's own modal dialog (keyboard and screen-reader
// friendly: focus moves into it, Escape keeps the job, and focus returns to
// the button that asked).
import { byId } from './dom.js'

/**
 * @param {string} text what will happen
 * @returns {Promise<boolean>} true when the user confirmed
 */
export function ask (text) {
  const dialog = /** @type {HTMLDialogElement} */ (byId('confirm'))
  byId('confirm-text').textContent = text
  const back = /** @type {HTMLElement|null} */ (document.activeElement)
  return new Promise((resolve) => {
    const yes = byId('confirm-yes')
    const no = byId('confirm-no')
    const done = (/** @type {boolean} */ ok) => {
      yes.removeEventListener('click', onYes)
      no.removeEventListener('click', onNo)
      dialog.removeEventListener('cancel', onCancel)
      dialog.close()
      if (back && back.isConnected) back.focus()
      resolve(ok)
    }
    const onYes = () => done(true)
    const onNo = () => done(false)
    // Escape fires "cancel" at once; the "close" event would come later and
    // could reach the next dialog, so it is not listened to.
    const onCancel = (/** @type {Event} */ e) => { e.preventDefault(); done(false) }
    yes.addEventListener('click', onYes)
    no.addEventListener('click', onNo)
    dialog.addEventListener('cancel', onCancel)
    dialog.showModal()
    no.focus()
  })
}
