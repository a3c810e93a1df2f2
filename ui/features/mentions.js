// Mentions (issue 15): a text message naming the signed-in user (`@nick` or `@userID`) is
// highlighted in the chat, listed in the sidebar's `#mentions-box` across rooms, and, while the
// window is not focused, shown as a desktop notification (Tauri's notification plugin).
//
// What counts as a mention:
// - a text message (TIMTextElem) of someone else. Custom messages are the apps' data (likes,
//   gifts, ids, JSON), not sentences written to a person, and pictures carry no text: neither
//   is ever a mention;
// - `@` (or the full-width `＠` of Chinese input methods) right before my nick or my userID,
//   compared case-insensitively (JavaScript's toLowerCase, Latin letters included);
// - the `@` not inside an address (`mail@mia.com` names nobody: no Latin letter, digit or
//   `_.+-` right before it; `你好@小明` does name 小明) and the name not followed by a name
//   character (`@miavision` is not `@mia`). Name characters are letters of any script,
//   digits, combining marks, `_` and `-`: `@小明 你好`, `@小明。` and `@小明` at the end name
//   小明, `@小明明` does not (Chinese clients put a space after a mention).
//
// The list keeps the newest MAX_MENTIONS, newest first, each once (history sent again when a
// room is entered again is not listed twice); it survives switching and leaving rooms and is
// cleared when the user signs out (the main screen hides). A click enters the room again if it
// was left, shows it and scrolls its chat to the message (ChatList.reveal, which flashes it).

import { t, addStrings, onLangChange } from '../i18n.js';
import { invoke } from '../tauri.js';
import { $ } from '../dom.js';
import { showError, toast } from '../toast.js';

/** Mentions kept in the list (the oldest go). */
export const MAX_MENTIONS = 100;
/** Keys of mentions already seen, kept to tell history sent again from news. */
const MAX_SEEN = 1000;
/** A room notifies at most once per this many ms; what arrives meanwhile is summed up after. */
export const NOTIFY_EVERY_MS = 10_000;
/** Only mentions this recent (s) notify: old history brought by entering a room does not. */
const NOTIFY_RECENT_S = 120;
/** How much of a message a notification or a list item shows. */
const PREVIEW_CHARS = 240;
/** How long a click waits for the history of a room entered again to bring the message. */
const REVEAL_WAIT_MS = 2000;
const REVEAL_RETRY_MS = 100;
const NOTIFY_KEY = 'liveroom.mentionNotify';
/**
 * Linux notification services (GNOME, KDE, dunst, ...) read a notification's body as markup
 * (the spec's `body-markup`): there user text is escaped, so that `<b>` shows as typed. The
 * summary is plain text everywhere, and so is the body on Windows and macOS.
 */
const BODY_IS_MARKUP = /Linux|BSD/i.test(navigator.userAgent) && !/Android/i.test(navigator.userAgent);

addStrings({
  en: {
    mnTitle: 'Mentions',
    mnMarkRead: 'Mark all read',
    mnNotifyOn: 'Desktop notifications for mentions: on (click to turn off)',
    mnNotifyOff: 'Desktop notifications for mentions: off (click to turn on)',
    mnNotifySetting: 'Desktop notification when someone mentions me and the window is not focused',
    mnMany: '{n} mentions',
    mnGone: 'That message is no longer in the chat',
    mnUnread: 'unread',
  },
  zh: {
    mnTitle: '提及我的',
    mnMarkRead: '全部已读',
    mnNotifyOn: '提及的桌面通知：开（点击关闭）',
    mnNotifyOff: '提及的桌面通知：关（点击开启）',
    mnNotifySetting: '窗口不在前台时，有人 @ 我就发桌面通知',
    mnMany: '{n} 条提及',
    mnGone: '这条消息已不在聊天记录中',
    mnUnread: '未读',
  },
});

/** Letters of any script, digits, marks, `_` and `-`: what a name is made of. */
const NAME_CHAR = /^[\p{L}\p{N}\p{M}_-]$/u;
/** What an e-mail address has right before its `@`. */
const ADDRESS_CHAR = /^[A-Za-z0-9_.+-]$/;
const AT_SIGNS = ['@', '＠'];

/**
 * Whether `text` names one of `names` as `@name` (see the header for the rules).
 * Exported for the tests' sake and for any other module that needs the same rule.
 */
export function namesAny(text, names) {
  const s = String(text ?? '').toLowerCase();
  if (!s.includes('@') && !s.includes('＠')) return false;
  for (const raw of names) {
    const name = String(raw ?? '').toLowerCase();
    if (!name) continue;
    for (const at of AT_SIGNS) {
      const needle = at + name;
      for (let i = s.indexOf(needle); i !== -1; i = s.indexOf(needle, i + 1)) {
        if (!ADDRESS_CHAR.test(charBefore(s, i)) && !isNameChar(charAt(s, i + needle.length))) return true;
      }
    }
  }
  return false;
}

function isNameChar(c) {
  return !!c && NAME_CHAR.test(c);
}

/** The character (code point) ending at `end`, or ''. */
function charBefore(s, end) {
  if (end <= 0) return '';
  const c = s.charCodeAt(end - 1);
  return c >= 0xdc00 && c <= 0xdfff && end >= 2 ? s.slice(end - 2, end) : s[end - 1];
}

/** The character (code point) starting at `i`, or ''. */
function charAt(s, i) {
  const cp = s.codePointAt(i);
  return cp === undefined ? '' : String.fromCodePoint(cp);
}

// ---------- the app-wide state ----------

const state = {
  /** `{session, rooms}` from initMentions. */
  app: null,
  /** Newest first: `{key, roomID, roomName, from, who, time, text, id, read}`. */
  items: [],
  /** Keys of every mention listed since sign-in (bounded), in arrival order. */
  seen: new Set(),
  renderQueued: false,
  /** Per room: `{last, pending: [item], timer}` for the notification rate limit. */
  notifyRooms: new Map(),
  /** null until asked, then whether the system lets the app notify. */
  permission: null,
  /** Whether the window has the focus, as the window's own events last said. */
  windowFocused: true,
  /** The notifications sent (newest last, bounded): what the window tests read. */
  sent: [],
};

/** The user's on/off choice for desktop notifications (on unless turned off). */
export const notifySetting = {
  listeners: new Set(),
  get on() {
    return localStorage.getItem(NOTIFY_KEY) !== 'off';
  },
  set(on) {
    localStorage.setItem(NOTIFY_KEY, on ? 'on' : 'off');
    if (on) askPermission();
    for (const f of this.listeners) f(on);
  },
  /** Calls `f(on)` after each change. */
  subscribe(f) {
    this.listeners.add(f);
  },
};

/** My names as a mention would write them: nick and userID (nothing for a guest). */
function myNames(session) {
  const me = session && session.me;
  return me ? [me.nick, me.userID].filter(Boolean) : [];
}

/** Whether message `m` in `pane` mentions the signed-in user. */
function isMention(pane, m) {
  if (!m || m.__line || m.type !== 'TIMTextElem') return false;
  const me = pane.session.me;
  if (!me || m.flow === 'out' || m.from === me.userID) return false;
  return namesAny(m.payload && m.payload.text, myNames(pane.session));
}

function keyOf(roomID, m) {
  return `${roomID}\n${m.ID || m.sequence || `${m.time}/${m.from}/${m.payload && m.payload.text}`}`;
}

/** Whether the user is looking at this room now (the window focused, the room shown). */
function looking(roomID) {
  const rooms = state.app && state.app.rooms;
  if (!rooms || !focused()) return false;
  const pane = rooms.panes.get(roomID);
  return !!pane && !pane.el.hidden;
}

/** Whether the window has the focus: the document's view and the window's events agree. */
function focused() {
  return document.hasFocus() && state.windowFocused && document.visibilityState !== 'hidden';
}

/** A mention arrived in `pane`: listed (once), and notified when the user is elsewhere. */
function add(pane, m) {
  const key = keyOf(pane.roomID, m);
  if (state.seen.has(key)) return;
  state.seen.add(key);
  if (state.seen.size > MAX_SEEN) state.seen.delete(state.seen.values().next().value);
  const item = {
    key,
    roomID: pane.roomID,
    roomName: (pane.group && pane.group.name) || pane.roomID,
    from: m.from || '',
    who: m.nick || m.from || t('guest'),
    time: Number(m.time) || Date.now() / 1000,
    text: preview((m.payload && m.payload.text) || ''),
    id: m.ID || '',
    read: looking(pane.roomID),
  };
  // Newest first; history can bring older ones than those listed.
  let i = 0;
  while (i < state.items.length && state.items[i].time > item.time) i++;
  state.items.splice(i, 0, item);
  if (state.items.length > MAX_MENTIONS) state.items.length = MAX_MENTIONS;
  scheduleRender();
  if (!focused() && Date.now() / 1000 - item.time < NOTIFY_RECENT_S) notifyLater(item);
}

function preview(text) {
  const s = String(text);
  return s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS)}…` : s;
}

/** Forgets every mention (signed out). */
function reset() {
  state.items = [];
  state.seen.clear();
  for (const r of state.notifyRooms.values()) clearTimeout(r.timer);
  state.notifyRooms.clear();
  render();
}

// ---------- desktop notifications ----------

/**
 * Rate limit: the first mention of a room notifies at once; those within NOTIFY_EVERY_MS
 * after it wait, and are told in one notification when that time is up (if the window is
 * still not focused).
 */
function notifyLater(item) {
  if (!notifySetting.on) return;
  const now = Date.now();
  let r = state.notifyRooms.get(item.roomID);
  if (!r) {
    r = { last: -Infinity, pending: [], timer: 0 };
    state.notifyRooms.set(item.roomID, r);
  }
  if (now - r.last >= NOTIFY_EVERY_MS && !r.timer) {
    r.last = now;
    notify([item]);
    return;
  }
  r.pending.push(item);
  if (!r.timer) {
    r.timer = setTimeout(() => {
      r.timer = 0;
      const batch = r.pending;
      r.pending = [];
      if (!batch.length || focused() || !notifySetting.on) return;
      r.last = Date.now();
      notify(batch);
    }, Math.max(0, r.last + NOTIFY_EVERY_MS - now));
  }
}

/** Asks (once) whether the app may notify; the system's answer is kept. */
async function askPermission() {
  if (state.permission !== null) return state.permission;
  try {
    let granted = await invoke('plugin:notification|is_permission_granted');
    if (granted === null || granted === undefined) {
      granted = (await invoke('plugin:notification|request_permission')) === 'granted';
    }
    state.permission = !!granted;
  } catch (e) {
    console.warn('notification permission', e);
    state.permission = false;
  }
  return state.permission;
}

/** One notification for `batch` (mentions of one room, oldest first): plain text only. */
async function notify(batch) {
  const last = batch[batch.length - 1];
  const title = batch.length === 1 ? `${last.roomName} · ${last.who}` : `${last.roomName} · ${t('mnMany').replace('{n}', String(batch.length))}`;
  const body = batch.length === 1 ? last.text : `${last.who}: ${last.text}`;
  const record = { roomID: last.roomID, title, body, count: batch.length, at: Date.now(), ok: null };
  state.sent.push(record);
  if (state.sent.length > 50) state.sent.shift();
  if (!(await askPermission())) {
    record.ok = false;
    return;
  }
  try {
    await invoke('plugin:notification|notify', { options: { title, body: BODY_IS_MARKUP ? escapeMarkup(body) : body } });
    record.ok = true;
  } catch (e) {
    record.ok = false;
    record.error = String((e && e.message) || e);
    console.warn('notification failed', e);
  }
}

function escapeMarkup(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ---------- the list ----------

function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    render();
  });
}

function box() {
  return $('mentions-box');
}

/** Builds the box's fixed parts (once). */
function buildBox() {
  const el = box();
  el.replaceChildren();
  const head = document.createElement('div');
  head.className = 'mentions-head';
  const title = document.createElement('span');
  title.className = 'box-title';
  title.dataset.i18n = 'mnTitle';
  title.textContent = t('mnTitle');
  const unread = document.createElement('span');
  unread.className = 'mentions-unread';
  unread.hidden = true;
  const spacer = document.createElement('span');
  spacer.className = 'spacer';
  const bell = document.createElement('button');
  bell.type = 'button';
  bell.className = 'ghost mentions-bell';
  bell.addEventListener('click', () => notifySetting.set(!notifySetting.on));
  const read = document.createElement('button');
  read.type = 'button';
  read.className = 'ghost mentions-read';
  read.textContent = '✓';
  read.addEventListener('click', () => {
    for (const i of state.items) i.read = true;
    render();
  });
  head.append(title, unread, spacer, bell, read);
  const list = document.createElement('ul');
  list.className = 'mentions-list';
  el.append(head, list);
  labelBox();
}

/** The box's labels that JS writes (language switch, setting changed). */
function labelBox() {
  const el = box();
  const bell = el.querySelector('.mentions-bell');
  if (!bell) return;
  const on = notifySetting.on;
  bell.textContent = on ? '🔔' : '🔕';
  bell.title = t(on ? 'mnNotifyOn' : 'mnNotifyOff');
  bell.setAttribute('aria-pressed', String(on));
  bell.classList.toggle('off', !on);
  const read = el.querySelector('.mentions-read');
  read.title = t('mnMarkRead');
  read.setAttribute('aria-label', t('mnMarkRead'));
  el.querySelector('.mentions-unread').title = t('mnUnread');
}

function fmtClock(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function render() {
  const el = box();
  if (!el) return;
  el.hidden = state.items.length === 0;
  const list = el.querySelector('.mentions-list');
  if (!list) return;
  list.replaceChildren();
  for (const item of state.items) list.appendChild(itemRow(item));
  const n = state.items.filter((i) => !i.read).length;
  const badge = el.querySelector('.mentions-unread');
  badge.hidden = n === 0;
  badge.textContent = n > 99 ? '99+' : String(n);
  el.dataset.unread = String(n);
}

/** One mention: room, who and time, then the text (all as text). */
function itemRow(item) {
  const li = document.createElement('li');
  li.dataset.room = item.roomID;
  if (item.id) li.dataset.id = item.id;
  if (!item.read) li.classList.add('unread');
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'mn-item';
  const meta = document.createElement('span');
  meta.className = 'mn-meta';
  const room = document.createElement('span');
  room.className = 'mn-room';
  room.textContent = item.roomName;
  const who = document.createElement('span');
  who.className = 'mn-who';
  who.textContent = item.who;
  const time = document.createElement('time');
  time.className = 'mn-time';
  time.dateTime = new Date(item.time * 1000).toISOString();
  time.textContent = fmtClock(item.time);
  meta.append(room, who, time);
  const text = document.createElement('span');
  text.className = 'mn-text';
  text.textContent = item.text;
  b.append(meta, text);
  b.addEventListener('click', () => jump(item));
  li.appendChild(b);
  return li;
}

/** Shows the mention's room and scrolls its chat to the message (ChatList.reveal flashes it). */
async function jump(item) {
  item.read = true;
  render();
  const rooms = state.app.rooms;
  const entered = !rooms.panes.has(item.roomID);
  if (entered) {
    try {
      await rooms.enter(item.roomID);
    } catch (e) {
      showError(e);
      return;
    }
  }
  rooms.activate(item.roomID);
  const pane = rooms.panes.get(item.roomID);
  if (!pane || !item.id) return;
  const pred = (m) => !!m && !m.__line && m.ID === item.id;
  // A room entered again gets its history as events, maybe just after the entry resolved.
  for (let waited = 0; !pane.list.reveal(pred); waited += REVEAL_RETRY_MS) {
    if (!entered || waited >= REVEAL_WAIT_MS) {
      toast(t('mnGone'));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, REVEAL_RETRY_MS));
  }
}

// ---------- the pane feature and the app-wide part ----------

export const mentions = {
  name: 'mentions',
  mount(pane) {
    return {
      receive(messages) {
        for (const m of messages) if (isMention(pane, m)) add(pane, m);
      },
      decorate(li, m) {
        if (isMention(pane, m)) li.classList.add('mention');
      },
      // Leaving the room keeps its mentions listed: a click enters it again.
    };
  },
};

/** The app-wide part: `{session, rooms}`. */
export function initMentions(app) {
  state.app = app;
  buildBox();
  render();
  notifySetting.subscribe(() => labelBox());
  onLangChange(() => {
    labelBox();
    render();
  });
  // Signed out (logout, kicked out, a guest changing server): the main screen hides.
  const main = $('screen-main');
  new MutationObserver(() => {
    if (main.hidden) reset();
  }).observe(main, { attributes: true, attributeFilter: ['hidden'] });
  // The window's focus as the window manager tells it (document.hasFocus() alone can lag).
  window.addEventListener('focus', () => (state.windowFocused = true));
  window.addEventListener('blur', () => (state.windowFocused = false));
  window.liveroomMentions = {
    get items() {
      return state.items.map((i) => ({ ...i }));
    },
    get sent() {
      return state.sent.map((s) => ({ ...s }));
    },
    focused,
  };
}
