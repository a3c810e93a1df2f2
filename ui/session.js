// The signed-in session: which server and app, who I am, the TWebLive IM instance, and the
// embedded server ("on this computer"). Everything goes through the TWebLive layer
// (`tweblive.js`), as a page written for TWebLive would; the embedded server and the app's
// own commands go through `tauri.js`.

import TWebLive from './tweblive.js';
import { invoke } from './tauri.js';
import { t } from './i18n.js';

/** How long the embedded server's start may take before the request is sent again. */
const EMBEDDED_ANSWER_MS = 6000;

export class Session {
  /** @param {(im) => void} onIM called with each new IM instance, to subscribe to its events. */
  constructor(onIM) {
    this.onIM = onIM;
    this.im = null;
    /** `{userID, nick, avatar}`; null for a guest. */
    this.me = null;
    this.guest = false;
    this.server = '';
    this.sdkAppID = 0;
    /** The embedded server's `{address, SDKAppID, lan}` once started. */
    this.embedded = null;
  }

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
    return this.embedded;
  }

  /** Opens or closes the embedded server to the local network; resolves its new info. */
  async setLanAccess(enabled) {
    this.embedded = await invoke('set_lan_access', { enabled });
    return this.embedded;
  }

  /** Makes the IM singleton for this server and app. */
  async connect(server, sdkAppID, caPem) {
    await TWebLive.destroyIM();
    this.server = server;
    this.sdkAppID = Number(sdkAppID);
    this.im = TWebLive.createIM({ SDKAppID: this.sdkAppID, server, caPem });
    this.onIM(this.im);
    return this.im;
  }

  /** Logs in on the embedded server with a UserSig the app signs itself. */
  async loginLocal(userID, nick) {
    const info = await this.ensureEmbedded();
    const im = await this.connect(info.address, info.SDKAppID);
    const { userSig } = await TWebLive.genTestUserSig(userID);
    await im.login({ userID, userSig });
    if (nick) await im.setMyProfile({ nick });
    await this._loggedIn();
  }

  /** Logs in on a room server elsewhere with a UserSig its operator issued. */
  async loginRemote(server, sdkAppID, userID, userSig, caPem) {
    const im = await this.connect(server, sdkAppID, caPem);
    await im.login({ userID, userSig });
    await this._loggedIn();
  }

  /** Watches without logging in (blank server and app: the embedded server's). */
  async watchAsGuest(server, sdkAppID) {
    if (!server || !sdkAppID) {
      const info = await this.ensureEmbedded();
      server = server || info.address;
      sdkAppID = sdkAppID || info.SDKAppID;
    }
    await this.connect(server, sdkAppID);
    this.me = null;
    this.guest = true;
  }

  async _loggedIn() {
    const p = (await this.im.getMyProfile()).data;
    this.me = { userID: p.userID, nick: p.nick, avatar: p.avatar };
    this.guest = false;
  }

  /** Saves my nick and avatar on the server. */
  async saveProfile(nick, avatar) {
    await this.im.setMyProfile({ nick, avatar });
    this.me = { ...this.me, nick, avatar };
  }

  /** Logs out (a guest has nothing to log out of); a failure is only logged. */
  async logout() {
    try {
      if (this.im && !this.guest) await this.im.logout();
    } catch (e) {
      console.warn(e);
    }
    await this.close();
  }

  /** Drops the IM instance and who I was, without asking the server. */
  async close() {
    this.me = null;
    this.im = null;
    this.guest = false;
    await TWebLive.destroyIM();
  }
}
