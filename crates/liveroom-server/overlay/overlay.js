// The Liveroom OBS overlay: enters the room as a guest over this server's /ws and draws its
// chat (a list or danmaku), gift alerts, like hearts, joins and the end of the stream, on a
// transparent page that a streaming program's browser source lays over the video.
//
// Options are the page's query string (documented in the server README, "The OBS overlay").
// Plain script, no build step. Everything user-written goes into the page as text only
// (textContent), and the DOM stays bounded whatever the room sends.
(function () {
  'use strict';

  const body = document.body;
  const ROOM = body.dataset.room || '';
  const APP = Number(body.dataset.app || 0);
  const GIFT_IDS = (body.dataset.gifts || '').split(' ').filter(Boolean);

  // ---- options -------------------------------------------------------------------------

  const params = new URLSearchParams(location.search);

  /** An integer option within [min, max]; its default when absent or not a number. */
  function intOption(name, fallback, min, max) {
    const raw = params.get(name);
    const n = raw === null || raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(n)) return fallback;
    return Math.min(max, Math.max(min, Math.round(n)));
  }

  const EVENT_NAMES = ['chat', 'gifts', 'likes', 'joins', 'end'];
  const DEFAULT_EVENTS = ['chat', 'gifts', 'likes', 'end'];

  function eventsOption() {
    const raw = params.get('events');
    if (raw === null || raw.trim() === '') return new Set(DEFAULT_EVENTS);
    return new Set(raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => EVENT_NAMES.includes(s)));
  }

  function langOption() {
    const raw = (params.get('lang') || navigator.language || 'en').toLowerCase();
    return raw.startsWith('zh') ? 'zh' : 'en';
  }

  const OPT = {
    mode: params.get('mode') === 'danmaku' ? 'danmaku' : 'list',
    font: intOption('font', 24, 10, 96),
    max: intOption('max', 10, 1, 50),
    events: eventsOption(),
    theme: params.get('theme') === 'dark' ? 'dark' : 'light',
    lang: langOption(),
    hideAfter: intOption('hide_after', 0, 0, 3600),
    rate: intOption('rate', 5, 1, 30),
    speed: intOption('speed', 8, 3, 30),
    history: params.get('history') !== '0',
    align: params.get('align') === 'right' ? 'right' : 'left',
    lanes: intOption('lanes', 0, 0, 40),
    box: params.get('box') === '1',
  };

  // ---- strings -------------------------------------------------------------------------

  const STRINGS = {
    en: {
      ended: 'The stream has ended',
      sent: 'sent',
      joined: 'joined',
      guest: 'Guest',
      picture: '[picture]',
      notice: 'Notice',
      connecting: 'Connecting…',
      reconnecting: 'Reconnecting… next try in {s} s',
      roomNotFound: 'Room {room} not found: trying again in {s} s',
      refused: 'The server refused: {m} (trying again in {s} s)',
      skipped: 'Some messages were missed while the overlay was offline',
      dismissed: 'The room was closed',
      gifts: { rose: 'Rose', heart: 'Big heart', cake: 'Cake', rocket: 'Rocket', crown: 'Crown' },
    },
    zh: {
      ended: '直播已结束',
      sent: '送出',
      joined: '进入了直播间',
      guest: '游客',
      picture: '[图片]',
      notice: '系统通知',
      connecting: '正在连接…',
      reconnecting: '正在重连…（{s} 秒后重试）',
      roomNotFound: '找不到直播间 {room}，{s} 秒后重试',
      refused: '服务器拒绝：{m}（{s} 秒后重试）',
      skipped: '离线期间有部分消息未能显示',
      dismissed: '直播间已关闭',
      gifts: { rose: '玫瑰', heart: '爱心', cake: '蛋糕', rocket: '火箭', crown: '皇冠' },
    },
  };

  function t(key, vars) {
    let s = STRINGS[OPT.lang][key];
    if (s === undefined) s = STRINGS.en[key];
    if (vars) for (const k of Object.keys(vars)) s = s.split('{' + k + '}').join(String(vars[k]));
    return s;
  }

  const giftName = (id) => STRINGS[OPT.lang].gifts[id] || id;
  const giftIcon = (id) => 'assets/gifts/' + (GIFT_IDS.includes(id) ? id : GIFT_IDS[0] || 'rose') + '.svg';

  // ---- page setup ----------------------------------------------------------------------

  const root = document.documentElement;
  root.lang = OPT.lang === 'zh' ? 'zh-CN' : 'en';
  root.classList.add('mode-' + OPT.mode, 'theme-' + OPT.theme, 'align-' + OPT.align);
  if (OPT.box) root.classList.add('boxed');
  root.style.setProperty('--font', OPT.font + 'px');

  const $ = (id) => document.getElementById(id);
  const chat = $('chat');
  const danmakuLayer = $('danmaku');
  const giftLayer = $('gifts');
  const heartLayer = $('hearts');
  const endedBox = $('ended');
  const statusBox = $('status');

  function setState(state) {
    body.dataset.state = state;
  }

  function setStatus(text) {
    statusBox.textContent = text || '';
    statusBox.hidden = !text;
  }

  /** What the overlay did, for whoever looks (tests, the browser's console). */
  const stats = { shown: 0, dropped: 0, duplicates: 0, reconnects: 0, hearts: 0, gifts: 0 };
  window.liveroomOverlay = { options: OPT, stats };

  // ---- small DOM helpers ---------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  const NICK_COLORS = ['#ff8787', '#f783ac', '#da77f2', '#9775fa', '#748ffc', '#4dabf7', '#3bc9db', '#38d9a9', '#69db7c', '#ffd43b', '#ffa94d'];
  const NICK_COLORS_DARK = ['#c92a2a', '#a61e4d', '#862e9c', '#5f3dc4', '#364fc7', '#1864ab', '#0b7285', '#087f5b', '#2b8a3e', '#e67700', '#d9480f'];

  function hash(s) {
    let h = 0;
    for (const c of String(s)) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return h;
  }

  function nickColor(userID) {
    const list = OPT.theme === 'dark' ? NICK_COLORS_DARK : NICK_COLORS;
    return list[hash(userID) % list.length];
  }

  /** A data-URL avatar with the user's initial (the sender's text never becomes markup). */
  function initialAvatar(name) {
    const s = String(name || '?');
    const color = NICK_COLORS_DARK[hash(s) % NICK_COLORS_DARK.length];
    const first = [...s][0] || '?';
    const ch = /[<>&"']/.test(first) ? '?' : first.toUpperCase();
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><rect width="40" height="40" rx="20" fill="' + color +
      '"/><text x="20" y="26.5" font-size="19" font-family="sans-serif" font-weight="700" text-anchor="middle" fill="#fff">' + ch + '</text></svg>';
    return 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
  }

  /** An avatar: an http(s) one through this server's picture proxy, else the initial. */
  function avatarImg(url, name) {
    const img = el('img', 'avatar');
    img.alt = '';
    const fallback = initialAvatar(name);
    if (url && /^https?:\/\//i.test(url)) {
      img.onerror = () => {
        img.onerror = null;
        img.src = fallback;
      };
      img.src = '../external-image?url=' + encodeURIComponent(url);
    } else {
      img.src = fallback;
    }
    return img;
  }

  const who = (m) => m.nick || m.from || t('guest');

  /** A message's gift count: `extension`'s JSON `count`, 1 to 9999 (1 when unreadable). */
  function giftCount(p) {
    let n = 1;
    try {
      n = Number(JSON.parse(p.extension || '{}').count) || 1;
    } catch (e) {
      n = 1;
    }
    return Math.min(9999, Math.max(1, Math.floor(n)));
  }

  // ---- the chat list -------------------------------------------------------------------

  /** Adds a line at the bottom, dropping the oldest beyond `max`. */
  function addListLine(li) {
    chat.appendChild(li);
    while (chat.childElementCount > OPT.max) chat.firstElementChild.remove();
    if (OPT.hideAfter > 0) scheduleHide(li, OPT.hideAfter * 1000);
  }

  function scheduleHide(li, ms) {
    setTimeout(() => {
      if (!li.isConnected) return;
      li.classList.add('gone');
      setTimeout(() => li.remove(), 600);
    }, ms);
  }

  function chatLine(m, kind, parts) {
    const li = el('li', 'line kind-' + kind);
    if (m.ID) li.dataset.id = m.ID;
    if (m.from) li.dataset.from = m.from;
    const nick = el('span', 'nick', who(m));
    nick.style.color = nickColor(m.from || '');
    li.appendChild(nick);
    for (const p of parts) li.appendChild(p);
    return li;
  }

  // ---- danmaku -------------------------------------------------------------------------

  const DANMAKU_GAP = 32;
  const DANMAKU_MAX_NODES = 120;
  const danmaku = {
    lanes: [],
    tokens: OPT.rate,
    refilled: performance.now(),

    laneHeight() {
      return Math.round(OPT.font * 1.55);
    },

    laneCount() {
      const h = danmakuLayer.clientHeight || window.innerHeight;
      const fit = Math.max(1, Math.floor(h / this.laneHeight()));
      return OPT.lanes ? Math.min(OPT.lanes, fit) : fit;
    },

    /** Whether an item `w` px wide at `speed` px/ms may start in lane `lane` at `now`. */
    free(lane, now, width, speed) {
      const last = this.lanes[lane];
      if (!last) return true;
      const W = last.W;
      const tailIn = now >= last.start + (last.w + DANMAKU_GAP) / last.speed;
      const lastGone = last.start + (W + last.w) / last.speed;
      // Never catches up: its head reaches the left edge after the last one has left.
      const noCatch = now + W / speed >= lastGone;
      return tailIn && noCatch;
    },

    /** Flies `node` across, or drops it (over the rate, or no free lane). */
    add(node) {
      const now = performance.now();
      this.tokens = Math.min(OPT.rate, this.tokens + ((now - this.refilled) / 1000) * OPT.rate);
      this.refilled = now;
      if (this.tokens < 1 || danmakuLayer.childElementCount >= DANMAKU_MAX_NODES) {
        stats.dropped++;
        return false;
      }
      node.classList.add('dm');
      danmakuLayer.appendChild(node);
      const W = danmakuLayer.clientWidth || window.innerWidth;
      const w = node.offsetWidth;
      // One crossing time for all: a longer line moves faster.
      const duration = OPT.speed * 1000;
      const speed = (W + w) / duration;
      const lanes = this.laneCount();
      let lane = -1;
      for (let i = 0; i < lanes; i++) {
        if (this.free(i, now, w, speed)) {
          lane = i;
          break;
        }
      }
      if (lane < 0) {
        node.remove();
        stats.dropped++;
        return false;
      }
      this.tokens -= 1;
      this.lanes[lane] = { start: now, speed, w, W };
      node.dataset.lane = String(lane);
      node.style.top = lane * this.laneHeight() + 'px';
      node.style.transform = 'translateX(' + W + 'px)';
      node.classList.add('flying');
      const anim = node.animate(
        [{ transform: 'translateX(' + W + 'px)' }, { transform: 'translateX(' + -w + 'px)' }],
        { duration, easing: 'linear', fill: 'forwards' },
      );
      const done = () => node.remove();
      anim.onfinish = done;
      setTimeout(done, duration + 1000);
      return true;
    },
  };

  // ---- what a message shows ------------------------------------------------------------

  function showText(m, text, kind) {
    if (OPT.mode === 'danmaku') {
      const node = el('div', 'kind-' + kind);
      if (m.ID) node.dataset.id = m.ID;
      const nick = el('span', 'nick', who(m));
      nick.style.color = nickColor(m.from || '');
      node.append(nick, el('span', 'text', text));
      if (danmaku.add(node)) stats.shown++;
      return;
    }
    addListLine(chatLine(m, kind, [el('span', 'text', text)]));
    stats.shown++;
  }

  function showPicture(m) {
    const arr = (m.payload && m.payload.imageInfoArray) || [];
    const small = arr.find((i) => i.sizeType === 3) || arr.find((i) => i.sizeType === 2) || arr[0];
    if (OPT.mode === 'danmaku' || !small || typeof small.url !== 'string' || !small.url.startsWith('/')) {
      showText(m, t('picture'), 'chat');
      return;
    }
    const img = el('img', 'thumb');
    img.alt = t('picture');
    img.src = '..' + small.url;
    addListLine(chatLine(m, 'chat', [img]));
    stats.shown++;
  }

  /** A gift's line in the list: merged into the newest line when it is the same combo. */
  function showGiftLine(g, m) {
    const last = chat.lastElementChild;
    if (OPT.mode === 'list' && last && last.dataset.combo === g.key) {
      last.dataset.count = String(Number(last.dataset.count) + g.count);
      last.querySelector('.count').textContent = '×' + last.dataset.count;
      bump(last.querySelector('.count'));
      return;
    }
    const parts = [el('span', 'text', t('sent') + ' ' + giftName(g.giftId)), giftPicture(g.giftId, 'gift-icon'), el('span', 'count', '×' + g.count)];
    if (OPT.mode === 'danmaku') {
      const node = el('div', 'kind-gift');
      const nick = el('span', 'nick', who(m));
      nick.style.color = nickColor(m.from || '');
      node.append(nick, ...parts);
      danmaku.add(node);
      return;
    }
    const li = chatLine(m, 'gift', parts);
    li.dataset.combo = g.key;
    li.dataset.count = String(g.count);
    addListLine(li);
  }

  function giftPicture(id, cls) {
    const img = el('img', cls);
    img.alt = '';
    img.src = giftIcon(id);
    return img;
  }

  function bump(node) {
    if (!node) return;
    node.classList.remove('bump');
    void node.offsetWidth; // restart the animation
    node.classList.add('bump');
  }

  // ---- gift alerts, combos merged ------------------------------------------------------

  const GIFT_LANES = 3;
  const GIFT_QUEUE_MAX = 30;
  const GIFT_HOLD_MS = 3600;

  /**
   * Gift cards, GIFT_LANES at a time, the rest queued (bounded: the oldest waiting go first).
   * A gift of the same sender and gift as a card showing or waiting adds to its count and
   * keeps it up longer: a combo is one card counting up, not a card per click.
   */
  const giftAlerts = {
    showing: new Map(),
    queue: [],

    push(g) {
      const live = this.showing.get(g.key);
      if (live) {
        live.count += g.count;
        live.countEl.textContent = '×' + live.count;
        bump(live.countEl);
        this.hold(live);
        return;
      }
      const waiting = this.queue.find((q) => q.key === g.key);
      if (waiting) {
        waiting.count += g.count;
        return;
      }
      if (this.queue.length >= GIFT_QUEUE_MAX) {
        this.queue.shift();
        stats.dropped++;
      }
      this.queue.push(Object.assign({}, g));
      this.next();
    },

    next() {
      while (this.showing.size < GIFT_LANES && this.queue.length) this.play(this.queue.shift());
    },

    play(g) {
      const card = el('div', 'gift-card');
      card.dataset.gift = g.giftId;
      card.dataset.from = g.from;
      const text = el('div', 'gift-text');
      text.append(el('div', 'gift-who', g.nick || g.from || t('guest')), el('div', 'gift-what', t('sent') + ' ' + giftName(g.giftId)));
      const countEl = el('span', 'gift-count', '×' + g.count);
      card.append(avatarImg(g.avatar, g.nick || g.from), text, giftPicture(g.giftId, 'gift-pic'), countEl);
      const live = { key: g.key, count: g.count, card, countEl, timer: 0 };
      this.showing.set(g.key, live);
      giftLayer.appendChild(card);
      stats.gifts++;
      this.hold(live);
    },

    hold(live) {
      clearTimeout(live.timer);
      live.timer = setTimeout(() => {
        live.card.classList.add('leaving');
        setTimeout(() => {
          live.card.remove();
          this.showing.delete(live.key);
          this.next();
        }, 450);
      }, GIFT_HOLD_MS);
    },
  };

  // ---- like hearts ---------------------------------------------------------------------

  const MAX_HEARTS = 40;
  const HEARTS_PER_FRAME = 6;
  let heartsWanted = 0;
  let heartFrame = 0;

  function like() {
    heartsWanted = Math.min(heartsWanted + 1, MAX_HEARTS);
    if (!heartFrame) heartFrame = requestAnimationFrame(floatHearts);
  }

  function floatHearts() {
    heartFrame = 0;
    let n = Math.min(heartsWanted, HEARTS_PER_FRAME);
    heartsWanted -= n;
    for (; n > 0 && heartLayer.childElementCount < MAX_HEARTS; n--) {
      const h = el('div', 'heart heart-' + Math.floor(Math.random() * 4));
      h.style.setProperty('--dx', Math.round(Math.random() * 120 - 60) + 'px');
      h.style.setProperty('--rot', Math.round(Math.random() * 40 - 20) + 'deg');
      h.style.animationDuration = 2000 + Math.round(Math.random() * 900) + 'ms';
      h.addEventListener('animationend', () => h.remove());
      setTimeout(() => h.remove(), 3500);
      heartLayer.appendChild(h);
      stats.hearts++;
    }
    if (heartsWanted > 0) heartFrame = requestAnimationFrame(floatHearts);
  }

  // ---- the end of the stream -----------------------------------------------------------

  function showEnded(postscript, title) {
    if (!OPT.events.has('end')) return;
    endedBox.querySelector('.ended-title').textContent = title || t('ended');
    const ps = endedBox.querySelector('.ended-postscript');
    ps.textContent = postscript || '';
    ps.hidden = !postscript;
    endedBox.hidden = false;
    body.dataset.ended = 'true';
  }

  function note(text) {
    if (OPT.mode === 'danmaku') {
      const node = el('div', 'kind-note');
      node.appendChild(el('span', 'text', text));
      danmaku.add(node);
    } else {
      addListLine(el('li', 'line kind-note', text));
    }
  }

  /** Takes a message off the overlay (a moderator deleted it). */
  function forget(id) {
    for (const layer of [chat, danmakuLayer]) {
      for (const node of Array.from(layer.children)) if (node.dataset.id === id) node.remove();
    }
  }

  // ---- one message ---------------------------------------------------------------------

  const LIKE_DATA = ['like', 'dianzan'];

  /** Shows message `m`; `live` false for the history on entering (no effects replayed). */
  function show(m, live) {
    const p = m.payload || {};
    switch (m.type) {
      case 'TIMTextElem':
        if (OPT.events.has('chat')) showText(m, String(p.text ?? ''), 'chat');
        break;
      case 'TIMImageElem':
        if (OPT.events.has('chat')) showPicture(m);
        break;
      case 'TIMGroupSystemNoticeElem':
        if (OPT.events.has('chat')) showText({ ID: m.ID, from: '', nick: t('notice') }, String(p.userDefinedField ?? ''), 'notice');
        break;
      case 'TIMGroupTipElem':
        if (live && OPT.events.has('joins') && p.operationType === 1) {
          const ids = Array.isArray(p.userIDList) ? p.userIDList : [];
          const name = m.nick || ids[0] || '';
          if (name) showText({ from: ids[0] || name, nick: name }, t('joined'), 'join');
        }
        break;
      case 'TIMCustomElem':
        if (p.data === 'push_stopped') {
          showEnded(String(p.description ?? ''));
        } else if (LIKE_DATA.includes(p.data)) {
          if (live && OPT.events.has('likes')) like();
        } else if (p.data === 'gift' && OPT.events.has('gifts')) {
          const giftId = String(p.description || '');
          const g = { key: (m.from || '') + '\u0000' + giftId, from: m.from || '', nick: m.nick || '', avatar: m.avatar || '', giftId, count: giftCount(p) };
          if (live) giftAlerts.push(g);
          showGiftLine(g, m);
        }
        // Other custom messages are the app's own data: nothing to show.
        break;
      default:
        break;
    }
  }

  // ---- the connection ------------------------------------------------------------------

  const PING_EVERY_MS = 25000;
  const REPLY_WITHIN_MS = 10000;
  const BACKOFF_MAX_S = 30;
  const ROOM_NOT_FOUND = 10010;

  let ws = null;
  let nextId = 1;
  const pending = new Map();
  let attempt = 0;
  /** The newest sequence shown; null until the first entry. */
  let lastSeq = null;
  let entered = false;
  let early = [];
  let pingTimer = 0;
  let clockSkew = 0;

  function wsURL() {
    const u = new URL('../ws', location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.search = '';
    u.hash = '';
    return u.href;
  }

  function request(sock, op, args) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(op + ': no answer'));
        sock.close();
      }, REPLY_WITHIN_MS);
      pending.set(id, { resolve, reject, timer });
      sock.send(JSON.stringify(Object.assign({ id, op }, args || {})));
    });
  }

  function connect() {
    setState(attempt ? 'reconnecting' : 'connecting');
    if (!attempt) setStatus(t('connecting'));
    entered = false;
    early = [];
    let sock;
    try {
      sock = new WebSocket(wsURL());
    } catch (e) {
      retry(t('reconnecting', { s: '{s}' }));
      return;
    }
    ws = sock;
    sock.onopen = () => {
      request(sock, 'hello', { sdk_app_id: APP })
        .then((hello) => {
          if (hello && hello.time) clockSkew = Date.now() / 1000 - hello.time;
          const args = { room_id: ROOM };
          if (lastSeq !== null) args.since = lastSeq;
          return request(sock, 'enter_room', args);
        })
        .then((reply) => onEntered(reply))
        .catch((e) => {
          if (ws !== sock) return;
          if (e && e.code === ROOM_NOT_FOUND) failed(sock, t('roomNotFound', { room: ROOM, s: '{s}' }));
          else if (e && e.code) failed(sock, t('refused', { m: e.message || e.code, s: '{s}' }));
          else sock.close();
        });
    };
    sock.onmessage = (ev) => {
      if (ws === sock) onFrame(ev.data);
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error('closed'));
      }
      pending.clear();
      clearInterval(pingTimer);
      retry(t('reconnecting', { s: '{s}' }));
    };
    sock.onerror = () => {
      /* a close follows */
    };
  }

  /** Gives up on this socket with a reason shown until the next try. */
  function failed(sock, text) {
    ws = null;
    clearInterval(pingTimer);
    sock.onclose = null;
    sock.close();
    retry(text);
  }

  /** Tries again after 1, 2, 4 … 30 s, with jitter; `text` says so ({s}: the seconds). */
  function retry(text) {
    attempt++;
    stats.reconnects++;
    const base = Math.min(BACKOFF_MAX_S, Math.pow(2, attempt - 1));
    const wait = base * (0.8 + Math.random() * 0.4);
    setState('reconnecting');
    setStatus(text.split('{s}').join(String(Math.max(1, Math.round(wait)))));
    setTimeout(connect, wait * 1000);
  }

  function onEntered(reply) {
    const first = lastSeq === null;
    const group = reply.group || {};
    for (const id of reply.deleted || []) forget(id);
    const history = Array.isArray(reply.messages) ? reply.messages : [];
    if (first) {
      // The recent chat, without replaying its effects; danmaku shows only what is new.
      const now = Date.now() / 1000 - clockSkew;
      const recent = history.filter((m) => OPT.hideAfter === 0 || now - m.time < OPT.hideAfter);
      if (OPT.history && OPT.mode === 'list') for (const m of recent.slice(-OPT.max * 3)) show(m, false);
      lastSeq = Math.max(0, Number(reply.last_sequence) || 0);
      for (const m of history) if (m.sequence > lastSeq) lastSeq = m.sequence;
    } else {
      // Said once for the gap, however many messages it lost.
      if (reply.skipped) note(t('skipped'));
      receive(history);
      if (Number(reply.last_sequence) > lastSeq && !history.length) lastSeq = Number(reply.last_sequence);
    }
    if (group.pushStopped) showEnded(group.postscript || '');
    entered = true;
    attempt = 0;
    setState('live');
    setStatus('');
    const held = early;
    early = [];
    for (const list of held) receive(list);
    clearInterval(pingTimer);
    const sock = ws;
    pingTimer = setInterval(() => {
      if (ws === sock && sock) request(sock, 'ping').catch(() => {});
    }, PING_EVERY_MS);
  }

  /** Live messages in order; one already shown (by its sequence) is not shown again. */
  function receive(list) {
    for (const m of list) {
      if (!m || typeof m !== 'object') continue;
      const seq = Number(m.sequence) || 0;
      if (seq > 0) {
        if (lastSeq !== null && seq <= lastSeq) {
          stats.duplicates++;
          continue;
        }
        lastSeq = seq;
      }
      show(m, true);
    }
  }

  function onFrame(text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch (e) {
      return;
    }
    switch (f.t) {
      case 'reply':
      case 'error': {
        const p = pending.get(f.id);
        if (!p) return;
        pending.delete(f.id);
        clearTimeout(p.timer);
        if (f.t === 'reply') p.resolve(f.data);
        else p.reject({ code: f.code, message: f.message });
        return;
      }
      case 'messages':
        if (f.room !== ROOM || !Array.isArray(f.list)) return;
        if (entered) receive(f.list);
        else if (early.length < 64) early.push(f.list);
        return;
      case 'room_event':
        if (f.room !== ROOM || !f.event) return;
        if (f.event.kind === 'message_deleted') forget(f.event.message_id);
        else if (f.event.kind === 'dismissed') showEnded('', t('dismissed'));
        return;
      default:
        // online counts, kicks (never sent to a guest): nothing to draw
        return;
    }
  }

  if (!ROOM || !APP) {
    setStatus('Liveroom overlay: no room in this page');
    return;
  }
  connect();
})();
