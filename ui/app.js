// The app controller: start screen, room list, room panes, profile. Everything goes through the
// TWebLive layer (`tweblive.js`), as a page written for TWebLive would; the few app-level calls
// (embedded server, LAN access, system language) go through `tauri.js`.

import TWebLive from './tweblive.js';
import { invoke, pictureSrc } from './tauri.js';
import { t, setLang, currentLang, initLanguage, onLangChange, apply as applyI18n } from './i18n.js';
import { RoomPane, fmtTime } from './room.js';
import { setAvatar } from './effects.js';

window.TWebLive = TWebLive;

const $ = (id) => document.getElementById(id);
const E = TWebLive.EVENT;
const RECENT_KEY = 'liveroom.recent';
const MAX_RECENT = 12;
/** How long the embedded server's start may take before the request is sent again. */
const EMBEDDED_ANSWER_MS = 6000;

const app = {
  im: null,
  me: null, // {userID, nick, avatar}; null for a guest
  guest: false,
  server: '',
  sdkAppID: 0,
  embedded: null,
  panes: new Map(),
  active: null,
  moderator: false,

  // ---------- helpers ----------

  toast(text, kind) {
    const el = document.createElement('div');
    el.className = `toast ${kind || ''}`;
    el.textContent = text;
    el.addEventListener('animationend', () => el.remove());
    $('toasts').appendChild(el);
  },

  error(err) {
    const code = err && err.code !== undefined ? ` ${err.code}` : '';
    this.toast(`${t('errorPrefix')}${code}: ${(err && err.message) || err}`, 'error');
    console.warn('liveroom |', err);
  },

  /** A server picture's URL (`/images/...`, or absolute as the engine gives it) as the webview loads it: from the room server, through the app's picture protocol. */
  absUrl(url) {
    if (!url || /^(data:|blob:)/i.test(url)) return url || '';
    return pictureSrc(String(url));
  },

  showImage(url) {
    $('viewer-img').src = url;
    $('dlg-image').showModal();
  },

  // ---------- sessions ----------

  /** Makes the IM singleton for this server and app, with every event routed to the panes. */
  async connect(server, sdkAppID, caPem) {
    await TWebLive.destroyIM();
    this.server = server;
    this.sdkAppID = Number(sdkAppID);
    const im = TWebLive.createIM({ SDKAppID: this.sdkAppID, server, caPem });
    const toRoom = (handler) => (ev) => {
      const roomID = ev.roomID || (Array.isArray(ev.data) && ev.data[0] && ev.data[0].to);
      const pane = this.panes.get(roomID);
      if (pane) handler(pane, ev);
    };
    const messages = toRoom((pane, ev) => pane.receive(ev.data));
    for (const name of [E.IM_TEXT_MESSAGE_RECEIVED, E.IM_CUSTOM_MESSAGE_RECEIVED, E.IM_IMAGE_MESSAGE_RECEIVED, E.IM_REMOTE_USER_JOIN, E.IM_REMOTE_USER_LEAVE]) {
      im.on(name, messages);
    }
    im.on(E.IM_PUSH_STOPPED, toRoom((pane, ev) => pane.setEnded(ev.data)));
    im.on(E.IM_ONLINE_COUNT, toRoom((pane, ev) => pane.setOnline(ev.data)));
    im.on(E.IM_MESSAGE_DELETED, toRoom((pane, ev) => pane.removeMessage(ev.data && ev.data.messageID)));
    im.on(E.IM_MUTED, toRoom((pane, ev) => pane.setMuted(ev.data || {})));
    im.on(E.IM_ROOM_SETTINGS_UPDATED, toRoom((pane, ev) => pane.setSettings(ev.data || {})));
    im.on(E.IM_ROOM_PROFILE_UPDATED, toRoom((pane, ev) => pane.update(ev.data || {})));
    im.on(E.IM_KICKED_FROM_ROOM, toRoom((pane, ev) => {
      const d = ev.data || {};
      const why = d.banned ? (d.until ? `${t('bannedUntil')}${fmtTime(d.until)}` : t('bannedForGood')) : t('kickedFromRoom');
      this.toast(`${pane.group.name || pane.roomID}: ${why}`, 'error');
      pane.setRemoved(why, d.reason);
    }));
    im.on(E.IM_ROOM_DISMISSED, toRoom((pane) => {
      if (pane.dismissing) return this.dropRoom(pane.roomID);
      this.toast(`${pane.group.name || pane.roomID}: ${t('roomDismissed')}`, 'error');
      pane.setRemoved(t('ownerDismissed'));
    }));
    im.on(E.IM_MEMBER_REMOVED, toRoom((pane, ev) => pane.memberRemoved(ev.data || {})));
    im.on(E.IM_ADMIN_CHANGED, toRoom((pane, ev) => pane.adminChanged(ev.data || {})));
    im.on(E.IM_KICKED_OUT, (ev) => {
      this.toast(`${t('kicked')}${ev.data}`, 'error');
      this.reset();
    });
    im.on(E.IM_NET_STATE_CHANGED, (ev) => {
      const chip = $('net-state');
      chip.hidden = ev.data === TWebLive.TYPES.NET_STATE_CONNECTED;
      chip.textContent = ev.data === TWebLive.TYPES.NET_STATE_CONNECTING ? t('netConnecting') : t('netDisconnected');
    });
    this.im = im;
    return im;
  },

  async loginLocal(userID, nick) {
    const info = await this.ensureEmbedded();
    const im = await this.connect(info.address, info.SDKAppID);
    const { userSig } = await TWebLive.genTestUserSig(userID);
    await im.login({ userID, userSig });
    if (nick) await im.setMyProfile({ nick });
    await this.afterLogin();
  },

  async loginRemote(server, sdkAppID, userID, userSig, caPem) {
    const im = await this.connect(server, sdkAppID, caPem);
    await im.login({ userID, userSig });
    await this.afterLogin();
  },

  async afterLogin() {
    const p = (await this.im.getMyProfile()).data;
    this.me = { userID: p.userID, nick: p.nick, avatar: p.avatar };
    this.guest = false;
    this.showMain();
  },

  async watchAsGuest(server, sdkAppID, roomID) {
    if (!server || !sdkAppID) {
      const info = await this.ensureEmbedded();
      server = server || info.address;
      sdkAppID = sdkAppID || info.SDKAppID;
    }
    await this.connect(server, sdkAppID);
    this.me = null;
    this.guest = true;
    this.showMain();
    await this.enterRoom(roomID);
  },

  async logout() {
    try {
      if (this.im && !this.guest) await this.im.logout();
    } catch (e) {
      console.warn(e);
    }
    await this.reset();
  },

  async reset() {
    for (const pane of this.panes.values()) pane.destroy();
    this.panes.clear();
    this.active = null;
    this.me = null;
    this.im = null;
    await TWebLive.destroyIM();
    $('screen-main').hidden = true;
    $('screen-start').hidden = false;
    this.renderLists();
  },

  // ---------- embedded server ----------

  /**
   * Starts (or finds) the embedded server. An unanswered request is asked again: under load
   * WebKitGTK has dropped an IPC request made while the page was still starting, which left
   * "starting…" on screen for good. `start_embedded` is idempotent, so asking twice is safe.
   * Three unanswered requests end in an error the user sees, not an endless "starting…".
   */
  async ensureEmbedded() {
    for (let attempt = 1; !this.embedded; attempt++) {
      const answer = invoke('start_embedded');
      answer.catch(() => {}); // an abandoned attempt's failure is not news; the race reports ours
      const late = new Promise((resolve) => setTimeout(() => resolve(null), EMBEDDED_ANSWER_MS));
      const info = await Promise.race([answer, late]);
      if (info) this.embedded = info;
      else if (attempt >= 3) throw new Error(t('embeddedNoAnswer'));
    }
    this.showEmbedded(this.embedded);
    return this.embedded;
  },

  showEmbedded(info) {
    $('embedded-address').textContent = info.address;
    $('embedded-address').removeAttribute('data-i18n');
    $('embedded-appid').textContent = String(info.SDKAppID);
    $('lan-toggle').checked = !!info.lan;
    $('guest-server').placeholder = info.address;
    $('guest-appid').placeholder = String(info.SDKAppID);
  },

  // ---------- rooms ----------

  async createRoom(opts) {
    const r = await this.im.createRoom(opts);
    this.toast(t('roomCreated'));
    await this.enterRoom(r.data.group.groupID);
  },

  async enterRoom(roomID) {
    roomID = String(roomID).trim();
    if (!roomID) return;
    // The pane exists before the join: the history the server sends with it arrives as
    // events, possibly before enterRoom resolves, and must find its room.
    let pane = this.panes.get(roomID);
    if (pane && pane.removed) {
      // Entering again after a kick: a clean pane, not the one that says why we left.
      pane.destroy();
      this.panes.delete(roomID);
      pane = null;
    }
    const fresh = !pane;
    if (fresh) {
      pane = new RoomPane(this, { groupID: roomID, name: roomID }, { guest: this.guest });
      pane.el.hidden = true;
      this.panes.set(roomID, pane);
      $('panes').appendChild(pane.el);
    }
    let r;
    try {
      r = await this.im.enterRoom(roomID);
    } catch (e) {
      if (fresh) {
        pane.destroy();
        this.panes.delete(roomID);
      }
      throw e;
    }
    const { group, online, role, settings, mutedUntil } = r.data;
    pane.removed = false;
    if (group) pane.update(group);
    pane.setRole(role);
    if (settings) pane.setSettings(settings);
    if (mutedUntil && this.me) pane.setMuted({ userID: this.me.userID, until: mutedUntil });
    if (online !== undefined) pane.setOnline(online);
    pane.el.dataset.entered = '1';
    this.remember(pane.group);
    this.activate(roomID);
  },

  async leaveRoom(roomID) {
    const pane = this.panes.get(roomID);
    try {
      // A removed room (kicked, banned, dismissed) was already left by the engine.
      if (!(pane && pane.removed)) await this.im.exitRoom(roomID);
    } catch (e) {
      this.error(e);
    }
    if (pane) pane.destroy();
    this.panes.delete(roomID);
    if (this.active === roomID) this.active = this.panes.keys().next().value || null;
    this.layout();
  },

  /** Removes a room's pane the engine has already left (kicked, banned, dismissed). */
  dropRoom(roomID) {
    const pane = this.panes.get(roomID);
    if (pane) pane.destroy();
    this.panes.delete(roomID);
    if (this.active === roomID) this.active = this.panes.keys().next().value || null;
    this.layout();
    this.renderLists?.();
  },

  activate(roomID) {
    this.active = roomID;
    this.layout();
    const pane = this.panes.get(roomID);
    if (pane && !pane.guest) pane.el.querySelector('.text-input').focus();
  },

  /** Single view shows the active room; the moderator view shows every joined room. */
  layout() {
    $('welcome').hidden = this.panes.size > 0;
    for (const [id, pane] of this.panes) pane.el.hidden = !this.moderator && id !== this.active;
    $('panes').classList.toggle('side-by-side', this.moderator);
    const b = $('btn-moderator');
    b.dataset.i18n = this.moderator ? 'singleView' : 'moderatorView';
    b.textContent = t(b.dataset.i18n);
    this.renderLists();
  },

  remember(group) {
    const list = this.recent().filter((r) => r.roomID !== group.groupID);
    list.unshift({ roomID: group.groupID, name: group.name || group.groupID, server: this.server });
    localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, MAX_RECENT)));
  },

  recent() {
    try {
      const l = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
      return Array.isArray(l) ? l.filter((r) => r && typeof r.roomID === 'string') : [];
    } catch {
      return [];
    }
  },

  renderLists() {
    const joined = $('joined-list');
    joined.replaceChildren();
    for (const [id, pane] of this.panes) {
      joined.appendChild(roomItem(id, pane.group.name, !pane.ended, id === this.active, () => this.activate(id)));
    }
    if (!this.panes.size) joined.appendChild(emptyItem());
    const recent = $('recent-list');
    recent.replaceChildren();
    const list = this.recent().filter((r) => !this.panes.has(r.roomID) && (!r.server || r.server === this.server));
    for (const r of list) {
      recent.appendChild(roomItem(r.roomID, r.name, null, false, () => this.enterRoom(r.roomID).catch((e) => this.error(e))));
    }
    if (!list.length) recent.appendChild(emptyItem());
  },

  // ---------- moderation ----------

  /**
   * A member's card. Moderators get the actions; the server decides whether each is allowed
   * (an admin cannot mute the owner, ...), and a refusal shows as an error toast.
   */
  openUser(pane, who) {
    const me = this.me && this.me.userID;
    this.userCard = { pane, userID: who.userID };
    $('user-nick').textContent = who.nick || who.userID;
    $('user-id').textContent = who.userID;
    setAvatar($('user-avatar'), who.avatar, who.nick || who.userID);
    $('user-reason').value = '';
    const moderating = pane.canModerate && who.userID !== me;
    $('user-actions').hidden = !moderating;
    $('user-admin-row').hidden = !(pane.isOwner || pane.role === 'app_admin');
    this.showStanding(null);
    $('dlg-user').showModal();
    if (moderating) this.loadStanding(pane, who.userID);
  },

  /** Moderation news about `userID` in `pane`: an open card of that member is read again. */
  memberNews(pane, userID) {
    const card = this.userCard;
    if (card && card.pane === pane && card.userID === userID && $('dlg-user').open) {
      this.loadStanding(pane, userID);
    }
  },

  /** Asks the server where the member stands; the card then offers only what applies. */
  async loadStanding(pane, userID) {
    try {
      const s = (await this.im.getMember({ roomID: pane.roomID, userID })).data;
      const card = this.userCard;
      if (card && card.pane === pane && card.userID === userID) this.showStanding(s);
    } catch (e) {
      // An older server or a lost right: every action stays offered, the server decides.
      console.warn('getMember failed', e);
    }
  },

  /** The card's standing line and its buttons for `s` (null: unknown, offer everything). */
  showStanding(s) {
    const line = $('user-standing');
    line.hidden = !s;
    const show = (act, on) => {
      const b = document.querySelector(`#form-user [data-act="${act}"]`);
      if (b) b.hidden = !on;
    };
    const muted = !!(s && s.mutedUntil);
    const banned = !!(s && s.banned);
    const admin = !!(s && s.role === 'admin');
    const staff = !!(s && ['owner', 'app_admin'].includes(s.role));
    for (const act of ['mute-60', 'mute-600', 'mute-3600', 'mute-86400']) show(act, !s || !staff);
    show('unmute', !s || muted);
    for (const act of ['ban-86400', 'ban']) show(act, !s || (!banned && !staff));
    show('unban', !s || banned);
    show('admin-on', !s || (!admin && !staff));
    show('admin-off', !s || admin);
    if (!s) return;
    const parts = [t(`role_${s.role}`), t(s.inRoom ? 'inRoom' : 'notInRoom')];
    if (muted) parts.push(`${t('cardMutedUntil')}${fmtTime(s.mutedUntil)}`);
    if (banned) parts.push(s.bannedUntil ? `${t('cardBannedUntil')}${fmtTime(s.bannedUntil)}` : t('cardBannedForGood'));
    line.textContent = parts.join(' · ');
  },

  async userAction(act) {
    const card = this.userCard;
    if (!card) return;
    const { pane, userID } = card;
    const roomID = pane.roomID;
    const reason = $('user-reason').value.trim();
    const im = this.im;
    try {
      if (act.startsWith('mute-')) await im.muteMember({ roomID, userID, muteTime: Number(act.slice(5)), reason });
      else if (act === 'unmute') await im.unmuteMember({ roomID, userID });
      else if (act === 'kick') await im.kickMember({ roomID, userID, reason });
      else if (act.startsWith('ban-')) await im.banMember({ roomID, userID, banTime: Number(act.slice(4)), reason });
      else if (act === 'ban') await im.banMember({ roomID, userID, reason });
      else if (act === 'unban') await im.unbanMember({ roomID, userID });
      else if (act === 'admin-on' || act === 'admin-off') await im.setAdmin({ roomID, userID, admin: act === 'admin-on' });
      $('dlg-user').close();
      this.toast(t('done'));
    } catch (e) {
      this.error(e);
    }
  },

  /** The room's audit log, newest first, in a dialog. */
  async openAudit(pane) {
    this.auditPane = pane;
    $('audit-room').textContent = pane.group.name || pane.roomID;
    if (!$('dlg-audit').open) $('dlg-audit').showModal();
    try {
      const rows = (await this.im.getAuditLog({ roomID: pane.roomID })).data || [];
      const body = $('audit-rows');
      body.replaceChildren();
      for (const e of rows) {
        const tr = document.createElement('tr');
        tr.dataset.action = e.action;
        for (const v of [fmtTime(e.time), e.actor, e.action.replace(/_/g, ' '), e.target, e.reason]) {
          const td = document.createElement('td');
          td.textContent = v || '';
          tr.appendChild(td);
        }
        body.appendChild(tr);
      }
      $('audit-empty').hidden = rows.length > 0;
    } catch (e) {
      this.error(e);
    }
  },

  // ---------- screens ----------

  showMain() {
    $('screen-start').hidden = true;
    $('screen-main').hidden = false;
    $('server-chip').textContent = `${this.server} · ${this.sdkAppID}`;
    $('create-box').hidden = this.guest;
    $('btn-logout').dataset.i18n = this.guest ? 'changeServer' : 'logout';
    $('btn-logout').textContent = t($('btn-logout').dataset.i18n);
    this.renderMe();
    this.layout();
  },

  renderMe() {
    const me = this.me;
    $('me-nick').textContent = me ? me.nick || me.userID : t('guest');
    setAvatar($('me-avatar'), me && me.avatar, me ? me.nick || me.userID : '?');
    $('btn-profile').disabled = !me;
  },

  async openProfile() {
    if (!this.me) return;
    try {
      const p = (await this.im.getMyProfile()).data;
      $('profile-nick').value = p.nick || '';
      $('profile-avatar').value = p.avatar || '';
      $('profile-user').textContent = this.me.userID;
      setAvatar($('profile-preview'), p.avatar, p.nick || this.me.userID);
      $('dlg-profile').showModal();
    } catch (e) {
      this.error(e);
    }
  },

  async saveProfile() {
    const nick = $('profile-nick').value.trim();
    const avatar = $('profile-avatar').value.trim();
    try {
      await this.im.setMyProfile({ nick, avatar });
      this.me = { ...this.me, nick, avatar };
      this.renderMe();
      $('dlg-profile').close();
    } catch (e) {
      this.error(e);
    }
  },
};

function roomItem(id, name, live, active, onClick) {
  const li = document.createElement('li');
  li.dataset.room = id;
  if (active) li.classList.add('active');
  if (live !== null) {
    const dot = document.createElement('span');
    dot.className = live ? 'ri-dot' : 'ri-dot off';
    li.appendChild(dot);
  }
  const text = document.createElement('div');
  text.className = 'ri-text';
  const n = document.createElement('div');
  n.className = 'ri-name';
  n.textContent = name || id;
  const i = document.createElement('div');
  i.className = 'ri-id';
  i.textContent = id;
  text.append(n, i);
  li.appendChild(text);
  li.addEventListener('click', onClick);
  return li;
}

function emptyItem() {
  const li = document.createElement('li');
  li.className = 'empty';
  li.textContent = t('noRecent');
  return li;
}

/** Disables a form's submit button while `work` runs; errors become toasts. */
function busy(form, work) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      await work();
    } catch (err) {
      app.error(err);
    } finally {
      btn.disabled = false;
    }
  });
}

// ---------- theme and language ----------

function initTheme() {
  const saved = localStorage.getItem('liveroom.theme');
  const dark = saved ? saved === 'dark' : window.matchMedia('(prefers-color-scheme: dark)').matches;
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  for (const b of document.querySelectorAll('.js-theme')) {
    b.addEventListener('click', () => {
      const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
      document.documentElement.dataset.theme = next;
      localStorage.setItem('liveroom.theme', next);
    });
  }
}

function labelLangButtons() {
  for (const b of document.querySelectorAll('.js-lang')) b.textContent = t('language');
}

async function init() {
  initTheme();
  let sys = '';
  try {
    sys = await invoke('system_language');
  } catch {
    /* the webview's navigator.language is used */
  }
  initLanguage(sys);
  labelLangButtons();
  for (const b of document.querySelectorAll('.js-lang')) {
    b.addEventListener('click', () => setLang(currentLang() === 'zh' ? 'en' : 'zh'));
  }
  onLangChange(() => {
    labelLangButtons();
    for (const pane of app.panes.values()) pane.relabel();
    app.renderMe();
    app.renderLists();
  });

  const lastUser = localStorage.getItem('liveroom.user');
  if (lastUser) $('local-user').value = lastUser;
  busy($('form-local'), async () => {
    const user = $('local-user').value.trim();
    localStorage.setItem('liveroom.user', user);
    await app.loginLocal(user, $('local-nick').value.trim());
  });
  busy($('form-remote'), () => app.loginRemote($('remote-server').value.trim(), $('remote-appid').value.trim(), $('remote-user').value.trim(), $('remote-sig').value.trim(), $('remote-ca').value.trim()));
  busy($('form-guest'), () => app.watchAsGuest($('guest-server').value.trim(), $('guest-appid').value.trim(), $('guest-room').value.trim()));
  busy($('form-create'), async () => {
    await app.createRoom({
      name: $('create-name').value.trim(),
      roomID: $('create-id').value.trim() || undefined,
      notification: $('create-notification').value,
      introduction: $('create-introduction').value,
      avatar: $('create-avatar').value.trim(),
    });
    $('form-create').reset();
  });
  busy($('form-enter'), async () => {
    await app.enterRoom($('enter-id').value);
    $('enter-id').value = '';
  });
  $('lan-toggle').addEventListener('change', async (e) => {
    try {
      app.embedded = await invoke('set_lan_access', { enabled: e.target.checked });
      app.showEmbedded(app.embedded);
    } catch (err) {
      e.target.checked = !e.target.checked;
      app.error(err);
    }
  });
  for (const id of ['embedded-address', 'embedded-appid']) {
    $(id).addEventListener('click', () => {
      navigator.clipboard?.writeText($(id).textContent).then(() => app.toast(t('copied')), () => {});
    });
  }
  $('btn-moderator').addEventListener('click', () => {
    app.moderator = !app.moderator;
    app.layout();
  });
  $('btn-logout').addEventListener('click', () => app.logout());
  $('btn-profile').addEventListener('click', () => app.openProfile());
  $('profile-cancel').addEventListener('click', () => $('dlg-profile').close());
  $('form-profile').addEventListener('submit', (e) => {
    e.preventDefault();
    app.saveProfile();
  });
  // The preview is fetched by the room server: not for every keystroke of the URL.
  let previewTimer = 0;
  $('profile-avatar').addEventListener('input', () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => setAvatar($('profile-preview'), $('profile-avatar').value.trim(), $('profile-nick').value || '?'), 400);
  });
  $('dlg-image').addEventListener('click', () => $('dlg-image').close());
  for (const b of document.querySelectorAll('#user-actions button[data-act]')) {
    b.addEventListener('click', () => app.userAction(b.dataset.act));
  }
  $('user-close').addEventListener('click', () => $('dlg-user').close());
  $('audit-close').addEventListener('click', () => $('dlg-audit').close());
  $('audit-refresh').addEventListener('click', () => app.auditPane && app.openAudit(app.auditPane));
  applyI18n(document);
  app.renderLists();
  app.ensureEmbedded().catch((e) => app.error(e));
}

window.liveroomApp = app;
init();
