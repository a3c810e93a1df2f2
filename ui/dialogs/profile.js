// My profile: nick and avatar, saved on the server.

import { $ } from '../dom.js';
import { setAvatar } from '../effects.js';
import { showError } from '../toast.js';

/** @param {Session} session  @param {() => void} onSaved  called after a save (redraw "me") */
export function initProfileDialog(session, onSaved) {
  $('profile-cancel').addEventListener('click', () => $('dlg-profile').close());
  $('form-profile').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await session.saveProfile($('profile-nick').value.trim(), $('profile-avatar').value.trim());
      onSaved();
      $('dlg-profile').close();
    } catch (err) {
      showError(err);
    }
  });
  // The preview is fetched by the room server: not for every keystroke of the URL.
  let previewTimer = 0;
  $('profile-avatar').addEventListener('input', () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => setAvatar($('profile-preview'), $('profile-avatar').value.trim(), $('profile-nick').value || '?'), 400);
  });
}

/** Opens the dialog with my profile as the server has it. */
export async function openProfile(session) {
  if (!session.me) return;
  try {
    const p = (await session.im.getMyProfile()).data;
    $('profile-nick').value = p.nick || '';
    $('profile-avatar').value = p.avatar || '';
    $('profile-user').textContent = session.me.userID;
    setAvatar($('profile-preview'), p.avatar, p.nick || session.me.userID);
    $('dlg-profile').showModal();
  } catch (e) {
    showError(e);
  }
}
