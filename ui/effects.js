// Like and gift animations. Hearts float up from the like button; gifts slide in one card at a
// time from a bounded queue, so a burst of gifts plays out instead of piling up.

import { giftName, t } from './i18n.js';
import { pictureSrc } from './tauri.js';

/** The gifts of the gift panel: id → icon. */
export const GIFTS = [
  { id: 'rose', icon: 'gifts/rose.svg' },
  { id: 'heart', icon: 'gifts/heart.svg' },
  { id: 'cake', icon: 'gifts/cake.svg' },
  { id: 'rocket', icon: 'gifts/rocket.svg' },
  { id: 'crown', icon: 'gifts/crown.svg' },
];

export const giftIcon = (id) => (GIFTS.find((g) => g.id === id) || GIFTS[0]).icon;

const MAX_HEARTS = 40;
const MAX_GIFT_QUEUE = 60;
const GIFT_LANES = 2;
const GIFT_MS = 2600;

/** Spawns `n` floating hearts in `layer` (at most MAX_HEARTS alive at once). */
export function floatHearts(layer, n = 1) {
  for (let i = 0; i < n; i++) {
    if (layer.childElementCount >= MAX_HEARTS) return;
    const h = document.createElement('div');
    h.className = 'heart';
    // CSSOM (not a style attribute) so the strict CSP allows it.
    h.style.setProperty('--dx', `${Math.round(Math.random() * 80 - 40)}px`);
    // Drift and pace vary, not colour: a filter would repaint each heart every frame.
    h.style.setProperty('animation-duration', `${1900 + Math.round(Math.random() * 600)}ms`);
    h.style.setProperty('animation-delay', `${i * 90}ms`);
    h.addEventListener('animationend', () => h.remove());
    layer.appendChild(h);
  }
}

/**
 * Plays gift cards in `layer`, GIFT_LANES at a time, queuing the rest. A combo (the same
 * sender sending the same gift again while its card plays or waits) adds to that card's count
 * instead of queuing another card, as live platforms show "x10" climbing.
 */
export class GiftQueue {
  constructor(layer) {
    this.layer = layer;
    this.queue = [];
    /** Cards on screen by combo key: `{count, countEl}`. */
    this.live = new Map();
    this.playing = 0;
    this.played = 0;
    this.merged = 0;
  }

  /** Queues one gift: `{from, nick, avatar, giftId, count}`. */
  push(gift) {
    const key = `${gift.from || ''}\u0000${gift.giftId}`;
    const add = Number(gift.count) || 1;
    const live = this.live.get(key);
    if (live) {
      live.count += add;
      live.countEl.textContent = `x${live.count}`;
      // Transform only: the bump costs no layout.
      if (live.countEl.animate) live.countEl.animate([{ transform: 'scale(1.7)' }, { transform: 'scale(1)' }], { duration: 320, easing: 'ease-out' });
      this.merged++;
      return;
    }
    const waiting = this.queue.find((g) => g.key === key);
    if (waiting) {
      waiting.count = (Number(waiting.count) || 1) + add;
      this.merged++;
      return;
    }
    if (this.queue.length >= MAX_GIFT_QUEUE) this.queue.shift();
    this.queue.push({ ...gift, key, count: add });
    this._next();
  }

  _next() {
    while (this.playing < GIFT_LANES && this.queue.length) {
      const g = this.queue.shift();
      this.playing++;
      this.played++;
      const card = document.createElement('div');
      card.className = 'gift-fx';
      const av = document.createElement('img');
      av.className = 'avatar';
      av.alt = '';
      setAvatar(av, g.avatar, g.from);
      const txt = document.createElement('div');
      const who = document.createElement('div');
      who.className = 'g-who';
      who.textContent = g.nick || g.from || t('guest');
      const what = document.createElement('div');
      what.className = 'g-what';
      what.textContent = `${t('sentGift')} ${giftName(g.giftId)}`;
      txt.append(who, what);
      const icon = document.createElement('img');
      icon.className = 'g-icon';
      icon.alt = '';
      icon.src = giftIcon(g.giftId);
      const count = document.createElement('span');
      count.className = 'g-count';
      count.textContent = `x${g.count || 1}`;
      card.append(av, txt, icon, count);
      card.dataset.gift = g.giftId;
      if (g.from) card.dataset.from = g.from;
      const combo = { count: g.count, countEl: count };
      this.live.set(g.key, combo);
      const done = () => {
        if (!card.isConnected) return;
        if (this.live.get(g.key) === combo) this.live.delete(g.key);
        card.remove();
        this.playing--;
        this._next();
      };
      card.addEventListener('animationend', (e) => {
        if (e.target === card) done();
      });
      // In case animations are off (reduced motion), still move on.
      setTimeout(done, GIFT_MS + 400);
      this.layer.appendChild(card);
    }
  }
}

const AVATAR_COLORS = ['#ff6b6b', '#f783ac', '#9775fa', '#5c7cfa', '#339af0', '#22b8cf', '#20c997', '#51cf66', '#fcc419', '#ff922b'];

const avatarCache = new Map();

/** A data-URL avatar with the user's initial, for users without one (cached per name). */
export function initialAvatar(name) {
  const s = String(name || '?');
  const hit = avatarCache.get(s);
  if (hit) return hit;
  const url = makeInitialAvatar(s);
  if (avatarCache.size > 2000) avatarCache.clear();
  avatarCache.set(s, url);
  return url;
}

function makeInitialAvatar(s) {
  let h = 0;
  for (const c of s) h = (h * 31 + c.codePointAt(0)) >>> 0;
  const color = AVATAR_COLORS[h % AVATAR_COLORS.length];
  const ch = [...s][0].toUpperCase().replace(/[<>&"']/g, '?');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><rect width="40" height="40" fill="${color}"/><text x="20" y="26" font-size="18" font-family="sans-serif" font-weight="600" text-anchor="middle" fill="#fff">${ch}</text></svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/**
 * Sets an <img> to the avatar URL when it is http(s), loaded through the room server (never
 * from where the URL points), else to the initial avatar.
 */
export function setAvatar(img, url, name) {
  const fallback = initialAvatar(name);
  if (url && /^https?:\/\//i.test(url)) {
    img.onerror = () => {
      img.onerror = null;
      img.src = fallback;
    };
    img.src = pictureSrc(url);
  } else {
    img.src = fallback;
  }
}
