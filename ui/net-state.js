// The connection's state as the user sees it. The engine reconnects by itself (1 s doubling to
// 16 s, with jitter) and says when each next try is (`t_net_state_change` `connecting` with
// `nextTry: {attempt, inMs, at}`); this module turns that into one line of text that counts
// down ("Reconnecting… next try in 4 s"), shows it in the top bar's chip and tells the rooms,
// which show it in their own banner and mark the gap in their chat.
//
// Rooms subscribe with `net.subscribe(fn)`; `fn({state, text, online})` is called on every
// change and every second of a countdown. The app feeds it the IM's events: `net.update(ev)`.

import { t, onLangChange } from './i18n.js';

/** How often a countdown's text is refreshed. */
const TICK_MS = 1000;

class NetState {
  constructor() {
    /** `connected`, `connecting`, `disconnected`, or null before the first event of an IM. */
    this.state = null;
    /** `{attempt, inMs, at}` while waiting for the next try, else null. */
    this.nextTry = null;
    this.listeners = new Set();
    this.timer = 0;
  }

  /** Whether sends go out now (anything but a confirmed connection may queue or fail them). */
  get online() {
    return this.state === 'connected';
  }

  /** A new IM instance (a new login): nothing is known about its connection yet. */
  reset() {
    this.state = null;
    this.nextTry = null;
    this._changed();
  }

  /** `t_net_state_change`: `{data: 'connected'|'connecting'|'disconnected', nextTry?}`. */
  update(ev) {
    this.state = (ev && ev.data) || null;
    this.nextTry = (this.state === 'connecting' && ev.nextTry) || null;
    this._changed();
  }

  /** Calls `fn(view)` now and on every change; returns the unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    fn(this.view());
    return () => this.listeners.delete(fn);
  }

  /** What to show: `{state, online, text}` (`text` empty when connected). */
  view() {
    return { state: this.state, online: this.online, text: this.text() };
  }

  /** The line for the current state, counting down to the next try. */
  text() {
    switch (this.state) {
      case 'connecting': {
        if (!this.nextTry) return t('netConnecting');
        const secs = Math.ceil((this.nextTry.at - Date.now()) / 1000);
        return secs > 0 ? t('netRetryIn').replace('{s}', String(secs)) : t('netTryingNow');
      }
      case 'disconnected':
        return t('netDisconnected');
      default:
        return '';
    }
  }

  _changed() {
    clearTimeout(this.timer);
    this.timer = 0;
    const view = this.view();
    const chip = document.getElementById('net-state');
    if (chip) {
      chip.hidden = !view.text;
      chip.textContent = view.text;
      chip.dataset.state = view.state || '';
    }
    for (const fn of [...this.listeners]) {
      try {
        fn(view);
      } catch (e) {
        console.error('net-state listener failed', e);
      }
    }
    // Count down while the next try is ahead: again when the whole seconds left change (the
    // last time to say "trying now").
    const left = this.nextTry ? this.nextTry.at - Date.now() : 0;
    if (left > 0) this.timer = setTimeout(() => this._changed(), (left % TICK_MS || TICK_MS) + 5);
  }
}

/** The one connection state of the app (one IM at a time). */
export const net = new NetState();
onLangChange(() => net._changed());

/**
 * Why an own send failed, in a few words for the row under the message; `retry` when trying
 * again may help (the connection, not the server, refused it).
 */
export function sendFailure(err) {
  const code = err && err.code;
  if (code === 2801) return { text: t('notSentTimeout'), retry: true };
  if (code === 2800) return { text: t('notSentNetwork'), retry: true };
  const detail = (err && err.message) || String(err || '');
  return { text: `${t('notSent')}${code ? ` (${code})` : ''}${detail ? `: ${detail}` : ''}`, retry: false };
}
