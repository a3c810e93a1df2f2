// The main screen: the top bar (server, views, me), the sidebar (create a room, enter one, the
// joined and recent rooms) and the rooms themselves (rooms.js).

import { $, busy } from '../dom.js';
import { t } from '../i18n.js';
import { toast, showError } from '../toast.js';
import { setAvatar } from '../effects.js';
import { recentRooms } from '../recent.js';
import { openProfile } from '../dialogs/profile.js';

export class MainScreen {
  /**
   * @param {Session} session
   * @param {Rooms} rooms
   * @param {() => void} onLogout  the user logged out (or changed server, as a guest)
   */
  constructor(session, rooms, onLogout) {
    this.session = session;
    this.rooms = rooms;
    rooms.container.addEventListener('rooms:changed', () => this.renderLists());
    busy($('form-create'), async () => {
      const r = await session.im.createRoom({
        name: $('create-name').value.trim(),
        roomID: $('create-id').value.trim() || undefined,
        notification: $('create-notification').value,
        introduction: $('create-introduction').value,
        avatar: $('create-avatar').value.trim(),
      });
      toast(t('roomCreated'));
      await rooms.enter(r.data.group.groupID);
      $('form-create').reset();
    });
    busy($('form-enter'), async () => {
      await rooms.enter($('enter-id').value);
      $('enter-id').value = '';
    });
    $('btn-moderator').addEventListener('click', () => {
      rooms.setModerator(!rooms.moderator);
      this.labelViewButton();
    });
    $('btn-logout').addEventListener('click', onLogout);
    $('btn-profile').addEventListener('click', () => openProfile(session));
  }

  show() {
    const s = this.session;
    $('screen-start').hidden = true;
    $('screen-main').hidden = false;
    // A cluster's list of nodes can be long: cut with an ellipsis, whole on hover.
    $('server-chip').textContent = $('server-chip').title = `${s.server} · ${s.sdkAppID}`;
    $('create-box').hidden = s.guest;
    $('btn-logout').dataset.i18n = s.guest ? 'changeServer' : 'logout';
    $('btn-logout').textContent = t($('btn-logout').dataset.i18n);
    this.renderMe();
    this.labelViewButton();
    this.renderLists();
  }

  /** Writes again what JS wrote, after a language switch. */
  relabel() {
    this.renderMe();
    this.labelViewButton();
    this.renderLists();
  }

  labelViewButton() {
    const b = $('btn-moderator');
    b.dataset.i18n = this.rooms.moderator ? 'singleView' : 'moderatorView';
    b.textContent = t(b.dataset.i18n);
  }

  renderMe() {
    const me = this.session.me;
    $('me-nick').textContent = me ? me.nick || me.userID : t('guest');
    setAvatar($('me-avatar'), me && me.avatar, me ? me.nick || me.userID : '?');
    $('btn-profile').disabled = !me;
  }

  /** The joined rooms (live or ended) and the recent ones on this server not joined now. */
  renderLists() {
    const { panes, active } = this.rooms;
    $('welcome').hidden = panes.size > 0;
    const joined = $('joined-list');
    joined.replaceChildren();
    for (const [id, pane] of panes) {
      joined.appendChild(roomItem(id, pane.group.name, !pane.ended, id === active, () => this.rooms.activate(id)));
    }
    if (!panes.size) joined.appendChild(emptyItem());
    const recent = $('recent-list');
    recent.replaceChildren();
    const server = this.session.server;
    const list = recentRooms().filter((r) => !panes.has(r.roomID) && (!r.server || r.server === server));
    for (const r of list) {
      recent.appendChild(roomItem(r.roomID, r.name, null, false, () => this.rooms.enter(r.roomID).catch(showError)));
    }
    if (!list.length) recent.appendChild(emptyItem());
  }
}

/** One room in a list: a live/ended dot (joined rooms), its name and id. */
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
