// Toasts: short notices at the top of the window that fade out by themselves.

import { t } from './i18n.js';

/** Shows `text` for a few seconds; `kind` 'error' or 'tip' colours it. */
export function toast(text, kind) {
  const el = document.createElement('div');
  el.className = `toast ${kind || ''}`;
  el.textContent = text;
  el.addEventListener('animationend', () => el.remove());
  document.getElementById('toasts').appendChild(el);
}

/** Shows an error (an IMError's `{code, message}`, an Error or a string) as a toast. */
export function showError(err) {
  const code = err && err.code !== undefined ? ` ${err.code}` : '';
  toast(`${t('errorPrefix')}${code}: ${(err && err.message) || err}`, 'error');
  console.warn('liveroom |', err);
}
