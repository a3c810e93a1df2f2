// One room on screen: header, notice, host panel, chat, effects, upload bar, composer.
//
// Incoming messages are queued and handed to the chat once per animation frame; the chat
// (`chat-list.js`) keeps a bounded backlog as data and only the rows in view in the DOM, so a
// flood of 1,000 messages/s costs one small DOM update per frame. Effects (hearts, gifts) play
// for every message, drawn or not. Every piece of user text goes through textContent, never
// innerHTML.

import { TYPES } from './tweblive.js';
import { apply as applyI18n, t, giftName } from './i18n.js';
import { floatHearts, GiftQueue, GIFTS, giftIcon, setAvatar } from './effects.js';
import { openImageDialog, pictureUrl } from './tauri.js';
import { toast, showError } from './toast.js';
import { emit } from './dom.js';
import { PANE } from './pane-events.js';
import { fmtTime } from './format.js';
import { perf } from './perf.js';
import { ChatList, MAX_ITEMS } from './chat-list.js';
import { net, sendFailure } from './net-state.js';
import { mountFeatures, notifyFeatures } from './pane-features.js';

/** Chat rows kept per room as data (only those in view are in the DOM). */
export const MAX_MESSAGES = MAX_ITEMS;

/** Hearts floated per frame at most, however many likes the frame brought. */
const HEARTS_PER_FRAME = 6;
/** A picture's thumbnail fits in this square (CSS `.msg .thumb`). */
const THUMB_MAX = 220;
/** How long "Reconnected" stays in the banner. */
const RECONNECTED_MS = 3000;

/** Custom-message `data` values the app understands. The seed's own example uses 'dianzan'. */
export const LIKE_DATA = ['dianzan', 'like'];
export const GIFT_DATA = 'gift';

/** Roles that may moderate a room (the server checks every action anyway). */
const MODERATOR_ROLES = ['admin', 'app_admin', 'owner'];

export class RoomPane {
  /**
   * @param {object} session  the signed-in session: `im`, and `me` ({userID, nick, avatar}; null for a guest)
   * @param {object} group    the room as enterRoom/createRoom resolved it (groupID, name, ...)
   * @param {object} opts     {guest: bool, online: number, role: string}
   *
   * The pane tells the app what it needs through the events of `PANE` (pane-events.js).
   */
  constructor(session, group, opts = {}) {
    this.session = session;
    this.roomID = group.groupID;
    this.guest = !!opts.guest;
    this.role = opts.role || (this.guest ? 'guest' : 'member');
    this.frame = 0;
    /** Effects noted since the last frame: hearts to float, gifts to queue. */
    this.fx = { hearts: 0, gifts: [] };
    this.stats = { received: 0, rendered: 0, likes: 0, gifts: 0 };
    this.el = document.getElementById('tpl-pane').content.firstElementChild.cloneNode(true);
    this.el.dataset.room = this.roomID;
    this.$ = (sel) => this.el.querySelector(sel);
    this.chat = this.$('.chat');
    this.list = new ChatList(this.chat, {
      render: (item) => this._row(item),
      kindOf: (item) => (item.__line ? 'line' : 'msg'),
      // Join, leave, moderation and connection notices are not news worth a button.
      counts: (item) => !(item.__line && (item.kind === 'tip' || item.kind === 'net')),
      onUnseen: (n) => this._showUnseen(n),
      onDrawn: (ms, rows) => perf.frame(ms, rows),
    });
    this.gifts = new GiftQueue(this.$('.fx-gifts'));
    this.el.classList.toggle('guest', this.guest);
    applyI18n(this.el);
    this._renderGiftPanel();
    this._wire();
    this.wasOnline = false;
    this.netDown = null;
    this._unsubNet = net.subscribe((v) => this._netChanged(v));
    this.update(group);
    this.setOnline(opts.online ?? 0);
    /** The features of pane-features.js, by name (`pane.features.search`, ...). */
    this.features = mountFeatures(this);
    this.setRole();
  }

  get isOwner() {
    return !this.guest && !!this.session.me && this.group.ownerID === this.session.me.userID;
  }

  /** Whether this user may moderate the room: owner, its admins, app administrators. */
  get canModerate() {
    return !this.guest && !this.removed && (this.isOwner || MODERATOR_ROLES.includes(this.role));
  }

  /** The role `enterRoom` reported (or a `t_admin_changed` about me): shows or hides tools. */
  setRole(role) {
    if (role) this.role = role;
    this.el.dataset.role = this.role;
    this.el.classList.toggle('can-moderate', this.canModerate);
    this.el.classList.toggle('is-owner', this.isOwner);
    this.$('.btn-host').hidden = !this.canModerate;
    if (!this.canModerate) this.$('.host-panel').hidden = true;
    notifyFeatures(this.features, 'roleChanged');
  }

  /** Updates the header from a room object. */
  update(group) {
    this.group = { ...(this.group || {}), ...group };
    const g = this.group;
    this.$('.room-name').textContent = g.name || g.groupID;
    this.$('.room-id').textContent = g.groupID;
    setAvatar(this.$('.room-avatar'), g.avatar, g.name || g.groupID);
    const notice = this.$('.notice');
    notice.textContent = g.notification || '';
    notice.hidden = !g.notification;
    this.$('.room-titles').title = g.introduction || '';
    // The room changed hands (REST change_group_owner): the owner's tools follow the owner.
    if (this.role === 'owner' && !this.isOwner) this.role = 'member';
    else if (this.isOwner) this.role = 'owner';
    this.setRole();
    if (g.pushStopped) this.setEnded(g.postscript || '');
    this._setGuestInput();
  }

  setOnline(n) {
    this.$('.online-count').textContent = String(n);
  }

  /** Shows the ended badge and notice (viewers: with the host's postscript). */
  setEnded(postscript) {
    this.ended = true;
    const badge = this.$('.badge');
    badge.classList.replace('live', 'ended');
    badge.dataset.i18n = 'ended';
    badge.textContent = t('ended');
    this.$('.ended-notice').hidden = false;
    this.$('.ended-postscript').textContent = postscript || '';
    this.el.classList.add('ended');
    notifyFeatures(this.features, 'ended');
    emit(this.el, PANE.CHANGED, { roomID: this.roomID });
  }

  /**
   * Kicked, banned or dismissed: the engine has left the room. The pane stays, saying why,
   * until the user closes it with Leave.
   */
  setRemoved(text, reason) {
    this.removed = true;
    this.$('.removed-notice').hidden = false;
    this.$('.removed-text').textContent = text;
    this.$('.removed-reason').textContent = reason || '';
    this.$('.removed-reason').hidden = !reason;
    this.el.classList.add('removed');
    for (const el of this.el.querySelectorAll('.composer input, .composer button')) el.disabled = true;
    this.$('.gift-panel').hidden = true;
    this.setRole();
    emit(this.el, PANE.CHANGED, { roomID: this.roomID });
  }

  _setGuestInput() {
    const input = this.$('.text-input');
    input.disabled = this.guest;
    input.dataset.i18nPh = this.guest ? 'guestPlaceholder' : 'messagePlaceholder';
    input.placeholder = t(input.dataset.i18nPh);
  }

  _renderGiftPanel() {
    const panel = this.$('.gift-panel');
    for (const g of GIFTS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'ghost gift-btn';
      b.dataset.gift = g.id;
      const img = document.createElement('img');
      img.src = g.icon;
      img.alt = '';
      const label = document.createElement('span');
      label.className = 'gift-label';
      label.textContent = giftName(g.id);
      b.append(img, label);
      b.addEventListener('click', () => this.sendGift(g.id));
      panel.appendChild(b);
    }
  }

  /** Re-labels what JS wrote (gift names) after a language switch. */
  relabel() {
    for (const b of this.$('.gift-panel').children) b.querySelector('.gift-label').textContent = giftName(b.dataset.gift);
    this._setGuestInput();
    notifyFeatures(this.features, 'relabel');
  }

  _wire() {
    const im = () => this.session.im;
    this.$('.btn-leave').addEventListener('click', () => emit(this.el, PANE.LEAVE, { roomID: this.roomID }));
    this.$('.btn-host').addEventListener('click', () => {
      const p = this.$('.host-panel');
      p.hidden = !p.hidden;
      if (p.hidden) return;
      this.$('.edit-name').value = this.group.name || '';
      this.$('.edit-notice').value = this.group.notification || '';
      if (this.isOwner && !this.ended) this.$('.postscript').focus();
    });
    this.$('.host-panel').addEventListener('submit', async (e) => {
      e.preventDefault();
      const postscript = this.$('.postscript').value;
      try {
        await im().stopPush({ roomID: this.roomID, postscript });
        this.setEnded(postscript);
      } catch (err) {
        showError(err);
      }
    });
    this._wireModeration();
    this.$('.composer').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = this.$('.text-input');
      const text = input.value;
      if (!text.trim() || this.guest) return;
      input.value = '';
      this.sendText(text);
    });
    this.$('.btn-like').addEventListener('click', () => this.sendLike());
    this.$('.btn-gift').addEventListener('click', () => {
      const p = this.$('.gift-panel');
      p.hidden = !p.hidden;
    });
    this.$('.btn-image').addEventListener('click', async () => {
      let path = null;
      try {
        path = await openImageDialog(t('picture'));
      } catch (err) {
        // No native dialog (e.g. no portal): fall back to the web file input.
        this.$('.file-input').click();
        return;
      }
      if (path) this.sendImage({ path: typeof path === 'string' ? path : path.path });
    });
    const fileInput = this.$('.file-input');
    fileInput.addEventListener('change', () => {
      const f = fileInput.files && fileInput.files[0];
      if (f) this.sendImage(f).finally(() => (fileInput.value = ''));
    });
    this.$('.text-input').addEventListener('paste', (e) => {
      const files = e.clipboardData && e.clipboardData.files;
      if (files && files.length && files[0].type.startsWith('image/')) {
        e.preventDefault();
        this.sendImage(files[0]);
      }
    });
    let depth = 0;
    this.el.addEventListener('dragenter', (e) => {
      if (this.guest || !hasFiles(e)) return;
      depth++;
      this.el.classList.add('dragging');
    });
    this.el.addEventListener('dragover', (e) => {
      if (hasFiles(e)) e.preventDefault();
    });
    this.el.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) this.el.classList.remove('dragging');
    });
    this.el.addEventListener('drop', (e) => {
      e.preventDefault();
      depth = 0;
      this.el.classList.remove('dragging');
      const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
      if (f && !this.guest) this.sendImage(f);
    });
    this.chat.addEventListener('click', (e) => {
      const img = e.target.closest('img.thumb');
      if (img && img.dataset.original) emit(this.el, PANE.SHOW_PICTURE, { url: img.dataset.original });
    });
    this.$('.new-msgs').addEventListener('click', () => this.list.scrollToBottom());
    this.chat.addEventListener('click', (e) => {
      const retry = e.target.closest('.msg-retry');
      if (retry) this._retry(retry.closest('li.msg'));
    });
  }

  /**
   * The connection's state (net-state.js): the banner says it, own messages waiting for it say
   * so, and the chat marks the gap: where it was lost, and once back how many messages the
   * engine's gap fill brought (they arrive just before the "connected" event, each once).
   */
  _netChanged(v) {
    const banner = this.$('.net-banner');
    const show = (text, state) => {
      banner.textContent = text;
      banner.dataset.state = state;
      banner.hidden = false;
    };
    const down = !v.online && !!v.state;
    this.el.classList.toggle('net-down', down);
    if (down) {
      clearTimeout(this.netBannerTimer);
      if (!this.netDown && this.wasOnline) {
        this.netDown = { missed: 0, skipped: false };
        this._pushLine(t('netLost').replace('{time}', new Date().toLocaleTimeString()), 'net');
      }
      show(v.text, v.state);
    } else if (v.online && this.netDown) {
      const { missed: n, skipped } = this.netDown;
      this.netDown = null;
      const back = skipped ? 'netBackSkipped' : n ? 'netBack' : 'netBackNone';
      this._pushLine(t(back).replace('{n}', String(n)), 'net');
      show(t('netBackBanner'), 'back');
      this.netBannerTimer = setTimeout(() => (banner.hidden = true), RECONNECTED_MS);
    } else if (banner.dataset.state !== 'back') {
      banner.hidden = true;
    }
    this.wasOnline = v.online;
  }

  /**
   * t_messages_skipped: back after a gap older than the room's kept history, some messages
   * are gone for good. The engine says so just before it delivers what was kept, so this line
   * sits where the gap is: right above the first kept message.
   */
  messagesSkipped() {
    if (this.netDown) this.netDown.skipped = true;
    this._pushLine(t('netSkipped'), 'net');
  }

  /** Sends a failed text again (its row goes; the new one comes at the bottom). */
  _retry(li) {
    const entry = this.list.entryOf(li);
    if (!entry || entry.item.__status !== 'failed') return;
    const item = entry.item;
    this.list.remove((m) => m === item);
    this.sendText((item.payload && item.payload.text) || '');
  }

  /** The "new messages" button: shown with a count while the user reads further up. */
  _showUnseen(n) {
    const b = this.$('.new-msgs');
    b.hidden = n === 0;
    b.dataset.count = String(n);
    this.$('.new-msgs-count').textContent = n > 999 ? '999+' : String(n);
  }

  // ---------- moderation ----------

  _wireModeration() {
    const im = () => this.session.im;
    const run = async (work) => {
      try {
        return await work();
      } catch (err) {
        showError(err);
        return null;
      }
    };
    this.$('.mute-all').addEventListener('change', async (e) => {
      const r = await run(() => im().setMuteAll({ roomID: this.roomID, on: e.target.checked }));
      if (r) this.setSettings(r.data);
    });
    this.$('.btn-slow').addEventListener('click', async () => {
      const r = await run(() => im().setSlowMode({ roomID: this.roomID, seconds: Number(this.$('.slow-mode').value) || 0 }));
      if (r) this.setSettings(r.data);
    });
    const wordInput = this.$('.blocked-word');
    const addWord = async () => {
      const word = wordInput.value.trim();
      if (!word) return;
      const r = await run(() => im().blockedWords({ roomID: this.roomID, action: 'add', word }));
      if (r) {
        wordInput.value = '';
        this._renderWords(r.data);
      }
    };
    this.$('.btn-word-add').addEventListener('click', addWord);
    wordInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        addWord();
      }
    });
    this.$('.btn-edit-room').addEventListener('click', async () => {
      const changes = { roomID: this.roomID };
      const name = this.$('.edit-name').value.trim();
      const notification = this.$('.edit-notice').value;
      if (name && name !== this.group.name) changes.name = name;
      if (notification !== (this.group.notification || '')) changes.notification = notification;
      if (Object.keys(changes).length === 1) return;
      const r = await run(() => im().editRoom(changes));
      if (r) {
        this.update(r.data.group);
        toast(t('roomEdited'));
      }
    });
    this.$('.btn-audit').addEventListener('click', () => emit(this.el, PANE.OPEN_AUDIT, { roomID: this.roomID, title: this.group.name || this.roomID }));
    // Dismissing is for good: the button asks first; the confirmation goes away by itself.
    const confirm = this.$('.btn-dismiss-confirm');
    this.$('.btn-dismiss').addEventListener('click', () => {
      confirm.hidden = false;
      clearTimeout(this.dismissTimer);
      this.dismissTimer = setTimeout(() => (confirm.hidden = true), 8000);
    });
    confirm.addEventListener('click', async () => {
      confirm.hidden = true;
      // The room's own t_room_dismissed may arrive before the reply: it is ours, not news.
      this.dismissing = true;
      const r = await run(() => im().dismissRoom({ roomID: this.roomID }));
      this.dismissing = false;
      if (r) emit(this.el, PANE.CLOSED, { roomID: this.roomID });
    });
    this.$('.btn-host').addEventListener('click', async () => {
      if (this.$('.host-panel').hidden) return;
      const r = await run(() => im().blockedWords({ roomID: this.roomID, action: 'list' }));
      if (r) this._renderWords(r.data);
      this._refreshRestrictions();
    });
    // The message menu: one open at a time; a click elsewhere closes it.
    this.chat.addEventListener('click', (e) => {
      const btn = e.target.closest('.msg-menu-btn');
      if (btn) {
        e.stopPropagation();
        this._openMenu(btn.closest('li.msg'));
        return;
      }
      const item = e.target.closest('.msg-menu button');
      if (item) {
        e.stopPropagation();
        this._moderate(item.dataset.act, item.closest('li.msg'));
        return;
      }
      const who = e.target.closest('.who-name, .msg > .avatar');
      const li = who && who.closest('li.msg');
      if (li && li.dataset.from) {
        e.stopPropagation();
        this._openUser({ userID: li.dataset.from, nick: li.dataset.nick, avatar: li.dataset.avatar });
      }
    });
    // Removed again in destroy(): a left room must not keep listening to the page.
    this._onPageClick = (e) => {
      if (!e.target.closest('.msg-menu')) this._closeMenu();
    };
    document.addEventListener('click', this._onPageClick);
  }

  /** Asks the app for a member's card, with what this user may do there. */
  _openUser(who) {
    const canAppoint = this.isOwner || this.role === 'app_admin';
    emit(this.el, PANE.OPEN_USER, { roomID: this.roomID, who, canModerate: this.canModerate, canAppoint });
  }

  _openMenu(li) {
    const had = li && li.querySelector('.msg-menu');
    this._closeMenu();
    if (!li || had) return;
    const menu = document.createElement('div');
    menu.className = 'msg-menu';
    menu.setAttribute('role', 'menu');
    const items = [['card', 'userCard'], ['delete', 'deleteMsg'], ['mute-60', 'mute1m'], ['mute-600', 'mute10m'], ['mute-3600', 'mute1h'], ['mute-86400', 'mute24h'], ['kick', 'kick'], ['ban', 'ban']];
    for (const [act, key] of items) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = act === 'ban' || act === 'kick' || act === 'delete' ? 'ghost danger-text' : 'ghost';
      b.dataset.act = act;
      b.setAttribute('role', 'menuitem');
      b.textContent = t(key);
      menu.appendChild(b);
    }
    li.querySelector('.body').appendChild(menu);
  }

  _closeMenu() {
    for (const m of this.el.querySelectorAll('.msg-menu')) m.remove();
  }

  async _moderate(act, li) {
    this._closeMenu();
    if (!li) return;
    const roomID = this.roomID;
    const userID = li.dataset.from;
    const im = this.session.im;
    if (act === 'card') {
      this._openUser({ userID, nick: li.dataset.nick, avatar: li.dataset.avatar });
      return;
    }
    try {
      if (act === 'delete') {
        await im.deleteMessage({ roomID, messageID: li.dataset.id });
        this.removeMessage(li.dataset.id);
      } else if (act.startsWith('mute-')) {
        await im.muteMember({ roomID, userID, muteTime: Number(act.slice(5)) });
      } else if (act === 'kick') {
        await im.kickMember({ roomID, userID });
      } else if (act === 'ban') {
        await im.banMember({ roomID, userID });
      }
      toast(t('done'));
    } catch (err) {
      showError(err);
    }
  }

  /** t_message_deleted: the message leaves the view (and the frame queue). */
  removeMessage(messageID) {
    if (!messageID) return;
    this.list.remove((item) => item.ID === messageID);
  }

  /** t_muted: a banner when it is me; a line for everyone else. */
  setMuted({ userID, until }) {
    const me = this.session.me && this.session.me.userID;
    const active = Number(until) > Date.now() / 1000;
    if (userID === me) {
      const banner = this.$('.muted-banner');
      banner.hidden = !active;
      banner.textContent = active ? `${t('mutedUntil')}${fmtTime(until)}` : '';
      clearTimeout(this.muteTimer);
      if (active) this.muteTimer = setTimeout(() => (banner.hidden = true), Math.min(2 ** 31 - 1, until * 1000 - Date.now()));
    } else if (userID) {
      this._pushLine(active ? `${userID}${t('userMuted')}${fmtTime(until)}` : `${userID}${t('userUnmuted')}`, 'tip');
    }
    this._memberNews(userID);
  }

  /** t_member_removed: a line saying who was removed (the member is told why separately). */
  memberRemoved({ userID, banned }) {
    const me = this.session.me && this.session.me.userID;
    if (!userID || userID === me) return;
    this._pushLine(`${userID}${banned ? t('userBanned') : t('userRemoved')}`, 'tip');
    this._memberNews(userID);
  }

  /** t_admin_changed: my tools appear or go; others see a line. */
  adminChanged({ userID, admin }) {
    const me = this.session.me && this.session.me.userID;
    if (userID && userID === me) {
      if (this.role === 'admin' || this.role === 'member') this.setRole(admin ? 'admin' : 'member');
      toast(t(admin ? 'youAreAdmin' : 'youAreNotAdmin'));
    } else if (userID) {
      this._pushLine(`${userID}${admin ? t('nowAdmin') : t('noLongerAdmin')}`, 'tip');
    }
    this._memberNews(userID);
  }

  /** t_room_settings_updated (or a command's reply): `{muteAll, slowMode}`. */
  setSettings(s) {
    if (typeof s.muteAll === 'boolean') this.$('.mute-all').checked = s.muteAll;
    if (typeof s.slowMode === 'number') this.$('.slow-mode').value = String(s.slowMode);
    this.settings = { ...(this.settings || {}), ...s };
  }

  /** A member was muted, removed or (un)appointed: what shows its standing is read again. */
  _memberNews(userID) {
    this._refreshRestrictions();
    if (userID) emit(this.el, PANE.MEMBER_NEWS, { roomID: this.roomID, userID });
  }

  /** Reloads the Manage panel's list of admins, mutes and bans, when the panel is open. */
  async _refreshRestrictions() {
    if (!this.canModerate || this.$('.host-panel').hidden) return;
    try {
      this._renderRestrictions((await this.session.im.getRestrictions({ roomID: this.roomID })).data);
    } catch (e) {
      console.warn('getRestrictions failed', e);
    }
  }

  /** One row per admin, muted and banned member, each with the action that lifts it. */
  _renderRestrictions(r) {
    const list = this.$('.restricted-list');
    list.replaceChildren();
    const appoints = this.isOwner || this.role === 'app_admin';
    const lift = (label, call) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'ghost';
      b.textContent = t(label);
      b.addEventListener('click', async () => {
        try {
          await call();
          await this._refreshRestrictions();
        } catch (err) {
          showError(err);
        }
      });
      return b;
    };
    const row = (userID, what, button) => {
      const li = document.createElement('li');
      li.dataset.user = userID;
      const who = document.createElement('strong');
      who.textContent = userID;
      const span = document.createElement('span');
      span.textContent = ` · ${what} `;
      li.append(who, span);
      if (button) li.appendChild(button);
      list.appendChild(li);
    };
    const roomID = this.roomID;
    const im = this.session.im;
    for (const userID of r.admins || []) {
      row(userID, t('role_admin'), appoints && lift('removeAdmin', () => im.setAdmin({ roomID, userID, admin: false })));
    }
    for (const m of r.muted || []) {
      row(m.userID, `${t('cardMutedUntil')}${fmtTime(m.until)}`, lift('unmute', () => im.unmuteMember({ roomID, userID: m.userID })));
    }
    for (const b of r.banned || []) {
      const what = b.until ? `${t('cardBannedUntil')}${fmtTime(b.until)}` : t('cardBannedForGood');
      row(b.userID, what, lift('unban', () => im.unbanMember({ roomID, userID: b.userID })));
    }
    if (!list.children.length) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = t('noRestrictions');
      list.appendChild(li);
    }
  }

  _renderWords(data) {
    const list = this.$('.blocked-list');
    list.replaceChildren();
    const words = (data && (data.words || data.room)) || [];
    for (const w of words) {
      const li = document.createElement('li');
      const span = document.createElement('span');
      span.textContent = w;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'ghost';
      b.textContent = t('remove');
      b.addEventListener('click', async () => {
        try {
          const r = await this.session.im.blockedWords({ roomID: this.roomID, action: 'remove', word: w });
          this._renderWords(r.data);
        } catch (err) {
          showError(err);
        }
      });
      li.append(span, ' ', b);
      list.appendChild(li);
    }
  }

  // ---------- sending ----------

  async sendText(text) {
    const local = { ...this._localMessage('TIMTextElem', { text }), __status: 'pending' };
    const entry = this._addOwn(local);
    try {
      const r = await this.session.im.sendTextMessage({ roomID: this.roomID, text, priority: TYPES.MSG_PRIORITY_NORMAL });
      local.ID = r.data.message.ID;
      local.__status = '';
    } catch (err) {
      local.__status = 'failed';
      local.__failure = sendFailure(err);
      showError(err);
    }
    this.list.refresh(entry);
  }

  async sendLike() {
    if (this.guest) return;
    floatHearts(this.$('.fx-hearts'), 3);
    this.stats.likes++;
    try {
      await this.session.im.sendCustomMessage({ roomID: this.roomID, data: 'dianzan', description: '', extension: '', priority: TYPES.MSG_PRIORITY_LOW });
    } catch (err) {
      showError(err);
    }
  }

  async sendGift(giftId) {
    if (this.guest) return;
    const me = this.session.me || {};
    this.gifts.push({ from: me.userID, nick: me.nick, avatar: me.avatar, giftId, count: 1 });
    // The line carries its message (search finds it; the ID once the server has it).
    const msg = this._localMessage('TIMCustomElem', { data: GIFT_DATA, description: giftId, extension: JSON.stringify({ count: 1 }) });
    this._add({ __line: true, text: `${me.nick || me.userID} ${t('sentGift')} ${giftName(giftId)}`, kind: 'gift', icon: giftIcon(giftId), msg });
    this.stats.gifts++;
    try {
      const r = await this.session.im.sendCustomMessage({
        roomID: this.roomID,
        data: GIFT_DATA,
        description: giftId,
        extension: JSON.stringify({ count: 1 }),
        priority: TYPES.MSG_PRIORITY_HIGH,
      });
      msg.ID = r.data.message.ID;
    } catch (err) {
      showError(err);
    }
  }

  /** `file`: a File/Blob or `{path}` from the native picker. */
  async sendImage(file) {
    if (this.guest) return;
    const bar = this.$('.upload');
    const fill = this.$('.upload .fill');
    const pct = this.$('.upload-pct');
    const show = (f) => {
      const p = Math.max(0, Math.min(1, Number(f) || 0));
      fill.style.setProperty('width', `${Math.round(p * 100)}%`);
      pct.textContent = `${Math.round(p * 100)}%`;
      this.el.dataset.uploadProgress = String(p);
      this.el.dataset.progressEvents = String(Number(this.el.dataset.progressEvents || 0) + 1);
    };
    bar.hidden = false;
    show(0);
    try {
      const r = await this.session.im.sendImageMessage({ roomID: this.roomID, file, priority: TYPES.MSG_PRIORITY_NORMAL, onProgress: show });
      show(1);
      this._addOwn({ ...r.data.message, flow: 'out' });
    } catch (err) {
      showError(err);
    } finally {
      setTimeout(() => (bar.hidden = true), 900);
    }
  }

  _localMessage(type, payload) {
    const me = this.session.me || {};
    return { ID: '', type, payload, to: this.roomID, from: me.userID, nick: me.nick, avatar: me.avatar, flow: 'out', time: Date.now() / 1000 };
  }

  // ---------- receiving ----------

  /**
   * Messages from an event: their rows go to the chat (drawn by its scheduler, chat-list.js),
   * their effects (hearts, gifts) play on the next animation frame.
   */
  receive(messages) {
    this.stats.received += messages.length;
    if (this.netDown) this.netDown.missed += messages.filter((m) => !isLike(m)).length;
    for (const m of messages) this._add(m);
    notifyFeatures(this.features, 'receive', messages);
  }

  /** A line without a message behind it (join/leave notices, gifts). */
  _pushLine(text, kind, icon) {
    this._add({ __line: true, text, kind, icon });
  }

  _add(m) {
    const row = this._toRow(m, this.fx);
    if (row) {
      this.list.add(row);
      this.stats.rendered++;
    }
    if (!this.frame && (this.fx.hearts || this.fx.gifts.length)) this.frame = requestAnimationFrame(() => this._playEffects());
  }

  /** Plays what the frame's likes and gifts asked for, in the effects' own layers. */
  _playEffects() {
    this.frame = 0;
    const fx = this.fx;
    this.fx = { hearts: 0, gifts: [] };
    if (fx.hearts) floatHearts(this.$('.fx-hearts'), Math.min(fx.hearts, HEARTS_PER_FRAME));
    for (const g of fx.gifts) this.gifts.push(g);
  }

  /** Adds one of the user's own messages and draws it at once, scrolled into view. */
  _addOwn(m) {
    notifyFeatures(this.features, 'sent', m);
    const row = this._toRow(m, this.fx);
    const entry = row ? this.list.addNow(row) : null;
    if (row) this.stats.rendered++;
    return entry;
  }

  /**
   * What a message shows in the chat: itself (a bubble), a line (joins, leaves, gifts), or
   * nothing (likes, shown as hearts only). Effects are noted in `fx`.
   */
  _toRow(m, fx) {
    if (m.__line) return m;
    const who = m.nick || m.from || t('guest');
    switch (m.type) {
      case 'TIMGroupTipElem': {
        const p = m.payload || {};
        const name = m.nick || (p.userIDList && p.userIDList[0]) || '';
        return { __line: true, text: `${name} ${p.operationType === 2 ? t('left') : t('joined')}`, kind: 'tip' };
      }
      case 'TIMGroupSystemNoticeElem': {
        // The app's backend to everyone in the room: a line, its text as the backend wrote it.
        const text = String((m.payload && m.payload.userDefinedField) ?? '');
        return { __line: true, text: `${t('systemNotice')}: ${text}`, kind: 'notice' };
      }
      case 'TIMCustomElem': {
        const p = m.payload || {};
        if (LIKE_DATA.includes(p.data)) {
          fx.hearts++;
          this.stats.likes++;
          return null;
        }
        if (p.data === GIFT_DATA) {
          let count = 1;
          try {
            count = Number(JSON.parse(p.extension || '{}').count) || 1;
          } catch {
            /* a foreign gift format: count 1 */
          }
          this.stats.gifts++;
          fx.gifts.push({ from: m.from, nick: m.nick, avatar: m.avatar, giftId: p.description, count });
          const text = `${who} ${t('sentGift')} ${giftName(p.description)}${count > 1 ? ` x${count}` : ''}`;
          return { __line: true, text, kind: 'gift', icon: giftIcon(p.description), msg: m };
        }
        return m;
      }
      default:
        return m;
    }
  }

  /** Builds a chat row (`_toRow`'s result) when it comes into view. */
  _row(m) {
    if (m.__line) return line(m.text, m.kind, m.icon);
    switch (m.type) {
      case 'TIMCustomElem': {
        const p = m.payload || {};
        return this._bubble(m, (body) => {
          const span = document.createElement('span');
          span.className = 'text';
          span.textContent = [p.data, p.description, p.extension].filter(Boolean).join(' · ');
          body.appendChild(span);
        });
      }
      case 'TIMImageElem': {
        const arr = (m.payload && m.payload.imageInfoArray) || [];
        const original = arr.find((i) => i.sizeType === 1) || arr[0];
        const small = arr.find((i) => i.sizeType === 3) || arr.find((i) => i.sizeType === 2) || original;
        return this._bubble(m, (body) => {
          const img = document.createElement('img');
          img.className = 'thumb';
          img.alt = '';
          // Its box is sized before the picture loads, so the chat does not jump.
          if (small && small.width && small.height) {
            const scale = Math.min(1, THUMB_MAX / small.width, THUMB_MAX / small.height);
            img.width = Math.max(1, Math.round(small.width * scale));
            img.height = Math.max(1, Math.round(small.height * scale));
          }
          if (small) img.src = pictureUrl(small.url);
          if (original) img.dataset.original = pictureUrl(original.url);
          body.appendChild(img);
        });
      }
      default: {
        return this._bubble(m, (body) => {
          const span = document.createElement('span');
          span.className = 'text';
          span.textContent = (m.payload && m.payload.text) ?? '';
          body.appendChild(span);
        });
      }
    }
  }

  _bubble(m, fill) {
    const li = document.createElement('li');
    const mine = m.flow === 'out' || (this.session.me && m.from === this.session.me.userID);
    li.className = mine ? 'msg me' : 'msg';
    if (m.__status) li.classList.add(m.__status);
    if (m.ID) li.dataset.id = m.ID;
    if (m.from) li.dataset.from = m.from;
    if (m.nick) li.dataset.nick = m.nick;
    if (m.avatar) li.dataset.avatar = m.avatar;
    li.dataset.type = m.type;
    const av = document.createElement('img');
    av.className = 'avatar';
    av.alt = '';
    setAvatar(av, m.avatar, m.nick || m.from);
    const body = document.createElement('div');
    body.className = 'body';
    const who = document.createElement('div');
    who.className = 'who';
    const name = document.createElement('span');
    name.className = 'who-name';
    name.textContent = m.nick || m.from || t('guest');
    who.appendChild(name);
    if (m.from && m.from === this.group.ownerID) {
      const tag = document.createElement('span');
      tag.className = 'host-tag';
      tag.textContent = t('owner');
      who.appendChild(tag);
    }
    // Shown by CSS only while this user moderates the room (roles can change).
    if (!mine && m.ID && m.from) {
      const mb = document.createElement('button');
      mb.type = 'button';
      mb.className = 'ghost msg-menu-btn';
      mb.title = t('msgMenu');
      mb.textContent = '⋯';
      who.appendChild(mb);
    }
    body.appendChild(who);
    fill(body);
    if (m.__status) body.appendChild(this._sendNote(m));
    li.append(av, body);
    notifyFeatures(this.features, 'decorate', li, m);
    return li;
  }

  /** Under an own message: waiting for the connection (shown by CSS while it is down), or
   *  why it was not sent, with Retry when the connection was the reason. */
  _sendNote(m) {
    const note = document.createElement('div');
    note.className = 'msg-note';
    if (m.__status === 'pending') {
      note.classList.add('wait-note');
      note.textContent = t('waitingForConnection');
      return note;
    }
    const f = m.__failure || { text: t('notSent'), retry: false };
    note.classList.add('fail-note');
    const span = document.createElement('span');
    span.textContent = f.text;
    note.appendChild(span);
    if (f.retry) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'ghost msg-retry';
      b.textContent = t('retry');
      note.append(' ', b);
    }
    return note;
  }

  destroy() {
    notifyFeatures(this.features, 'destroy');
    if (this.frame) cancelAnimationFrame(this.frame);
    this.list.destroy();
    this._unsubNet();
    clearTimeout(this.netBannerTimer);
    clearTimeout(this.muteTimer);
    clearTimeout(this.dismissTimer);
    document.removeEventListener('click', this._onPageClick);
    this.el.remove();
  }
}

function line(text, kind, icon) {
  const li = document.createElement('li');
  li.className = `line ${kind || ''}`;
  if (icon) {
    const img = document.createElement('img');
    img.src = icon;
    img.alt = '';
    li.appendChild(img);
    li.append(' ');
  }
  li.append(document.createTextNode(text));
  return li;
}


function isLike(m) {
  return m.type === 'TIMCustomElem' && LIKE_DATA.includes(m.payload && m.payload.data);
}

function hasFiles(e) {
  return !!(e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files'));
}
