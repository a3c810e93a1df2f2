// A member's card: who they are and, for the room's moderators, what can be done. The server
// decides whether each action is allowed (an admin cannot mute the owner, ...); a refusal
// shows as an error toast.

import { $ } from '../dom.js';
import { t } from '../i18n.js';
import { setAvatar } from '../effects.js';
import { fmtTime } from '../format.js';
import { toast, showError } from '../toast.js';

/** The card on screen: `{roomID, userID}`, or null. */
let card = null;

/** @param {Session} session */
export function initUserCard(session) {
  for (const b of document.querySelectorAll('#user-actions button[data-act]')) {
    b.addEventListener('click', () => act(session, b.dataset.act));
  }
  $('user-close').addEventListener('click', () => $('dlg-user').close());
}

/**
 * Opens the card of `who` in a room.
 * @param {{roomID: string, who: {userID, nick, avatar}, canModerate: boolean, canAppoint: boolean}} req
 */
export function openUserCard(session, { roomID, who, canModerate, canAppoint }) {
  const me = session.me && session.me.userID;
  card = { roomID, userID: who.userID };
  $('user-nick').textContent = who.nick || who.userID;
  $('user-id').textContent = who.userID;
  setAvatar($('user-avatar'), who.avatar, who.nick || who.userID);
  $('user-reason').value = '';
  const moderating = canModerate && who.userID !== me;
  $('user-actions').hidden = !moderating;
  $('user-admin-row').hidden = !canAppoint;
  showStanding(null);
  $('dlg-user').showModal();
  if (moderating) loadStanding(session, roomID, who.userID);
}

/** Moderation news about `userID` in `roomID`: an open card of that member is read again. */
export function memberNews(session, roomID, userID) {
  if (card && card.roomID === roomID && card.userID === userID && $('dlg-user').open) {
    loadStanding(session, roomID, userID);
  }
}

/** Asks the server where the member stands; the card then offers only what applies. */
async function loadStanding(session, roomID, userID) {
  try {
    const s = (await session.im.getMember({ roomID, userID })).data;
    if (card && card.roomID === roomID && card.userID === userID) showStanding(s);
  } catch (e) {
    // An older server or a lost right: every action stays offered, the server decides.
    console.warn('getMember failed', e);
  }
}

/** The card's standing line and its buttons for `s` (null: unknown, offer everything). */
function showStanding(s) {
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
  for (const a of ['mute-60', 'mute-600', 'mute-3600', 'mute-86400']) show(a, !s || !staff);
  show('unmute', !s || muted);
  for (const a of ['ban-86400', 'ban']) show(a, !s || (!banned && !staff));
  show('unban', !s || banned);
  show('admin-on', !s || (!admin && !staff));
  show('admin-off', !s || admin);
  if (!s) return;
  const parts = [t(`role_${s.role}`), t(s.inRoom ? 'inRoom' : 'notInRoom')];
  if (muted) parts.push(`${t('cardMutedUntil')}${fmtTime(s.mutedUntil)}`);
  if (banned) parts.push(s.bannedUntil ? `${t('cardBannedUntil')}${fmtTime(s.bannedUntil)}` : t('cardBannedForGood'));
  line.textContent = parts.join(' · ');
}

/** One of the card's buttons (`data-act`): mute-N, unmute, kick, ban-N, ban, unban, admin-on/off. */
async function act(session, action) {
  if (!card) return;
  const { roomID, userID } = card;
  const reason = $('user-reason').value.trim();
  const im = session.im;
  try {
    if (action.startsWith('mute-')) await im.muteMember({ roomID, userID, muteTime: Number(action.slice(5)), reason });
    else if (action === 'unmute') await im.unmuteMember({ roomID, userID });
    else if (action === 'kick') await im.kickMember({ roomID, userID, reason });
    else if (action.startsWith('ban-')) await im.banMember({ roomID, userID, banTime: Number(action.slice(4)), reason });
    else if (action === 'ban') await im.banMember({ roomID, userID, reason });
    else if (action === 'unban') await im.unbanMember({ roomID, userID });
    else if (action === 'admin-on' || action === 'admin-off') await im.setAdmin({ roomID, userID, admin: action === 'admin-on' });
    $('dlg-user').close();
    toast(t('done'));
  } catch (e) {
    showError(e);
  }
}
