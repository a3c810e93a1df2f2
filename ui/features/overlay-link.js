// The room pane's OBS overlay link (issue 15), in the host panel (owner, admins, app
// administrators). A pane feature: see ../pane-features.js.
//
// The room server serves a transparent page of this room's chat, gifts and likes
// (`/overlay/ROOM?app=SDKAPPID`, crates/liveroom-server/overlay/) that a streaming program
// shows as a browser source. This shows its address on the server the app is on (the
// embedded one or a remote one; the first node of a cluster), a Copy button, the chat's
// form (list or danmaku), and a live preview on demand: the page itself in a small frame over
// a checkerboard, loaded only when asked for and while the panel is open (it is one more guest
// in the room and renders the room's whole flood: in `scripts/bench-app --tools` a running
// preview cost about half a core and pushed the app's input latency past its target).

import { addStrings, t, currentLang } from '../i18n.js';
import { el } from '../dom.js';

addStrings({
  en: {
    ovl_title: 'OBS overlay',
    ovl_hint: 'In OBS: Sources → + → Browser, paste this URL, width 1280 and height 720.',
    ovl_copy: 'Copy',
    ovl_copied: 'Copied',
    ovl_copyFailed: 'Copy failed: select the URL and copy it',
    ovl_list: 'Chat list',
    ovl_danmaku: 'Danmaku',
    ovl_mode: 'Chat as',
    ovl_preview: 'Preview',
    ovl_showPreview: 'Show preview',
    ovl_hidePreview: 'Hide preview',
    ovl_noServer: 'No server address: the overlay needs the room server’s address',
  },
  zh: {
    ovl_title: 'OBS 直播叠加层',
    ovl_hint: '在 OBS 中：来源 → + → 浏览器，粘贴此网址，宽 1280、高 720。',
    ovl_copy: '复制',
    ovl_copied: '已复制',
    ovl_copyFailed: '复制失败：请选中网址后手动复制',
    ovl_list: '聊天列表',
    ovl_danmaku: '弹幕',
    ovl_mode: '聊天样式',
    ovl_preview: '预览',
    ovl_showPreview: '显示预览',
    ovl_hidePreview: '隐藏预览',
    ovl_noServer: '没有服务器地址：叠加层需要直播间服务器的地址',
  },
});

/** How long the Copy button says "Copied". */
const COPIED_MS = 2000;
/** The preview frame's page size (a browser source's), drawn at PREVIEW_SCALE. */
const PREVIEW_W = 640;
const PREVIEW_H = 360;
const PREVIEW_SCALE = 0.5;

/**
 * The server's HTTP root for `server` as the session has it: one address or a cluster's
 * comma-separated nodes (the first), `ws(s)://`, `http(s)://` or a bare `HOST:PORT`, with or
 * without `/ws` (as the engine reads it, crates/liveroom-engine/src/endpoint.rs). '' when
 * there is none.
 */
export function serverRoot(server) {
  const first = String(server || '').split(',')[0].trim();
  if (!first) return '';
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(first);
  const scheme = m ? m[1].toLowerCase() : 'http';
  const rest = m ? m[2] : first;
  const secure = scheme === 'https' || scheme === 'wss';
  if (!secure && scheme !== 'http' && scheme !== 'ws') return '';
  const slash = rest.indexOf('/');
  const host = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : rest.slice(slash).replace(/\/+$/, '');
  if (path.endsWith('/ws')) path = path.slice(0, -3);
  if (!host || /\s/.test(host)) return '';
  return `${secure ? 'https' : 'http'}://${host}${path}`;
}

/** The overlay page of `roomID` on `server` for app `sdkAppID`, in `mode`. */
export function overlayURL(server, sdkAppID, roomID, mode, lang) {
  const root = serverRoot(server);
  if (!root) return '';
  const q = new URLSearchParams({ app: String(sdkAppID), mode });
  if (lang) q.set('lang', lang);
  return `${root}/overlay/${encodeURIComponent(roomID)}?${q}`;
}

class OverlayLink {
  constructor(pane) {
    this.pane = pane;
    this.panel = pane.el.querySelector('.host-panel');
    this.mode = 'list';
    this.copiedTimer = 0;
    this._build();
    this.watch = new MutationObserver(() => this._visibility());
    this.watch.observe(this.panel, { attributes: true, attributeFilter: ['hidden'] });
    this.watch.observe(pane.el, { attributes: true, attributeFilter: ['hidden'] });
    this.roleChanged();
  }

  _build() {
    const root = el('section', 'overlay-link');
    const head = el('div', 'ovl-head');
    head.append(el('span', 'ovl-title', 'ovl_title'), el('span', 'ovl-hint', 'ovl_hint'));

    const row = el('div', 'ovl-row');
    this.input = el('input', 'ovl-url');
    this.input.readOnly = true;
    this.input.spellcheck = false;
    this.input.addEventListener('focus', () => this.input.select());
    this.copyBtn = el('button', 'ghost ovl-copy', 'ovl_copy');
    this.copyBtn.type = 'button';
    this.copyBtn.addEventListener('click', () => this.copy());
    row.append(this.input, this.copyBtn);

    const modes = el('div', 'ovl-row ovl-modes');
    modes.setAttribute('role', 'group');
    modes.append(el('span', 'ovl-mode-label', 'ovl_mode'));
    this.modeBtns = {};
    for (const [mode, key] of [['list', 'ovl_list'], ['danmaku', 'ovl_danmaku']]) {
      const b = el('button', 'ghost ovl-mode', key);
      b.type = 'button';
      b.dataset.mode = mode;
      b.addEventListener('click', () => this.setMode(mode));
      modes.appendChild(b);
      this.modeBtns[mode] = b;
    }
    this.previewOn = false;
    this.previewBtn = el('button', 'ghost ovl-preview-btn', 'ovl_showPreview');
    this.previewBtn.type = 'button';
    this.previewBtn.setAttribute('aria-pressed', 'false');
    this.previewBtn.addEventListener('click', () => this.setPreview(!this.previewOn));
    modes.appendChild(this.previewBtn);

    const preview = el('div', 'ovl-preview');
    preview.title = t('ovl_preview');
    this.frame = el('iframe', 'ovl-frame');
    this.frame.title = t('ovl_preview');
    this.frame.width = String(PREVIEW_W);
    this.frame.height = String(PREVIEW_H);
    // The page runs in its own origin (the room server's), with nothing of the app's.
    this.frame.setAttribute('sandbox', 'allow-scripts allow-same-origin');
    this.frame.setAttribute('referrerpolicy', 'no-referrer');
    this.frame.style.transform = `scale(${PREVIEW_SCALE})`;
    preview.style.width = `${PREVIEW_W * PREVIEW_SCALE}px`;
    preview.style.height = `${PREVIEW_H * PREVIEW_SCALE}px`;
    preview.appendChild(this.frame);
    preview.hidden = true;
    this.preview = preview;

    const main = el('div', 'ovl-main');
    main.append(head, row, modes);
    root.append(main, preview);
    this.root = root;
    this.pane.el.querySelector('.host-extras').appendChild(root);
    this._refresh();
  }

  /** The address as it is now ('' without a server address). */
  get url() {
    const s = this.pane.session;
    return overlayURL(s.server, s.sdkAppID, this.pane.roomID, this.mode, currentLang());
  }

  /** Whether the link is on screen: a moderator's open panel in a shown pane. */
  get visible() {
    return this.pane.canModerate && !this.panel.hidden && !this.pane.el.hidden;
  }

  /** Runs the preview (on) or ends its page (off). */
  setPreview(on) {
    this.previewOn = !!on;
    const key = this.previewOn ? 'ovl_hidePreview' : 'ovl_showPreview';
    this.previewBtn.dataset.i18n = key;
    this.previewBtn.textContent = t(key);
    this.previewBtn.setAttribute('aria-pressed', String(this.previewOn));
    this.previewBtn.classList.toggle('active', this.previewOn);
    this._visibility();
  }

  setMode(mode) {
    this.mode = mode === 'danmaku' ? 'danmaku' : 'list';
    this._refresh();
  }

  /** Copies the address; the button says so for a moment. */
  async copy() {
    const url = this.url;
    if (!url) return;
    let done = false;
    try {
      if (navigator.clipboard && navigator.clipboard.writeText) {
        await navigator.clipboard.writeText(url);
        done = true;
      }
    } catch (e) {
      done = false;
    }
    if (!done) {
      // WebKitGTK without the async clipboard: the selection and the copy command.
      this.input.focus();
      this.input.select();
      try {
        done = document.execCommand('copy');
      } catch (e) {
        done = false;
      }
    }
    this.copyBtn.dataset.i18n = done ? 'ovl_copied' : 'ovl_copy';
    this.copyBtn.textContent = t(this.copyBtn.dataset.i18n);
    this.copyBtn.classList.toggle('copied', done);
    this.copyBtn.title = done ? '' : t('ovl_copyFailed');
    clearTimeout(this.copiedTimer);
    this.copiedTimer = setTimeout(() => {
      this.copyBtn.dataset.i18n = 'ovl_copy';
      this.copyBtn.textContent = t('ovl_copy');
      this.copyBtn.classList.remove('copied');
      this.copyBtn.title = '';
    }, COPIED_MS);
  }

  /** Writes the address, the mode's buttons, and the preview when it is on screen. */
  _refresh() {
    const url = this.url;
    this.input.value = url || t('ovl_noServer');
    this.input.title = url;
    this.copyBtn.disabled = !url;
    this.root.dataset.mode = this.mode;
    for (const [mode, b] of Object.entries(this.modeBtns)) {
      b.setAttribute('aria-pressed', String(mode === this.mode));
      b.classList.toggle('active', mode === this.mode);
    }
    this._visibility();
  }

  /** The preview runs only when asked for and seen: its page is one more guest in the room. */
  _visibility() {
    const want = this.previewOn && this.visible && this.url ? this.url : '';
    if (want === (this.frame.dataset.src || '')) return;
    this.frame.dataset.src = want;
    // about:blank, not a removed src: that would leave the page (and its socket) running.
    this.frame.src = want || 'about:blank';
    this.preview.hidden = !want;
  }

  roleChanged() {
    this.root.hidden = !this.pane.canModerate;
    this._visibility();
  }

  relabel() {
    this.frame.title = t('ovl_preview');
    this.preview.title = t('ovl_preview');
    this.previewBtn.textContent = t(this.previewBtn.dataset.i18n);
    // The address carries the language: the overlay speaks the host's.
    this._refresh();
  }

  destroy() {
    this.watch.disconnect();
    clearTimeout(this.copiedTimer);
    this.frame.src = 'about:blank';
  }
}

export const overlayLink = {
  name: 'overlayLink',
  mount(pane) {
    return new OverlayLink(pane);
  },
};
