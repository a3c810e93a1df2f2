// The app: puts the screens and dialogs together and connects them. Each screen and dialog is
// its own module with a small interface; a room pane talks back only through the events of
// pane-events.js, heard here. A new screen is one new file and a few lines below.
//
//   session.js        who I am, the server, the TWebLive IM, the embedded server
//   rooms.js          the room panes (room.js) and the IM's room events routed to them
//   screens/start.js  log in: embedded server, remote server, guest
//   screens/main.js   the top bar, the sidebar and the rooms
//   dialogs/*.js      profile, a member's card, a room's audit log, a picture full size
//   features/*.js     what a room pane carries besides its chat (pane-features.js), and the
//                     app-wide tools: mentions, shortcuts, chat logs

import TWebLive from './tweblive.js';
import { invoke } from './tauri.js';
import { t, setLang, currentLang, initLanguage, onLangChange, apply as applyI18n } from './i18n.js';
import { $ } from './dom.js';
import { toast } from './toast.js';
import { initTheme } from './theme.js';
import { Session } from './session.js';
import { Rooms } from './rooms.js';
import { PANE } from './pane-events.js';
import { initStartScreen, showStartScreen } from './screens/start.js';
import { MainScreen } from './screens/main.js';
import { initProfileDialog } from './dialogs/profile.js';
import { initUserCard, openUserCard, memberNews } from './dialogs/user-card.js';
import { initAuditLog, openAuditLog } from './dialogs/audit-log.js';
import { initPictureViewer, showPicture } from './dialogs/picture.js';
import { net } from './net-state.js';
import { registerPaneFeature } from './pane-features.js';
import { dashboard } from './features/dashboard.js';
import { danmaku } from './features/danmaku.js';
import { search } from './features/search.js';
import { overlayLink } from './features/overlay-link.js';
import { mentions, initMentions } from './features/mentions.js';
import { initShortcuts } from './features/shortcuts.js';
import { initChatLogs } from './features/chat-logs.js';

// The seed's global, for pages (and the window tests' seed examples) written for TWebLive.
window.TWebLive = TWebLive;

const E = TWebLive.EVENT;

const session = new Session((im) => {
  rooms.attach(im);
  im.on(E.IM_KICKED_OUT, (ev) => {
    // Each reason in words (a reason this app does not know yet: as the server sent it).
    const key = `kick_${ev.data}`;
    const why = t(key) === key ? ev.data : t(key);
    toast(`${t('kicked')}${why}`, 'error');
    signOut(false);
  });
  // The top bar's chip and each room's banner (net-state.js).
  net.reset();
  im.on(E.IM_NET_STATE_CHANGED, (ev) => net.update(ev));
});
// What every room pane carries besides its chat (pane-features.js), in the header's order.
for (const f of [search, danmaku, overlayLink, dashboard, mentions]) registerPaneFeature(f);
const rooms = new Rooms($('panes'), session);
const main = new MainScreen(session, rooms, () => signOut(true));

/** After a login (or a guest's connection): the main screen, and a guest's room. */
async function signedIn(guestRoomID) {
  main.show();
  if (guestRoomID) await rooms.enter(guestRoomID);
}

/** Back to the start screen; `logout` asks the server first (not when kicked out). */
async function signOut(logout) {
  rooms.clear();
  await (logout ? session.logout() : session.close());
  showStartScreen();
}

// What the panes ask for.
const panes = $('panes');
panes.addEventListener(PANE.OPEN_USER, (e) => openUserCard(session, e.detail));
panes.addEventListener(PANE.MEMBER_NEWS, (e) => memberNews(session, e.detail.roomID, e.detail.userID));
panes.addEventListener(PANE.OPEN_AUDIT, (e) => openAuditLog(session, e.detail));
panes.addEventListener(PANE.SHOW_PICTURE, (e) => showPicture(e.detail.url));

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
    rooms.relabel();
    main.relabel();
  });
  initProfileDialog(session, () => main.renderMe());
  initUserCard(session);
  initAuditLog(session);
  initPictureViewer();
  initMentions({ session, rooms });
  initChatLogs({ session, rooms });
  initShortcuts({ session, rooms, main });
  applyI18n(document);
  main.renderLists();
  initStartScreen(session, signedIn);
}

// For the window tests and the benchmark: the session and the open rooms.
window.liveroomApp = {
  session,
  rooms,
  get panes() {
    return rooms.panes;
  },
};
init();
