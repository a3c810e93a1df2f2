// The rooms this session is in: one RoomPane each, in the panes area, with the room events of
// the IM routed to their pane. One room shows at a time, or all side by side (the moderator
// view). Tells the screen above it that its list changed with a `rooms:changed` event.

import TWebLive from './tweblive.js';
import { t } from './i18n.js';
import { toast, showError } from './toast.js';
import { emit } from './dom.js';
import { rememberRoom } from './recent.js';
import { RoomPane } from './room.js';
import { fmtTime } from './format.js';
import { PANE } from './pane-events.js';

const E = TWebLive.EVENT;

/** Room events, each with the pane method it calls. Messages and join/leave go to `receive`. */
const MESSAGE_EVENTS = [E.IM_TEXT_MESSAGE_RECEIVED, E.IM_CUSTOM_MESSAGE_RECEIVED, E.IM_IMAGE_MESSAGE_RECEIVED, E.IM_REMOTE_USER_JOIN, E.IM_REMOTE_USER_LEAVE, E.IM_GROUP_SYSTEM_NOTICE];

export class Rooms {
  /**
   * @param {HTMLElement} container  where the panes go (and whose events the rooms hear)
   * @param {Session} session        the signed-in session (im, me, guest, server)
   */
  constructor(container, session) {
    this.container = container;
    this.session = session;
    /** roomID → RoomPane, in the order they were entered. */
    this.panes = new Map();
    this.active = null;
    this.moderator = false;
    container.addEventListener(PANE.LEAVE, (e) => this.leave(e.detail.roomID));
    container.addEventListener(PANE.CLOSED, (e) => this.drop(e.detail.roomID));
    container.addEventListener(PANE.CHANGED, () => this._changed());
  }

  /** Routes the room events of a new IM instance to the panes. */
  attach(im) {
    const toRoom = (handler) => (ev) => {
      const roomID = ev.roomID || (Array.isArray(ev.data) && ev.data[0] && ev.data[0].to);
      const pane = this.panes.get(roomID);
      if (pane) handler(pane, ev.data);
    };
    const receive = toRoom((pane, data) => pane.receive(data));
    for (const name of MESSAGE_EVENTS) im.on(name, receive);
    im.on(E.IM_PUSH_STOPPED, toRoom((pane, data) => pane.setEnded(data)));
    im.on(E.IM_ONLINE_COUNT, toRoom((pane, data) => pane.setOnline(data)));
    im.on(E.IM_MESSAGE_DELETED, toRoom((pane, data) => pane.removeMessage(data && data.messageID)));
    im.on(E.IM_MUTED, toRoom((pane, data) => pane.setMuted(data || {})));
    im.on(E.IM_ROOM_SETTINGS_UPDATED, toRoom((pane, data) => pane.setSettings(data || {})));
    im.on(E.IM_ROOM_PROFILE_UPDATED, toRoom((pane, data) => pane.update(data || {})));
    im.on(E.IM_MEMBER_REMOVED, toRoom((pane, data) => pane.memberRemoved(data || {})));
    im.on(E.IM_ADMIN_CHANGED, toRoom((pane, data) => pane.adminChanged(data || {})));
    im.on(E.IM_MESSAGES_SKIPPED, toRoom((pane) => pane.messagesSkipped()));
    im.on(E.IM_KICKED_FROM_ROOM, toRoom((pane, data) => {
      const d = data || {};
      const why = d.banned ? (d.until ? `${t('bannedUntil')}${fmtTime(d.until)}` : t('bannedForGood')) : t('kickedFromRoom');
      toast(`${pane.group.name || pane.roomID}: ${why}`, 'error');
      pane.setRemoved(why, d.reason);
    }));
    im.on(E.IM_ROOM_DISMISSED, toRoom((pane) => {
      if (pane.dismissing) return this.drop(pane.roomID);
      toast(`${pane.group.name || pane.roomID}: ${t('roomDismissed')}`, 'error');
      pane.setRemoved(t('ownerDismissed'));
    }));
  }

  /** Enters a room (again) and shows its pane. */
  async enter(roomID) {
    roomID = String(roomID).trim();
    if (!roomID) return;
    const im = this.session.im;
    // The pane exists before the join: the history the server sends with it arrives as
    // events, possibly before enterRoom resolves, and must find its room.
    let pane = this.panes.get(roomID);
    if (pane && pane.removed) {
      // Entering again after a kick: a clean pane, not the one that says why we left.
      this._remove(roomID);
      pane = null;
    }
    const fresh = !pane;
    if (fresh) {
      pane = new RoomPane(this.session, { groupID: roomID, name: roomID }, { guest: this.session.guest });
      pane.el.hidden = true;
      this.panes.set(roomID, pane);
      this.container.appendChild(pane.el);
    }
    let r;
    try {
      r = await im.enterRoom(roomID);
    } catch (e) {
      if (fresh) this._remove(roomID);
      throw e;
    }
    const { group, online, role, settings, mutedUntil } = r.data;
    pane.removed = false;
    if (group) pane.update(group);
    pane.setRole(role);
    if (settings) pane.setSettings(settings);
    if (mutedUntil && this.session.me) pane.setMuted({ userID: this.session.me.userID, until: mutedUntil });
    if (online !== undefined) pane.setOnline(online);
    pane.el.dataset.entered = '1';
    rememberRoom(pane.group, this.session.server);
    this.activate(roomID);
  }

  /** Leaves a room and closes its pane (a removed room was already left by the engine). */
  async leave(roomID) {
    const pane = this.panes.get(roomID);
    try {
      if (!(pane && pane.removed)) await this.session.im.exitRoom(roomID);
    } catch (e) {
      showError(e);
    }
    this.drop(roomID);
  }

  /** Closes a room's pane without asking the server. */
  drop(roomID) {
    this._remove(roomID);
    if (this.active === roomID) this.active = this.panes.keys().next().value || null;
    this.layout();
  }

  _remove(roomID) {
    const pane = this.panes.get(roomID);
    if (pane) pane.destroy();
    this.panes.delete(roomID);
  }

  /** Closes every pane (logout, kicked out). */
  clear() {
    for (const pane of this.panes.values()) pane.destroy();
    this.panes.clear();
    this.active = null;
    this._changed();
  }

  activate(roomID) {
    this.active = roomID;
    this.layout();
    const pane = this.panes.get(roomID);
    if (pane && !pane.guest) pane.el.querySelector('.text-input').focus();
  }

  /** The single view shows the active room; the moderator view shows every joined room. */
  setModerator(on) {
    this.moderator = on;
    this.layout();
  }

  layout() {
    for (const [id, pane] of this.panes) pane.el.hidden = !this.moderator && id !== this.active;
    this.container.classList.toggle('side-by-side', this.moderator);
    this._changed();
  }

  /** Re-labels what the panes wrote themselves, after a language switch. */
  relabel() {
    for (const pane of this.panes.values()) pane.relabel();
  }

  _changed() {
    emit(this.container, 'rooms:changed', {});
  }
}
