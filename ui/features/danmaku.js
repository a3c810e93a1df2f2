// The room pane's danmaku (弹幕, issue 15): the room's chat flying right to left over its stage.
// A pane feature: see ../pane-features.js.
//
// Bounded everywhere, so a flood costs what a quiet room does:
// - at most RATE comments a second are let in (a token bucket); the excess is dropped and
//   counted, never queued;
// - at most MAX_NODES comments are in the layer at once (flying or waiting for a lane);
// - a comment waits at most MAX_WAIT_MS for a free lane, then is dropped and counted.
// Lanes never overlap: a lane takes a new comment only once the one before it has moved far
// enough that the two cannot meet before the earlier one leaves (given both speeds). Every
// comment of a stage crosses it in the same time (_flight), so a longer one flies faster.
// Comments move by transform only (the Web Animations API), in a contained layer: no layout
// per frame, nothing else paused.
// Likes are merged into one "+N ❤" a second; gifts say who sent what, with the gift's icon.
// User text goes through textContent only.

import { addStrings, t, giftName } from '../i18n.js';
import { giftIcon } from '../effects.js';
import { LIKE_DATA, GIFT_DATA } from '../room.js';

/** Comments let in per second at most (and the bucket's size: a burst of RATE at once). */
const RATE = 12;
/** Comments in the layer at once at most: flying, measured or waiting for a lane. */
const MAX_NODES = 48;
/** How long a comment may wait for a free lane before it is dropped. */
const MAX_WAIT_MS = 1500;
/** How long every comment of a stage takes to cross it (so longer ones fly faster): about
 *  FLIGHT_PX_S for a comment of average length, within FLIGHT_MIN_MS..FLIGHT_MAX_MS. A narrow
 *  stage (side by side) is crossed sooner, with fewer comments on it at once. */
const FLIGHT_PX_S = 150;
const FLIGHT_AVG_W = 240;
const FLIGHT_MIN_MS = 4000;
const FLIGHT_MAX_MS = 8000;
/** One lane's height (CSS `.dm`: 24px line + 2 × 2px padding, plus room between lanes). */
const LANE_H = 32;
/** Above the first lane. */
const TOP_PAD = 8;
/** The share of the stage's height the lanes use: the newest chat rows below stay readable. */
const LANE_SHARE = 0.72;
/** Space kept between two comments of a lane, at every moment. */
const GAP = 24;
/** Likes are merged over this long into one comment. */
const LIKE_EVERY_MS = 1000;
/** Messages this much older than the freshest seen (a backlog after a gap) do not fly. */
const MAX_AGE_S = 15;
/** The room's history comes with entering it, as message events that may trail the reply:
 *  nothing flies until this long after the pane entered its room. */
const HISTORY_GRACE_MS = 1000;
/** Finished comment nodes kept for reuse. */
const POOL = 16;
/** With danmaku on in several rooms on screen (the side-by-side view), comments move in
 *  steps of this long instead of every frame: WebKit without a GPU repaints what a moving
 *  comment passes over on every step, and five stages at 60 Hz cost the input its latency. */
const STEP_MS = 33;

/** The danmaku that are on, of every pane. */
const active = new Set();
/** How many of them are on screen now. */
const onScreen = () => [...active].filter((d) => !d.pane.el.hidden).length;

addStrings({
  en: {
    dm_toggle: 'Danmaku',
    dm_on: 'Danmaku on: the chat flies across the stage',
    dm_off: 'Show the chat flying across the stage (danmaku)',
    dm_dropped: 'dropped',
  },
  zh: {
    dm_toggle: '弹幕',
    dm_on: '弹幕已开启：聊天从画面上飞过',
    dm_off: '开启弹幕：聊天从画面上飞过',
    dm_dropped: '条未显示',
  },
});

/** Whether the user wants danmaku in rooms: kept per user (a guest counts as one user). */
function storageKey(pane) {
  const me = pane.session.me;
  return `liveroom.danmaku.${(me && me.userID) || 'guest'}`;
}

class Danmaku {
  constructor(pane) {
    this.pane = pane;
    this.layer = pane.el.querySelector('.fx-danmaku');
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.className = 'ghost btn-danmaku';
    this.button.dataset.i18n = 'dm_toggle';
    this.button.textContent = t('dm_toggle');
    this.button.addEventListener('click', () => this.toggle());
    pane.el.querySelector('.pane-tools').appendChild(this.button);
    this.on = false;
    /** When the pane (last) entered its room (`data-entered` set by rooms.js). */
    this.enteredAt = 0;
    /** The smallest lag (local clock − message time) seen: the clocks' offset, about. */
    this.skew = null;
    this.entering = new MutationObserver(() => {
      if (pane.el.dataset.entered) this.enteredAt = performance.now();
    });
    this.entering.observe(pane.el, { attributes: true, attributeFilter: ['data-entered'] });
    this._reset();
    let wanted = false;
    try {
      wanted = localStorage.getItem(storageKey(pane)) === '1';
    } catch {
      /* no storage: off */
    }
    this._set(wanted);
  }

  /** Turns danmaku on or off, and remembers the choice for this user. */
  toggle(on = !this.on) {
    this._set(on);
    try {
      localStorage.setItem(storageKey(this.pane), on ? '1' : '0');
    } catch {
      /* not kept */
    }
  }

  _set(on) {
    this._clear();
    this.on = !!on;
    if (this.on) active.add(this);
    else active.delete(this);
    this._reset();
    this.layer.classList.toggle('on', this.on);
    this.button.setAttribute('aria-pressed', String(this.on));
    this.button.classList.toggle('on', this.on);
    this._title();
  }

  /** Fresh state: no comment anywhere, counters at zero. */
  _reset() {
    /** Items let in, not built yet (built on the next frame). */
    this.incoming = [];
    /** Built and measured, waiting for a lane: `{node, w, at}`, in arrival order. */
    this.waiting = [];
    /** Per lane, the last comment sent into it: `{t0, w, v}` (start, width, px per ms). */
    this.lanes = [];
    /** Flying: node → its Animation. */
    this.flying = new Map();
    this.pool = [];
    this.tokens = RATE;
    this.refilled = performance.now();
    this.likes = 0;
    this.frame = 0;
    this.timer = 0;
    this.likeTimer = 0;
    this.width = 0;
    this.height = 0;
    /** What happened since danmaku was turned on (read by the window tests). */
    this.stats = { offered: 0, shown: 0, dropped: 0, droppedRate: 0, droppedFull: 0, droppedLate: 0, droppedHidden: 0, maxNodes: 0 };
  }

  /** Empties the layer and forgets every comment (off, or the pane closing). */
  _clear() {
    if (this.frame) cancelAnimationFrame(this.frame);
    clearTimeout(this.timer);
    clearTimeout(this.likeTimer);
    for (const a of this.flying.values()) a.cancel();
    this.layer.replaceChildren();
  }

  _title() {
    const base = t(this.on ? 'dm_on' : 'dm_off');
    this.button.title = this.on && this.stats.dropped ? `${base} (${this.stats.dropped} ${t('dm_dropped')})` : base;
  }

  // ---------- what flies ----------

  receive(messages) {
    if (!this.on || !this.enteredAt || performance.now() - this.enteredAt < HISTORY_GRACE_MS) return;
    const now = Date.now() / 1000;
    for (const m of messages) {
      if (typeof m.time === 'number' && m.time > 0) {
        const lag = now - m.time;
        if (this.skew === null || lag < this.skew) this.skew = lag;
        if (lag - this.skew > MAX_AGE_S) continue;
      }
      const item = this._item(m);
      if (item === 'like') this._like();
      else if (item) this._offer(item);
    }
  }

  sent(m) {
    if (!this.on) return;
    const item = this._item(m);
    if (item && item !== 'like') this._offer({ ...item, mine: true });
  }

  /** What a message flies as: `{kind, text, icon?}`, 'like', or null (it does not fly). */
  _item(m) {
    const p = m.payload || {};
    switch (m.type) {
      case 'TIMTextElem': {
        const text = String(p.text ?? '').replace(/\s+/g, ' ').trim();
        return text ? { kind: 'text', text } : null;
      }
      case 'TIMCustomElem': {
        if (LIKE_DATA.includes(p.data)) return 'like';
        if (p.data !== GIFT_DATA) return null;
        let count = 1;
        try {
          count = Number(JSON.parse(p.extension || '{}').count) || 1;
        } catch {
          /* a foreign gift format: count 1 */
        }
        const who = m.nick || m.from || t('guest');
        const text = `${who} ${t('sentGift')} ${giftName(p.description)}${count > 1 ? ` x${count}` : ''}`;
        return { kind: 'gift', text, icon: giftIcon(p.description) };
      }
      default:
        return null;
    }
  }

  /** Counts a like; one "+N ❤" comment flies for each LIKE_EVERY_MS that had likes. */
  _like() {
    this.likes++;
    if (this.likeTimer) return;
    this.likeTimer = setTimeout(() => {
      this.likeTimer = 0;
      const n = this.likes;
      this.likes = 0;
      if (n && this.on) this._offer({ kind: 'like', text: `+${n} ❤` });
    }, LIKE_EVERY_MS);
  }

  _drop(why) {
    this.stats.dropped++;
    this.stats[why]++;
    this._title();
  }

  /** Lets a comment in if the rate and the layer allow; it is built on the next frame. */
  _offer(item) {
    // A pane out of sight (another room in the single view) flies nothing.
    if (this.pane.el.hidden) return;
    this.stats.offered++;
    const now = performance.now();
    this.tokens = Math.min(RATE, this.tokens + ((now - this.refilled) * RATE) / 1000);
    this.refilled = now;
    if (this.tokens < 1) return this._drop('droppedRate');
    if (this.flying.size + this.waiting.length + this.incoming.length >= MAX_NODES) return this._drop('droppedFull');
    this.tokens -= 1;
    this.incoming.push(item);
    if (!this.frame) this.frame = requestAnimationFrame(() => this._build());
  }

  /** Builds the frame's comments off-stage (right of it), measures them all at once, places them. */
  _build() {
    this.frame = 0;
    if (!this.on) return;
    const items = this.incoming;
    this.incoming = [];
    const nodes = items.map((item) => this._node(item));
    for (const n of nodes) this.layer.appendChild(n);
    // One layout for the whole frame: the stage's size and every new comment's width.
    this.width = this.layer.clientWidth;
    this.height = this.layer.clientHeight;
    if (!this.width || !this.height) {
      // Out of sight since they were let in (another room shown): nowhere to fly.
      for (const node of [...nodes, ...this.waiting.map((c) => c.node)]) {
        this._recycle(node);
        this._drop('droppedHidden');
      }
      this.waiting = [];
      return;
    }
    const at = performance.now();
    for (const node of nodes) this.waiting.push({ node, w: node.offsetWidth, at });
    this.stats.maxNodes = Math.max(this.stats.maxNodes, this.layer.childElementCount);
    this._pump();
  }

  _node(item) {
    const node = this.pool.pop() || document.createElement('div');
    node.className = `dm ${item.kind}${item.mine ? ' mine' : ''}`;
    delete node.dataset.lane;
    node.replaceChildren();
    if (item.icon) {
      const img = document.createElement('img');
      img.src = item.icon;
      img.alt = '';
      node.appendChild(img);
    }
    const span = document.createElement('span');
    span.textContent = item.text;
    node.appendChild(span);
    return node;
  }

  /** How long a comment takes to cross this stage now. */
  _flight() {
    const ms = ((this.width + FLIGHT_AVG_W) / FLIGHT_PX_S) * 1000;
    return Math.min(FLIGHT_MAX_MS, Math.max(FLIGHT_MIN_MS, ms));
  }

  /** How many lanes the stage has room for. */
  _laneCount() {
    return Math.max(1, Math.floor((this.height * LANE_SHARE - TOP_PAD) / LANE_H));
  }

  /**
   * The earliest time a comment of width `w` may start in `lane` without ever touching the
   * lane's last comment: once that one's tail is GAP inside the stage, and (when the new one
   * is faster) late enough that it is still GAP behind when the earlier one leaves.
   */
  _freeAt(lane, w) {
    const last = this.lanes[lane];
    if (!last) return 0;
    const v = (this.width + w) / this._flight();
    const tailIn = last.t0 + (last.w + GAP) / last.v;
    const leaves = last.t0 + (this.width + last.w) / last.v;
    return Math.max(tailIn, leaves - (this.width - GAP) / v);
  }

  /** Sends waiting comments into free lanes, in order; waits for the next lane to free up. */
  _pump() {
    clearTimeout(this.timer);
    this.timer = 0;
    const lanes = this._laneCount();
    while (this.waiting.length) {
      const head = this.waiting[0];
      const now = performance.now();
      let best = 0;
      let bestAt = Infinity;
      for (let l = 0; l < lanes; l++) {
        const at = this._freeAt(l, head.w);
        if (at < bestAt) {
          best = l;
          bestAt = at;
        }
        if (at <= now) break;
      }
      if (bestAt <= now) {
        this.waiting.shift();
        this._fly(head, best, now);
      } else if (bestAt - head.at > MAX_WAIT_MS) {
        this.waiting.shift();
        this._recycle(head.node);
        this._drop('droppedLate');
      } else {
        this.timer = setTimeout(() => this._pump(), Math.ceil(bestAt - now));
        return;
      }
    }
  }

  _fly(c, lane, now) {
    const { node, w } = c;
    const dist = this.width + w;
    const flight = this._flight();
    node.style.top = `${TOP_PAD + lane * LANE_H}px`;
    node.dataset.lane = String(lane);
    const easing = onScreen() > 1 ? `steps(${Math.round(flight / STEP_MS)}, end)` : 'linear';
    const anim = node.animate([{ transform: 'translateX(0)' }, { transform: `translateX(${-dist}px)` }], {
      duration: flight,
      easing,
    });
    // Started now, as the lanes reckon, not at the next rendering update: after a stalled
    // frame, comments placed apart would otherwise all start together, on top of each other.
    // (The document timeline's clock is performance.now()'s.)
    anim.startTime = now;
    this.flying.set(node, anim);
    anim.onfinish = () => {
      this.flying.delete(node);
      this._recycle(node);
    };
    this.lanes[lane] = { t0: now, w, v: dist / flight };
    this.stats.shown++;
  }

  _recycle(node) {
    node.remove();
    if (this.on && this.pool.length < POOL) this.pool.push(node);
  }

  // ---------- the pane's life ----------

  relabel() {
    this._title();
  }

  destroy() {
    active.delete(this);
    this.entering.disconnect();
    this._clear();
    this.on = false;
    this._reset();
    this.button.remove();
  }
}

export const danmaku = {
  name: 'danmaku',
  mount(pane) {
    return new Danmaku(pane);
  },
};
