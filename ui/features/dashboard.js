// The room pane's live dashboard (issue 15), at the top of the host panel (owner, admins, app
// administrators). A pane feature: see ../pane-features.js.
//
// Every figure is the server's (`im.getRoomStats` when the panel opens, then the room's
// `t_room_stats` event pushed to its moderators every 10 s), so every moderator sees the same
// numbers; nothing is counted from what this client happened to receive. A push is only kept
// while the panel is out of sight; the chart is drawn at most once per push (or per opening),
// in an animation frame, and never while hidden. The chart is an SVG built here: the online
// count per minute as a line over the messages per minute as bars.

import TWebLive from '../tweblive.js';
import { addStrings, t, currentLang } from '../i18n.js';
import { el } from '../dom.js';

const STATS_EVENT = TWebLive.EVENT.IM_ROOM_STATS || 't_room_stats';
const SVG = 'http://www.w3.org/2000/svg';
/** The chart's height in px; its width is the panel's. */
const CHART_H = 124;
/** Room around the plot: viewers' axis on the left, messages' on the right, times below. */
const PAD = { left: 34, right: 34, top: 12, bottom: 22 };
/** Up to this many minutes, each minute's point is marked with a dot. */
const DOTS_UP_TO = 60;
/** Top gifters shown. */
const TOP_GIFTERS = 5;

addStrings({
  en: {
    dash_title: 'Live dashboard',
    dash_viewers: 'Viewers now',
    dash_peak: 'Peak',
    dash_msgsMin: 'Messages / min',
    dash_likes: 'Likes',
    dash_gifts: 'Gifts',
    dash_inAll: '{n} in all',
    dash_onlineSeries: 'Viewers',
    dash_msgsSeries: 'Messages per minute',
    dash_topGifters: 'Top gifters',
    dash_noGifts: 'No gifts yet',
    dash_waiting: 'Waiting for the server’s figures…',
    dash_unavailable: 'The server gives no room figures',
    dash_since: 'Live since',
    dash_updated: 'updated',
  },
  zh: {
    dash_title: '实时数据',
    dash_viewers: '当前观众',
    dash_peak: '峰值',
    dash_msgsMin: '每分钟消息',
    dash_likes: '点赞',
    dash_gifts: '礼物',
    dash_inAll: '共 {n} 条',
    dash_onlineSeries: '观众',
    dash_msgsSeries: '每分钟消息数',
    dash_topGifters: '礼物榜',
    dash_noGifts: '还没有礼物',
    dash_waiting: '正在等待服务器数据…',
    dash_unavailable: '服务器未提供房间数据',
    dash_since: '开播于',
    dash_updated: '更新于',
  },
});

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

/** A round upper bound for an axis: 1, 2, 5, 10, 20, 50, ... at least `v`. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

const num = (n) => (Number(n) || 0).toLocaleString(currentLang() === 'zh' ? 'zh-CN' : 'en');
const hhmm = (unix) => new Date(Number(unix) * 1000).toLocaleTimeString(currentLang() === 'zh' ? 'zh-CN' : 'en', { hour: '2-digit', minute: '2-digit' });
const hhmmss = (unix) => new Date(Number(unix) * 1000).toLocaleTimeString(currentLang() === 'zh' ? 'zh-CN' : 'en');

class Dashboard {
  constructor(pane) {
    this.pane = pane;
    this.roomID = pane.roomID;
    this.im = pane.session.im;
    this.panel = pane.el.querySelector('.host-panel');
    /** The server's latest figures, and whether they were drawn. */
    this.stats = null;
    this.dirty = false;
    this.frame = 0;
    /** How many times the chart was drawn (the window tests read it). */
    this.draws = 0;
    this._build();
    this.onStats = (ev) => {
      const data = ev && ev.data;
      if (!data || (ev.roomID || data.roomID) !== this.roomID) return;
      this._take(data);
    };
    if (this.im) this.im.on(STATS_EVENT, this.onStats);
    // The panel opening (its button, a shortcut) or the pane coming into view.
    this.wasVisible = false;
    this.watch = new MutationObserver(() => this._visibility());
    this.watch.observe(this.panel, { attributes: true, attributeFilter: ['hidden'] });
    this.watch.observe(pane.el, { attributes: true, attributeFilter: ['hidden'] });
  }

  _build() {
    const root = el('section', 'dashboard');
    root.hidden = true;
    const head = el('div', 'dash-head');
    const title = el('span', 'dash-title', 'dash_title');
    this.since = el('span', 'dash-since');
    head.append(title, this.since);

    this.tiles = {};
    const tiles = el('div', 'dash-tiles');
    for (const [name, key] of [['online', 'dash_viewers'], ['peak', 'dash_peak'], ['msgs', 'dash_msgsMin'], ['likes', 'dash_likes'], ['gifts', 'dash_gifts']]) {
      const tile = el('div', `dash-tile dash-${name}`);
      const value = el('div', 'dash-value');
      value.textContent = '—';
      const sub = el('div', 'dash-sub');
      tile.append(value, el('div', 'dash-label', key), sub);
      tile.dataset.stat = name;
      tiles.appendChild(tile);
      this.tiles[name] = { value, sub };
    }

    const chartBox = el('div', 'dash-chart');
    this.chart = svg('svg', { class: 'dash-svg', role: 'img' });
    this.note = el('div', 'dash-note', 'dash_waiting');
    const legend = el('div', 'dash-legend');
    const online = el('span', 'dash-key dash-key-online');
    online.append(el('i'), el('span', '', 'dash_onlineSeries'));
    const msgs = el('span', 'dash-key dash-key-msgs');
    msgs.append(el('i'), el('span', '', 'dash_msgsSeries'));
    this.updated = el('span', 'dash-updated');
    legend.append(online, msgs, this.updated);
    chartBox.append(this.chart, this.note, legend);

    const top = el('div', 'dash-top');
    this.gifters = el('ol', 'dash-gifters');
    top.append(el('div', 'dash-top-title', 'dash_topGifters'), this.gifters);

    const body = el('div', 'dash-body');
    body.append(chartBox, top);
    root.append(head, tiles, body);
    this.root = root;
    this.pane.el.querySelector('.host-extras').appendChild(root);
    this.root.hidden = !this.pane.canModerate;
  }

  /** Whether the dashboard is on screen: a moderator's open panel in a shown pane. */
  get visible() {
    return this.pane.canModerate && !this.panel.hidden && !this.pane.el.hidden;
  }

  _visibility() {
    const now = this.visible;
    const opened = now && !this.wasVisible;
    this.wasVisible = now;
    if (!opened) return;
    this._schedule();
    this._fetch();
  }

  /** Asks the server for the room's figures now (the panel just opened). */
  async _fetch() {
    if (!this.im || typeof this.im.getRoomStats !== 'function') {
      if (!this.stats) this._say('dash_unavailable');
      return;
    }
    try {
      const r = await this.im.getRoomStats({ roomID: this.roomID });
      if (r && r.data) this._take(r.data);
    } catch (e) {
      console.warn('getRoomStats failed', e);
      if (!this.stats) this._say('dash_unavailable');
    }
  }

  /** New figures from the server: drawn on the next frame if on screen, else kept. */
  _take(stats) {
    // A reply older than what a push already brought changes nothing.
    if (this.stats && Number(stats.at) < Number(this.stats.at)) return;
    this.stats = stats;
    this.dirty = true;
    this._schedule();
  }

  _schedule() {
    if (this.frame || !this.dirty || !this.visible) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (!this.dirty || !this.visible) return;
      this.dirty = false;
      this._texts();
      this._draw();
    });
  }

  _say(key) {
    this.note.dataset.i18n = key;
    this.note.textContent = t(key);
    this.note.hidden = false;
  }

  /** The tiles, the header and the top gifters (language-dependent: redone on relabel). */
  _texts() {
    const s = this.stats;
    if (!s) return;
    const set = (name, value, sub) => {
      this.tiles[name].value.textContent = num(value);
      this.tiles[name].sub.textContent = sub || '';
    };
    set('online', s.online);
    set('peak', s.peakOnline);
    set('msgs', s.messagesLastMinute, t('dash_inAll').replace('{n}', num(s.messagesTotal)));
    set('likes', s.likesTotal);
    set('gifts', s.giftsTotal);
    this.since.textContent = s.startedAt ? `${t('dash_since')} ${hhmm(s.startedAt)}` : '';
    this.updated.textContent = s.at ? `${t('dash_updated')} ${hhmmss(s.at)}` : '';
    const list = Array.isArray(s.topGifters) ? s.topGifters.slice(0, TOP_GIFTERS) : [];
    this.gifters.replaceChildren();
    for (const g of list) {
      const li = el('li', 'dash-gifter');
      li.dataset.user = g.userID || '';
      const who = el('span', 'dash-gifter-nick');
      who.textContent = g.nick || g.userID || t('guest');
      who.title = g.userID || '';
      const n = el('span', 'dash-gifter-count');
      n.textContent = num(g.gifts);
      li.append(who, n);
      this.gifters.appendChild(li);
    }
    if (!list.length) this.gifters.appendChild(el('li', 'dash-gifter none', 'dash_noGifts'));
  }

  /** The chart: one slot per minute of the session, its messages as a bar, its viewers as a point. */
  _draw() {
    const s = this.stats;
    let minutes = Array.isArray(s && s.minutes) ? s.minutes : [];
    this.draws++;
    this.note.hidden = minutes.length > 0;
    const W = Math.max(200, Math.round(this.chart.parentElement.clientWidth));
    const H = CHART_H;
    const c = this.chart;
    c.replaceChildren();
    c.setAttribute('viewBox', `0 0 ${W} ${H}`);
    c.dataset.points = String(minutes.length);
    if (!minutes.length) return;
    const plotW = W - PAD.left - PAD.right;
    const plotH = H - PAD.top - PAD.bottom;
    const base = PAD.top + plotH;
    // A minute's online count is the highest the server sampled in it (every 10 s; 0 when
    // none yet): the minute under way shows at least the server's count now.
    const n0 = minutes.length;
    const current = Math.floor(Number(s.at) / 60) * 60;
    const last = minutes[n0 - 1];
    if (Number(last.at) === current && Number(s.online) > Number(last.online)) {
      minutes = [...minutes.slice(0, -1), { ...last, online: Number(s.online) }];
    }
    const n = minutes.length;
    const slot = plotW / n;
    const x = (i) => PAD.left + slot * (i + 0.5);
    const maxOnline = niceMax(Math.max(Number(s.peakOnline) || 0, ...minutes.map((m) => Number(m.online) || 0)));
    const maxMsgs = niceMax(Math.max(...minutes.map((m) => Number(m.messages) || 0)));
    const yOnline = (v) => base - (plotH * (Number(v) || 0)) / maxOnline;
    const yMsgs = (v) => base - (plotH * (Number(v) || 0)) / maxMsgs;

    // Grid and axes: viewers on the left, messages per minute on the right.
    const grid = svg('g', { class: 'dash-grid' });
    for (const f of [0, 0.5, 1]) {
      const y = base - plotH * f;
      grid.appendChild(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }));
      const left = svg('text', { x: PAD.left - 6, y: y + 4, class: 'dash-axis dash-axis-online', 'text-anchor': 'end' });
      left.textContent = num(maxOnline * f);
      const right = svg('text', { x: W - PAD.right + 6, y: y + 4, class: 'dash-axis dash-axis-msgs', 'text-anchor': 'start' });
      right.textContent = num(maxMsgs * f);
      grid.append(left, right);
    }
    c.appendChild(grid);

    // Messages per minute: one path of bars.
    const bw = Math.max(1, Math.min(18, slot * 0.6));
    let bars = '';
    minutes.forEach((m, i) => {
      const h = base - yMsgs(m.messages);
      if (h > 0) bars += `M${(x(i) - bw / 2).toFixed(1)},${base}v${(-h).toFixed(1)}h${bw.toFixed(1)}v${h.toFixed(1)}z`;
    });
    c.appendChild(svg('path', { class: 'dash-bars', d: bars || 'M0,0' }));

    // Viewers: an area under a line, a dot per minute while there are few.
    const pts = minutes.map((m, i) => `${x(i).toFixed(1)},${yOnline(m.online).toFixed(1)}`);
    c.appendChild(svg('path', { class: 'dash-area', d: `M${x(0).toFixed(1)},${base}L${pts.join('L')}L${x(n - 1).toFixed(1)},${base}z` }));
    c.appendChild(svg('polyline', { class: 'dash-line', points: pts.join(' ') }));
    const dots = svg('g', { class: 'dash-dots' });
    minutes.forEach((m, i) => {
      if (n > DOTS_UP_TO && i !== n - 1) return;
      const dot = svg('circle', { class: i === n - 1 ? 'dash-pt dash-pt-now' : 'dash-pt', cx: x(i).toFixed(1), cy: yOnline(m.online).toFixed(1), r: i === n - 1 ? 4 : 2.5 });
      const tip = svg('title');
      tip.textContent = `${hhmm(m.at)} · ${num(m.online)} ${t('dash_onlineSeries')} · ${num(m.messages)} ${t('dash_msgsSeries')}`;
      dot.appendChild(tip);
      dots.appendChild(dot);
    });
    c.appendChild(dots);

    // The session's first and last minute under the plot.
    const first = svg('text', { x: PAD.left, y: H - 6, class: 'dash-axis', 'text-anchor': 'start' });
    first.textContent = hhmm(minutes[0].at);
    c.appendChild(first);
    if (n > 1) {
      const last = svg('text', { x: W - PAD.right, y: H - 6, class: 'dash-axis', 'text-anchor': 'end' });
      last.textContent = hhmm(minutes[n - 1].at);
      c.appendChild(last);
    }
  }

  // ---------- the pane's life ----------

  roleChanged() {
    this.root.hidden = !this.pane.canModerate;
    this._visibility();
  }

  relabel() {
    // The words and numbers only: the chart waits for the next push.
    if (this.stats && this.visible) this._texts();
    else if (this.stats) this.dirty = true;
  }

  destroy() {
    if (this.im) this.im.off(STATS_EVENT, this.onStats);
    this.watch.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.root.remove();
  }
}

export const dashboard = {
  name: 'dashboard',
  mount(pane) {
    return new Dashboard(pane);
  },
};
