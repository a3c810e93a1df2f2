// The room pane's search (issue 15). A pane feature (see ../pane-features.js): `open()` shows
// a search bar in the pane's `.search-slot` (Ctrl+F is bound to it by shortcuts.js; the 🔍
// button in `.pane-tools` opens it too), Escape closes it.
//
// The query: plain words (all must appear, case-insensitive, in the text, the gift's name or
// the nick), `"quoted phrases"`, `from:USER` (userID or nick; `from:"Two Words"`), `has:image`,
// `is:gift`, in any combination: the same rules as the logs' search (src-tauri's
// chat_log/search.rs). It searches what the app holds of the room (the chat list's rows,
// chat-list.js `items()`) and, while chat logs are on, the room's logs on disk
// (`search_chat_logs`): merged newest first, each message once (by ID), at most MAX_RESULTS.
// A result the app holds jumps to its row (`reveal`: scrolled into view, flashed); one found
// only in the logs shows its date and says it is from the logs.

import { t, addStrings, giftName } from '../i18n.js';
import { invoke } from '../tauri.js';
import { chatLogsOn } from './chat-logs.js';
import { GIFT_DATA } from '../room.js';

/** Results shown at most (and asked of the logs). */
export const MAX_RESULTS = 200;
/** Typing pauses this long before a search runs (Enter runs it at once). */
const TYPE_PAUSE_MS = 250;

addStrings({
  en: {
    srButton: 'Search (Ctrl+F)',
    srPlaceholder: 'Search: words, from:user, has:image, is:gift',
    srClose: 'Close search (Esc)',
    srNone: 'No messages found',
    srCount: '{n} found',
    srCountMore: '{n} found (more in the logs: narrow the search)',
    srFromLogs: 'from the logs',
    srLogsOff: 'Searching what this window holds; turn on chat logs (Logs) to search older messages too.',
    srPicture: '[picture]',
    srGift: 'sent',
    srLogsFailed: 'The logs could not be searched: ',
  },
  zh: {
    srButton: '搜索（Ctrl+F）',
    srPlaceholder: '搜索：关键词、from:用户、has:image、is:gift',
    srClose: '关闭搜索（Esc）',
    srNone: '没有找到消息',
    srCount: '找到 {n} 条',
    srCountMore: '找到 {n} 条（记录中还有更多：请缩小范围）',
    srFromLogs: '来自聊天记录',
    srLogsOff: '正在搜索本窗口中的消息；开启聊天记录后可搜索更早的消息。',
    srPicture: '[图片]',
    srGift: '送出',
    srLogsFailed: '无法搜索聊天记录：',
  },
});

/**
 * Parses a query: `{words, from, hasImage, isGift}` (words and from: lowercased). Any other
 * `x:y` is a plain word.
 */
export function parseQuery(text) {
  const q = { words: [], from: [], hasImage: false, isGift: false };
  for (const token of tokens(String(text || ''))) {
    const lower = token.toLowerCase();
    if (lower.startsWith('from:')) {
      if (lower.length > 5) q.from.push(lower.slice(5));
    } else if (lower === 'has:image' || lower === 'has:picture' || lower === 'has:pic') {
      q.hasImage = true;
    } else if (lower === 'is:gift') {
      q.isGift = true;
    } else {
      q.words.push(lower);
    }
  }
  return q;
}

/** Whether a query asks for anything (an empty one finds nothing). */
export function isEmptyQuery(q) {
  return !q.words.length && !q.from.length && !q.hasImage && !q.isGift;
}

/** Splits on white space; `"..."` is one token without its quotes. */
function tokens(text) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    else if (/\s/.test(c) && !quoted) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

/** A room message as search reads it: `{id, unix, kind, from, nick, text, gift, count, picture}`. */
function fromMessage(m) {
  const p = m.payload || {};
  const base = { id: m.ID || '', unix: Number(m.time) || 0, from: m.from || '', nick: m.nick || '' };
  switch (m.type) {
    case 'TIMTextElem':
      return { ...base, kind: 'text', text: String(p.text ?? '') };
    case 'TIMImageElem': {
      const arr = p.imageInfoArray || [];
      const original = arr.find((i) => i.sizeType === 1) || arr[0];
      return { ...base, kind: 'picture', picture: (original && original.url) || '' };
    }
    case 'TIMCustomElem': {
      if (p.data === GIFT_DATA) {
        let count = 1;
        try {
          count = Number(JSON.parse(p.extension || '{}').count) || 1;
        } catch {
          /* a foreign gift format: count 1 */
        }
        return { ...base, kind: 'gift', gift: String(p.description ?? ''), count };
      }
      return { ...base, kind: 'custom', text: [p.data, p.description, p.extension].filter(Boolean).join(' · ') };
    }
    default:
      return null;
  }
}

/** A log record (chat_log/record.rs) as search reads it. */
function fromRecord(r) {
  return {
    id: r.ID || '',
    unix: Number(r.unix) || 0,
    kind: r.kind,
    from: r.from || '',
    nick: r.nick || '',
    text: r.text ?? (r.kind === 'custom' ? [r.data, r.description, r.extension].filter(Boolean).join(' · ') : undefined),
    gift: r.gift,
    count: r.count,
    picture: r.picture,
  };
}

const SEARCHED = ['text', 'picture', 'gift', 'custom'];

/** Whether a result (fromMessage/fromRecord) matches the query. */
export function matches(q, r) {
  // What people post, as the chat shows it (the logs also hold likes, joins, notices...).
  if (!r || !SEARCHED.includes(r.kind) || isEmptyQuery(q)) return false;
  if (q.hasImage && r.kind !== 'picture') return false;
  if (q.isGift && r.kind !== 'gift') return false;
  if (q.from.length) {
    const from = r.from.toLowerCase();
    const nick = r.nick.toLowerCase();
    if (!q.from.some((f) => f === from || f === nick)) return false;
  }
  if (!q.words.length) return true;
  // The gift both by its id (as the logs know it) and by its name in either language.
  const hay = [r.text, r.gift, r.gift && giftName(r.gift), r.nick].filter(Boolean).join('\n').toLowerCase();
  return q.words.every((w) => hay.includes(w));
}

export const search = {
  name: 'search',
  mount(pane) {
    return new PaneSearch(pane);
  },
};

class PaneSearch {
  constructor(pane) {
    this.pane = pane;
    this.runs = 0;
    this.timer = 0;

    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.className = 'ghost btn-search';
    this.button.textContent = '🔍';
    this.button.addEventListener('click', () => (this.bar.hidden ? this.open() : this.close()));
    const tools = pane.el.querySelector('.pane-tools');
    if (tools) tools.appendChild(this.button);

    this.bar = document.createElement('div');
    this.bar.className = 'search-bar';
    this.bar.hidden = true;
    const row = document.createElement('div');
    row.className = 'search-row';
    this.input = document.createElement('input');
    this.input.className = 'search-input';
    this.input.type = 'search';
    this.input.maxLength = 500;
    this.input.spellcheck = false;
    this.status = document.createElement('span');
    this.status.className = 'search-status';
    this.closeBtn = document.createElement('button');
    this.closeBtn.type = 'button';
    this.closeBtn.className = 'ghost search-close';
    this.closeBtn.textContent = '✕';
    row.append(this.input, this.status, this.closeBtn);
    this.hint = document.createElement('p');
    this.hint.className = 'search-hint';
    this.hint.hidden = true;
    this.list = document.createElement('ol');
    this.list.className = 'search-results';
    this.bar.append(row, this.hint, this.list);
    const slot = pane.el.querySelector('.search-slot');
    if (slot) slot.appendChild(this.bar);

    this.input.addEventListener('input', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(), TYPE_PAUSE_MS);
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        this.close();
      } else if (e.key === 'Enter') {
        e.preventDefault();
        clearTimeout(this.timer);
        this.run();
      }
    });
    this.bar.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        this.close();
      }
    });
    this.closeBtn.addEventListener('click', () => this.close());
    this.list.addEventListener('click', (e) => {
      const li = e.target.closest('li.search-result');
      if (li && li.__item) this.pane.list.reveal((item) => item === li.__item);
    });
    this.relabel();
  }

  /** Shows the search bar and focuses its field (its text selected, to type a new query). */
  open() {
    this.bar.hidden = false;
    this.pane.el.classList.add('searching');
    this.input.focus();
    this.input.select();
    if (this.input.value.trim()) this.run();
  }

  /** Hides the bar and its results (the query is kept for next time). */
  close() {
    clearTimeout(this.timer);
    this.runs++;
    this.bar.hidden = true;
    this.pane.el.classList.remove('searching');
    this.list.replaceChildren();
    this.status.textContent = '';
    this.hint.hidden = true;
  }

  get isOpen() {
    return !this.bar.hidden;
  }

  /** Searches the chat's rows now and the logs (when on), then shows both merged. */
  async run() {
    const run = ++this.runs;
    const text = this.input.value;
    const q = parseQuery(text);
    if (isEmptyQuery(q)) {
      this._done(text, [], false);
      return;
    }
    const held = [];
    const items = this.pane.list.items();
    for (let i = items.length - 1; i >= 0 && held.length < MAX_RESULTS; i--) {
      const item = items[i];
      const m = item.__line ? item.msg : item;
      const r = m && fromMessage(m);
      if (r && matches(q, r)) held.push({ ...r, item });
    }
    const logsOn = chatLogsOn();
    this.hint.textContent = t('srLogsOff');
    this.hint.hidden = logsOn;
    if (!logsOn) {
      this._done(text, held, false);
      return;
    }
    // What the app holds at once; the logs' results join it when they come.
    this.show(held, false, true);
    let found;
    try {
      found = await invoke('search_chat_logs', { options: { roomID: this.pane.roomID, query: text, limit: MAX_RESULTS } });
    } catch (err) {
      if (run !== this.runs) return;
      this.hint.textContent = `${t('srLogsFailed')}${(err && err.message) || err}`;
      this.hint.hidden = false;
      this._done(text, held, false);
      return;
    }
    if (run !== this.runs) return;
    // Merged newest first, each message once: the app's row wins (it can be jumped to).
    const ids = new Set(held.map((r) => r.id).filter(Boolean));
    const fromLogs = (found.results || [])
      .map(fromRecord)
      .filter((r) => !(r.id && ids.has(r.id)) && matches(q, r))
      .map((r) => ({ ...r, logged: true }));
    const all = [...held, ...fromLogs].sort((a, b) => b.unix - a.unix);
    this._done(text, all.slice(0, MAX_RESULTS), all.length > MAX_RESULTS || !found.complete);
  }

  /** The search for `text` is over: its results shown (`data-done` says which query). */
  _done(text, results, more) {
    this.show(results, more);
    this.bar.dataset.done = text;
  }

  /** Shows results (at most MAX_RESULTS rows), each with its time, who and the text. */
  show(results, more, partial) {
    this.lastResults = results;
    this.lastMore = more;
    const rows = results.slice(0, MAX_RESULTS).map((r) => this._row(r));
    this.list.replaceChildren(...rows);
    this.list.hidden = !rows.length;
    if (partial && !rows.length) {
      this.status.textContent = '';
      return;
    }
    this.status.textContent = rows.length
      ? t(more ? 'srCountMore' : 'srCount').replace('{n}', String(rows.length))
      : t('srNone');
  }

  _row(r) {
    const li = document.createElement('li');
    li.className = `search-result ${r.logged ? 'from-logs' : 'held'}`;
    li.dataset.kind = r.kind;
    if (r.id) li.dataset.id = r.id;
    if (r.item) li.__item = r.item;
    const when = document.createElement('time');
    when.className = 'sr-time';
    const d = new Date(r.unix * 1000);
    // What the app holds is from this session: the time says enough. From the logs: the date.
    when.textContent = r.logged ? d.toLocaleString() : d.toLocaleTimeString();
    when.dateTime = d.toISOString();
    const who = document.createElement('span');
    who.className = 'sr-who';
    who.textContent = r.nick && r.nick !== r.from ? `${r.nick} (${r.from})` : r.from;
    const what = document.createElement('span');
    what.className = 'sr-text';
    what.textContent = describe(r);
    li.append(when, who, what);
    if (r.logged) {
      const tag = document.createElement('span');
      tag.className = 'sr-tag';
      tag.textContent = t('srFromLogs');
      li.append(tag);
    }
    return li;
  }

  relabel() {
    this.button.title = t('srButton');
    this.input.placeholder = t('srPlaceholder');
    this.closeBtn.title = t('srClose');
    if (this.isOpen && this.lastResults) this.show(this.lastResults, this.lastMore);
    if (!this.hint.hidden && !chatLogsOn()) this.hint.textContent = t('srLogsOff');
  }

  destroy() {
    clearTimeout(this.timer);
    this.runs++;
  }
}

/** The text of a result, as a person reads it. */
function describe(r) {
  switch (r.kind) {
    case 'picture':
      return t('srPicture');
    case 'gift':
      return `${t('srGift')} ${giftName(r.gift || '')}${r.count > 1 ? ` x${r.count}` : ''}`;
    default:
      return r.text || '';
  }
}
