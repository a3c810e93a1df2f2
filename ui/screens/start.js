// The start screen: log in on the embedded server ("on this computer"), on a room server
// elsewhere, or watch as a guest; and the embedded server's address, app and LAN switch.

import { $, busy } from '../dom.js';
import { t } from '../i18n.js';
import { toast, showError } from '../toast.js';

const LAST_USER_KEY = 'liveroom.user';

/**
 * @param {Session} session
 * @param {(guestRoomID?: string) => Promise<void>} onSignedIn  called once a login (or a
 *   guest's connection) succeeded; a guest passes the room to watch.
 */
export function initStartScreen(session, onSignedIn) {
  const lastUser = localStorage.getItem(LAST_USER_KEY);
  if (lastUser) $('local-user').value = lastUser;
  busy($('form-local'), async () => {
    const user = $('local-user').value.trim();
    localStorage.setItem(LAST_USER_KEY, user);
    await session.loginLocal(user, $('local-nick').value.trim());
    showEmbedded(session.embedded);
    await onSignedIn();
  });
  busy($('form-remote'), async () => {
    await session.loginRemote($('remote-server').value.trim(), $('remote-appid').value.trim(), $('remote-user').value.trim(), $('remote-sig').value.trim(), $('remote-ca').value.trim());
    await onSignedIn();
  });
  busy($('form-guest'), async () => {
    await session.watchAsGuest($('guest-server').value.trim(), $('guest-appid').value.trim());
    await onSignedIn($('guest-room').value.trim());
  });
  $('lan-toggle').addEventListener('change', async (e) => {
    try {
      showEmbedded(await session.setLanAccess(e.target.checked));
    } catch (err) {
      e.target.checked = !e.target.checked;
      showError(err);
    }
  });
  for (const id of ['embedded-address', 'embedded-appid']) {
    $(id).addEventListener('click', () => {
      navigator.clipboard?.writeText($(id).textContent).then(() => toast(t('copied')), () => {});
    });
  }
  session.ensureEmbedded().then(showEmbedded, showError);
}

export function showStartScreen() {
  $('screen-main').hidden = true;
  $('screen-start').hidden = false;
}

/** The embedded server's address, app and LAN state, in the box and as the guest form's defaults. */
function showEmbedded(info) {
  if (!info) return;
  $('embedded-address').textContent = info.address;
  $('embedded-address').removeAttribute('data-i18n');
  $('embedded-appid').textContent = String(info.SDKAppID);
  $('lan-toggle').checked = !!info.lan;
  $('guest-server').placeholder = info.address;
  $('guest-appid').placeholder = String(info.SDKAppID);
}
