// Small DOM helpers shared by the screens and dialogs.

import { showError } from './toast.js';
import { t } from './i18n.js';

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Disables a form's submit button while `work` runs; a failure becomes an error toast. */
export function busy(form, work) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      await work();
    } catch (err) {
      showError(err);
    } finally {
      btn.disabled = false;
    }
  });
}

/** Dispatches a bubbling event with `detail` from `el`: how a part tells the one above it. */
export function emit(el, name, detail) {
  el.dispatchEvent(new CustomEvent(name, { bubbles: true, detail }));
}

/** An element with a class and, optionally, a `data-i18n` key whose text it shows (re-labelled
 *  by i18n's `apply`). */
export function el(tag, cls, key) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (key) {
    e.dataset.i18n = key;
    e.textContent = t(key);
  }
  return e;
}
