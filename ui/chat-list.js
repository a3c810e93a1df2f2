// A bounded, virtualized chat list: the backlog is kept as data, and only the rows in and near
// the view are in the DOM (their elements built on demand). What scrolled out of the window is
// stood in for by two spacer items (`li.chat-space`, first and last in the list), sized from
// the rows' measured heights (or an estimate until a row has been on screen).
//
// Per animation frame at most one pass: read the scroll position first, then write (rows in and
// out, the spacers, the scroll position), then one read of the new extent. Row heights come from
// a ResizeObserver (after layout, before paint), so a picture that loads later or text that wraps
// differently corrects the spacers and the scroll position before anything is drawn.
//
// New rows are drawn by a scheduler shared by every list on the page: each list at most every
// other frame while rows stream in, and only `drawPace.perFrame` lists per frame (the others
// on the next one, oldest first). A busy room, or five side by side, then cost a few short
// frames instead of every frame doing everything, and input (a key press, a scroll) is never
// held up. The user's own message and the user's scrolling are drawn at once.
//
// The list follows the newest row while the view is at the bottom. Once the user scrolls up it
// stays where it is (rows dropped off the top of the backlog are compensated) and counts what
// arrives below (`onUnseen(n)`), until the user comes back down or calls `scrollToBottom()`.

/** Rows kept in the backlog while the view follows the newest one. */
export const MAX_ITEMS = 1000;
/** While the user reads further up, rows above the view are still dropped, never those in it,
 *  up to this many. */
export const HARD_MAX_ITEMS = 4 * MAX_ITEMS;
/** Most rows in the DOM at once. */
export const MAX_DOM_ROWS = 120;
/** Pixels of rows kept rendered above and below the view (at least one view's height). */
const OVERSCAN_PX = 600;
/** Rows rendered while the list has no size (its pane is hidden): the newest ones. */
const HIDDEN_ROWS = 30;
/** Within this many pixels of the end, the view counts as at the bottom. */
const AT_BOTTOM_PX = 16;
/** An upward move of more than this leaves the bottom. */
const LEFT_BOTTOM_PX = 4;
/** Space under each row (CSS `.chat > li` margin-bottom): part of a row's slot. */
const ROW_GAP = 8;
/** The list's own padding at the top and bottom (CSS `.chat`), outside the spacers. */
const LIST_PAD = 12;
/**
 * The shared scheduler's pace: while rows stream in, a list draws them at most every
 * `minGapMs` (about every other frame), and at most `perFrame` lists draw new rows in one frame
 * (page-wide). An object, so that a benchmark can try other values.
 */
export const drawPace = { minGapMs: 33, perFrame: 1 };
/** First guesses of a row's height, per kind, until rows of that kind have been measured. */
const DEFAULT_HEIGHT = { msg: 52, line: 22 };

export class ChatList {
  /**
   * @param {HTMLElement} list  the scrolling element that holds the rows (`ol.chat`)
   * @param {object} opts
   * @param {(item: object) => HTMLElement} opts.render  builds a row for an item (on demand)
   * @param {(item: object) => string} [opts.kindOf]  a row kind, for height estimates
   * @param {(item: object) => boolean} [opts.counts]  whether it counts as unseen news
   * @param {(n: number) => void} [opts.onUnseen]  rows arrived below a view scrolled up
   * @param {(ms: number, rows: number) => void} [opts.onDrawn]  after each pass that added rows
   */
  constructor(list, opts) {
    this.list = list;
    this.render = opts.render;
    this.kindOf = opts.kindOf || (() => 'msg');
    this.counts = opts.counts || (() => true);
    this.onUnseen = opts.onUnseen || (() => {});
    this.onDrawn = opts.onDrawn || (() => {});
    this.lastDraw = -Infinity;
    this.max = opts.max || MAX_ITEMS;
    this.entries = [];
    this.queued = [];
    this.seq = 0;
    this.rendered = new Set();
    this.byEl = new WeakMap();
    this.stuck = true;
    // Set when the view must keep following whatever the next read says (our own change or a
    // resize moved the end, or the user asked for the newest row).
    this.follow = false;
    this.unseen = 0;
    /** The entry `reveal` is to scroll to once the list has a size. */
    this.revealing = null;
    this.pinnedTop = 0;
    this.anchorSeq = Infinity;
    this.shiftAbove = 0;
    this.viewH = 0;
    this.viewW = 0;
    this.frame = 0;
    this.measured = {};
    this.pads = '';
    this.above = spacer();
    this.below = spacer();
    list.append(this.above, this.below);
    list.style.setProperty('overflow-anchor', 'none');
    // Our own scrolling (to the bottom, compensations) needs no second pass.
    this._onScroll = () => {
      if (this.list.scrollTop !== this.pinnedTop) this._schedule();
    };
    list.addEventListener('scroll', this._onScroll, { passive: true });
    this.rowObserver = new ResizeObserver((records) => this._measured(records));
    this.viewObserver = new ResizeObserver((records) => this._resized(records));
    this.viewObserver.observe(list, { box: 'border-box' });
    // Off screen (a hidden pane, or one scrolled out of the side-by-side view) nothing is
    // drawn: rows wait as data until the list is seen again.
    this.onScreen = true;
    this.screenObserver = new IntersectionObserver((records) => {
      const seen = records[records.length - 1].isIntersecting;
      if (seen === this.onScreen) return;
      this.onScreen = seen;
      if (seen) {
        if (this.stuck) this.follow = true;
        this._schedule();
      }
    });
    this.screenObserver.observe(list);
  }

  /** How many rows the backlog holds (drawn or not). */
  get length() {
    return this.entries.length + this.queued.length;
  }

  /** Rows now in the DOM. */
  get domRows() {
    return this.rendered.size;
  }

  /** Queues a row; the shared scheduler draws it within a frame or two. Returns its entry. */
  add(item) {
    const entry = { item, seq: ++this.seq, h: 0, guess: 0, el: null };
    this.queued.push(entry);
    // A flood while nothing is drawn (between frames, or off screen): only the newest rows
    // can still be kept (as many as the backlog holds, more if the user reads further up).
    const bound = this.stuck ? this.max : HARD_MAX_ITEMS;
    if (this.queued.length > bound) this.queued.splice(0, this.queued.length - bound);
    drawLater(this);
    return entry;
  }

  /** Adds a row and draws it at once, scrolled into view (the user's own message). */
  addNow(item) {
    const entry = this.add(item);
    this.follow = true;
    this.flush();
    return entry;
  }

  /** The entry of a drawn row element, if it is one of ours. */
  entryOf(el) {
    return (el && this.byEl.get(el)) || null;
  }

  /** The items of the backlog, oldest first (drawn or not): what the app holds of the room. */
  items() {
    return [...this.entries.map((e) => e.item), ...this.queued.map((e) => e.item)];
  }

  /**
   * Scrolls the newest row whose item matches `pred` into view (the list stops following the
   * newest row) and flashes it (class `chat-flash` for `FLASH_MS`). A list without a size (its
   * pane hidden) does it when it is shown. Returns whether such a row is held.
   * @param {(item: object) => boolean} pred
   * @returns {boolean}
   */
  reveal(pred) {
    this.flush();
    let i = this.entries.length - 1;
    while (i >= 0 && !pred(this.entries[i].item)) i--;
    if (i < 0) return false;
    const e = this.entries[i];
    e.flashUntil = performance.now() + FLASH_MS;
    if (e.el) flashRow(e.el);
    this.revealing = e;
    if (this.viewH > 0) this._revealNow();
    return true;
  }

  /** Rebuilds a row from its (changed) item, if it is drawn. */
  refresh(entry) {
    if (!entry || !entry.el) return;
    const old = entry.el;
    this.rowObserver.unobserve(old);
    entry.el = this.render(entry.item);
    this.byEl.set(entry.el, entry);
    old.replaceWith(entry.el);
    this.rowObserver.observe(entry.el, { box: 'border-box' });
  }

  /** Drops the rows whose item matches `pred` (drawn or queued). */
  remove(pred) {
    this.queued = this.queued.filter((e) => !pred(e.item));
    const kept = [];
    for (const e of this.entries) {
      if (!pred(e.item)) {
        kept.push(e);
        continue;
      }
      if (e.seq < this.anchorSeq) this.shiftAbove += this._slot(e);
      this._unrender(e);
    }
    if (kept.length !== this.entries.length) {
      this.entries = kept;
      if (this.stuck) this.follow = true;
      this._schedule();
    }
  }

  /** Follows the newest row again (the "new messages" button). */
  scrollToBottom() {
    this.follow = true;
    this._setUnseen(0);
    this.flush();
  }

  /** Draws now what is queued (cancelling the pending frame). */
  flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    waiting.delete(this);
    const t0 = performance.now();
    const rows = this.queued.length;
    this._update();
    if (rows) {
      this.lastDraw = t0;
      this.onDrawn(performance.now() - t0, rows);
    }
  }

  destroy() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    waiting.delete(this);
    this.list.removeEventListener('scroll', this._onScroll);
    this.rowObserver.disconnect();
    this.viewObserver.disconnect();
    this.screenObserver.disconnect();
    this.entries = [];
    this.queued = [];
    this.rendered.clear();
  }

  /** Places the view on the row `reveal` asked for: first by the rows' slots (it may not be
   *  drawn yet), then, once drawn, centred by its real box. */
  _revealNow() {
    const e = this.revealing;
    this.revealing = null;
    const i = this._indexOf(e);
    if (i >= this.entries.length || this.entries[i] !== e) return;
    let y = LIST_PAD;
    for (let k = 0; k < i; k++) y += this._slot(this.entries[k]);
    this.stuck = false;
    this.follow = false;
    this.list.scrollTop = Math.max(0, y - Math.max(0, (this.viewH - this._slot(e)) / 2));
    this._update();
    if (!e.el) return;
    const list = this.list.getBoundingClientRect();
    const row = e.el.getBoundingClientRect();
    this.list.scrollTop += row.top - list.top - Math.max(0, (list.height - row.height) / 2);
    this._remember();
    // The user reads here now: rows that arrive count as unseen, the view stays.
    this._followUser(this.list.scrollTop, this.list.scrollHeight - this.list.clientHeight);
    this._schedule();
  }

  // ---------- one pass ----------

  _schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  _update() {
    const list = this.list;
    // Reads first.
    const top = list.scrollTop;
    const viewH = this.viewH;
    if (this.follow || (this.stuck && this._resizedUntold())) {
      this.stuck = true;
      this.follow = false;
    } else if (viewH > 0) {
      this._followUser(top, list.scrollHeight - list.clientHeight);
    }
    if (this.stuck) this._setUnseen(0);

    // The model: new rows in, the oldest out.
    const added = this.queued;
    this.queued = [];
    for (const e of added) this.entries.push(e);
    if (!this.stuck) {
      let news = 0;
      for (const e of added) if (this.counts(e.item)) news++;
      if (news) this._setUnseen(this.unseen + news);
    }
    let shift = this.shiftAbove;
    this.shiftAbove = 0;
    shift += this._evict();

    // The window of rows to draw.
    const [a, b] = this._window(top - shift, viewH);

    // Writes: rows out, rows in (in order), the spacers.
    const firstSeq = a < b ? this.entries[a].seq : Infinity;
    const lastSeq = a < b ? this.entries[b - 1].seq : -Infinity;
    for (const e of [...this.rendered]) if (e.seq < firstSeq || e.seq > lastSeq) this._unrender(e);
    let next = this.below;
    for (let i = b - 1; i >= a; i--) {
      const e = this.entries[i];
      if (!e.el) {
        e.el = this.render(e.item);
        this.byEl.set(e.el, e);
        if (e.flashUntil > performance.now()) flashRow(e.el, e.flashUntil - performance.now());
        list.insertBefore(e.el, next);
        this.rendered.add(e);
        this.rowObserver.observe(e.el, { box: 'border-box' });
      }
      next = e.el;
    }
    let padTop = 0;
    for (let i = 0; i < a; i++) padTop += this._slot(this.entries[i]);
    let padBottom = 0;
    for (let i = b; i < this.entries.length; i++) padBottom += this._slot(this.entries[i]);
    const pads = `${padTop} ${padBottom}`;
    if (pads !== this.pads) {
      this.pads = pads;
      this.above.style.setProperty('height', `${padTop}px`);
      this.below.style.setProperty('height', `${padBottom}px`);
    }

    // The scroll position, then one read of the new extent (the frame's layout).
    if (this.stuck) {
      list.scrollTop = list.scrollHeight;
    } else if (shift) {
      list.scrollTop = Math.max(0, top - shift);
    }
    this._remember();
    this.anchorSeq = this._firstVisibleSeq(a, b, padTop);
  }

  /** Drops the oldest rows beyond the bound; returns the height removed above the view. */
  _evict() {
    const n = this.entries.length;
    let over = n - this.max;
    if (over <= 0) return 0;
    if (!this.stuck) {
      // Keep what the user is reading: only rows above the drawn window go, unless the
      // backlog reaches the hard bound.
      let firstDrawn = n;
      for (const e of this.rendered) firstDrawn = Math.min(firstDrawn, this._indexOf(e));
      over = Math.max(Math.min(over, firstDrawn), n - HARD_MAX_ITEMS);
      if (over <= 0) return 0;
    }
    let height = 0;
    for (const e of this.entries.splice(0, over)) {
      height += this._slot(e);
      this._unrender(e);
    }
    return height;
  }

  /** The rows to draw: `[a, b)` of `entries`, for a view starting at `top` (content px). */
  _window(top, viewH) {
    const n = this.entries.length;
    if (!n) return [0, 0];
    if (viewH <= 0) return [Math.max(0, n - HIDDEN_ROWS), n];
    const over = Math.max(OVERSCAN_PX, viewH);
    if (this.stuck) {
      // The newest rows that fill the view, then above it only rows already drawn: under a
      // flood a frame's rows can outnumber what fits, and those would never be seen.
      let need = viewH + over;
      let view = viewH;
      let a = n;
      while (a > 0 && need > 0 && n - a < MAX_DOM_ROWS) {
        const e = this.entries[a - 1];
        if (view <= 0 && !e.el) break;
        const slot = this._slot(e);
        need -= slot;
        view -= slot;
        a--;
      }
      return [a, n];
    }
    const from = top - LIST_PAD - over;
    const to = top - LIST_PAD + viewH + over;
    let y = 0;
    let a = 0;
    while (a < n - 1 && y + this._slot(this.entries[a]) <= from) y += this._slot(this.entries[a++]);
    let b = a;
    while (b < n && y < to && b - a < MAX_DOM_ROWS) y += this._slot(this.entries[b++]);
    return [a, Math.max(b, a + 1)];
  }

  /** The first row (by seq) at or below the top of the view: rows before it are "above". */
  _firstVisibleSeq(a, b, padTop) {
    const top = this.list.scrollTop - LIST_PAD;
    let y = padTop;
    for (let i = a; i < b; i++) {
      const e = this.entries[i];
      y += this._slot(e);
      if (y > top) return e.seq;
    }
    return Infinity;
  }

  /**
   * Reads the user's intent from where the view is: at the end it follows; moved up since we
   * last placed it (and not merely clamped by a shorter list) it stays.
   */
  _followUser(top, maxTop) {
    if (top >= maxTop - AT_BOTTOM_PX) this.stuck = true;
    else if (this.stuck && top < this.pinnedTop - LEFT_BOTTOM_PX) this.stuck = false;
  }

  /**
   * Whether the view changed size since its ResizeObserver last said (it reports after this
   * frame's draw, and a page that was not drawn for a while reports late): the browser may
   * have moved scrollTop for it (a view that grew is pulled up), which is no scroll of the
   * user's, so a list that follows goes on following.
   */
  _resizedUntold() {
    return Math.abs(this.list.clientHeight - this.viewH) > 1;
  }

  /** Where the view ends up, for telling a user's scroll from ours next time. */
  _remember() {
    this.pinnedTop = this.list.scrollTop;
  }

  _unrender(e) {
    if (!e.el) return;
    this.rowObserver.unobserve(e.el);
    e.el.remove();
    e.el = null;
    this.rendered.delete(e);
  }

  _indexOf(e) {
    // Entries are in seq order: a binary search.
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.entries[mid].seq;
      if (s === e.seq) return mid;
      if (s < e.seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return this.entries.length;
  }

  /**
   * A row's height with its gap: measured, else a guess (the average of its kind so far),
   * kept until it is measured: a guess that moved with every new measurement would move the
   * rows of a view scrolled up.
   */
  _slot(e) {
    if (e.h) return e.h + ROW_GAP;
    if (!e.guess) {
      const kind = this.kindOf(e.item);
      const m = this.measured[kind];
      e.guess = (m ? m.sum / m.count : DEFAULT_HEIGHT[kind] || DEFAULT_HEIGHT.msg) + ROW_GAP;
    }
    return e.guess;
  }

  _setUnseen(n) {
    if (n === this.unseen) return;
    this.unseen = n;
    this.onUnseen(n);
  }

  // ---------- observers ----------

  /** Rows laid out (new, or resized: a picture loaded): keep their heights, keep the view. */
  _measured(records) {
    if (this.viewH <= 0) return;
    let shift = 0;
    for (const r of records) {
      const e = this.byEl.get(r.target);
      if (!e || e.el !== r.target) continue;
      const box = r.borderBoxSize && r.borderBoxSize[0];
      const h = box ? box.blockSize : r.target.offsetHeight;
      if (!h) continue;
      const before = this._slot(e);
      if (!e.h) {
        const kind = this.kindOf(e.item);
        const m = (this.measured[kind] ||= { sum: 0, count: 0 });
        m.sum += h;
        m.count++;
      }
      e.h = h;
      if (e.seq < this.anchorSeq) shift += e.h + ROW_GAP - before;
    }
    // A scroll of the user's since the last pass wins over following.
    if (this.stuck && !this.follow && !this._resizedUntold()) {
      this._followUser(this.list.scrollTop, this.list.scrollHeight - this.list.clientHeight);
    }
    if (this.stuck) {
      this.list.scrollTop = this.list.scrollHeight;
    } else if (shift) {
      this.list.scrollTop += shift;
    }
    this._remember();
  }

  /** The view changed size (shown, hidden, resized): widths change every row's height. */
  _resized(records) {
    const r = records[records.length - 1];
    const box = r.borderBoxSize && r.borderBoxSize[0];
    const w = box ? box.inlineSize : this.list.offsetWidth;
    // The list has no border and no horizontal scrollbar: its border box is the view.
    const h = box ? box.blockSize : this.list.clientHeight;
    if (w !== this.viewW && this.viewW > 0 && w > 0) {
      // Rows drawn now are measured again by their observer; the others are guessed.
      for (const e of this.entries) {
        if (!e.el) {
          e.h = 0;
          e.guess = 0;
        }
      }
    }
    this.viewW = w;
    this.viewH = h;
    if (this.revealing && h > 0) {
      this._revealNow();
      return;
    }
    if (this.stuck) this.follow = true;
    this._schedule();
  }
}

/** How long a row `reveal` found stays highlighted (CSS `li.chat-flash`, features/search.css). */
export const FLASH_MS = 2500;

/** Highlights a row for `ms` (or `FLASH_MS`). */
function flashRow(el, ms = FLASH_MS) {
  el.classList.add('chat-flash');
  setTimeout(() => el.classList.remove('chat-flash'), ms);
}

/** A spacer item: stands in for rows not in the DOM (no content, hidden from assistive tech). */
function spacer() {
  const li = document.createElement('li');
  li.className = 'chat-space';
  li.setAttribute('aria-hidden', 'true');
  li.setAttribute('role', 'presentation');
  return li;
}

// ---------- the shared scheduler for new rows ----------

/** Lists with rows to draw, oldest request first (a Set keeps insertion order). */
const waiting = new Set();
let drawFrame = 0;
/** When the user last typed or pressed a key, and whether a frame was already left to it. */
let inputAt = -Infinity;
let yielded = false;
for (const type of ['keydown', 'input']) {
  document.addEventListener(type, () => (inputAt = performance.now()), { capture: true, passive: true });
}

function drawLater(list) {
  waiting.add(list);
  if (!drawFrame && list.onScreen) drawFrame = requestAnimationFrame(drawSome);
}

/** One frame's share: lists that have not drawn in the last frame, `drawPace.perFrame` at most. */
function drawSome(now) {
  drawFrame = 0;
  // A key was pressed since the last frame: this frame draws what the user typed and nothing
  // else (one frame at most, so typing never starves the chat).
  if (inputAt > now - 16 && !yielded) {
    yielded = true;
    drawFrame = requestAnimationFrame(drawSome);
    return;
  }
  yielded = false;
  let drawn = 0;
  for (const list of [...waiting]) {
    if (drawn >= drawPace.perFrame) break;
    if (!list.onScreen || now - list.lastDraw < drawPace.minGapMs) continue;
    list.flush();
    list.lastDraw = now; // the frame's time, so that two frames later is always due
    drawn++;
  }
  // Lists off screen wait for their observer, not for frames.
  for (const list of waiting) {
    if (list.onScreen) {
      drawFrame = requestAnimationFrame(drawSome);
      break;
    }
  }
}

// For benchmarks and experiments in a running app.
window.liveroomChatPace = drawPace;
