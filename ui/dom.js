// Small DOM helpers shared by the screens and dialogs.

import { showError } from './toast.js';

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
