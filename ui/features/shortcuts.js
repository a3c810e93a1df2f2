// Keyboard shortcuts and their help dialog (issue 15). One keydown listener on the window:
//
//   Ctrl+1…9            the n-th joined room (the sidebar's order)
//   Ctrl+Tab, Alt+↓     the next joined room;  Ctrl+Shift+Tab, Alt+↑  the previous one
//   Ctrl+L, /           the message input of the room shown
//   Ctrl+F              search in the room (its search bar: pane.features.search.open())
//   Ctrl+H              open or close the room's host panel (only where it may: Manage shown)
//   Ctrl+Shift+M        side by side / single room
//   Escape              closes the open dialog (the browser's own), else the search bar, the
//                       gift panel or the host panel of the room shown
//   ?                   this help
//
// On a Mac, Cmd where Ctrl (Ctrl still works; Ctrl+Tab and Ctrl+H stay Ctrl: ⌘H is Hide). While the user types in a
// field, only the Ctrl/Cmd shortcuts, Alt+↑/↓ (in a one-line input) and Escape act: `/` and
// `?` are typed. An input method composing (Chinese) keeps every key. While a dialog is open,
// the keys are the dialog's.

import { t, addStrings, onLangChange } from '../i18n.js';
import { $ } from '../dom.js';
import { notifySetting } from './mentions.js';

addStrings({
  en: {
    scTitle: 'Keyboard shortcuts',
    scButton: 'Keyboard shortcuts (?)',
    scRoomN: 'Go to the 1st … 9th joined room',
    scNext: 'Next room',
    scPrev: 'Previous room',
    scInput: 'Type a message (focus the input)',
    scSearch: 'Search in this room',
    scHost: 'Open or close the host panel (Manage)',
    scSideBySide: 'Side by side / single room',
    scEscape: 'Close the dialog, search bar or panel',
    scHelp: 'Show this help',
    scMacNote: 'On a Mac, use ⌘ where Ctrl is written (Ctrl works too; ⌘H is the system’s Hide, so Ctrl+H).',
    scTypingNote: 'While you type in a field, / and ? are typed as they are.',
    scKeys: 'Keys',
    scAction: 'Action',
    scOr: 'or',
  },
  zh: {
    scTitle: '键盘快捷键',
    scButton: '键盘快捷键 (?)',
    scRoomN: '切换到第 1 … 9 个已加入的房间',
    scNext: '下一个房间',
    scPrev: '上一个房间',
    scInput: '输入消息（聚焦输入框）',
    scSearch: '在本房间中搜索',
    scHost: '打开或关闭主播面板（管理）',
    scSideBySide: '并排显示 / 单个房间',
    scEscape: '关闭对话框、搜索栏或面板',
    scHelp: '显示本帮助',
    scMacNote: '在 Mac 上，写着 Ctrl 的地方用 ⌘（Ctrl 也可以；⌘H 是系统的隐藏，请用 Ctrl+H）。',
    scTypingNote: '在输入框中打字时，/ 和 ? 照常输入。',
    scKeys: '按键',
    scAction: '功能',
    scOr: '或',
  },
});

const IS_MAC = /Mac|iPhone|iPad/i.test(navigator.platform || navigator.userAgent || '');
const MOD = IS_MAC ? '⌘' : 'Ctrl';

/** What the help lists, in its order: each action's key combinations (joined by "or"). */
export const SHORTCUTS = [
  { id: 'room-n', keys: [[MOD, '1…9']], what: 'scRoomN' },
  { id: 'next', keys: [['Ctrl', 'Tab'], ['Alt', '↓']], what: 'scNext' },
  { id: 'prev', keys: [['Ctrl', 'Shift', 'Tab'], ['Alt', '↑']], what: 'scPrev' },
  { id: 'input', keys: [[MOD, 'L'], ['/']], what: 'scInput' },
  { id: 'search', keys: [[MOD, 'F']], what: 'scSearch' },
  // Not ⌘H on a Mac: that is the system's Hide.
  { id: 'host', keys: [['Ctrl', 'H']], what: 'scHost' },
  { id: 'side', keys: [[MOD, 'Shift', 'M']], what: 'scSideBySide' },
  { id: 'escape', keys: [['Esc']], what: 'scEscape' },
  { id: 'help', keys: [['?']], what: 'scHelp' },
];

/** Input types in which keys are text being typed. */
const TEXT_INPUTS = new Set(['', 'text', 'search', 'url', 'email', 'password', 'tel', 'number']);

/** Whether `el` is a field the user types in (so plain keys belong to it). */
function isTyping(el) {
  if (!el || !el.tagName) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select') return true;
  return tag === 'input' && TEXT_INPUTS.has((el.getAttribute('type') || '').toLowerCase());
}

/** Installs the shortcuts: `{session, rooms, main}`. */
export function initShortcuts(app) {
  const { rooms } = app;
  const dialog = buildDialog();
  const tools = $('topbar-tools');
  if (tools) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'ghost sc-open';
    b.id = 'btn-shortcuts';
    b.textContent = '?';
    b.addEventListener('click', () => openHelp(dialog));
    tools.appendChild(b);
  }
  labelAll(dialog);
  onLangChange(() => labelAll(dialog));
  notifySetting.subscribe((on) => (dialog.querySelector('.sc-notify').checked = on));

  const activePane = () => (rooms.active ? rooms.panes.get(rooms.active) : null);
  const step = (by) => {
    const ids = [...rooms.panes.keys()];
    if (!ids.length) return;
    const at = ids.indexOf(rooms.active);
    rooms.activate(ids[(at + by + ids.length) % ids.length]);
  };
  const focusInput = () => {
    const pane = activePane();
    const input = pane && pane.el.querySelector('.text-input');
    if (input && !input.disabled) input.focus();
  };
  const escape = () => {
    const pane = activePane();
    if (!pane) return false;
    const search = pane.features && pane.features.search;
    if (search && search.isOpen) {
      search.close();
      return true;
    }
    for (const sel of ['.gift-panel', '.host-panel']) {
      const el = pane.el.querySelector(sel);
      if (el && !el.hidden) {
        el.hidden = true;
        return true;
      }
    }
    return false;
  };

  window.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.isComposing || e.keyCode === 229) return;
    if ($('screen-main').hidden) return;
    // A dialog open owns the keys; the browser closes a modal one on Escape itself.
    if (document.querySelector('dialog[open]')) return;
    const typing = isTyping(e.target);
    const mod = IS_MAC ? e.metaKey || e.ctrlKey : e.ctrlKey && !e.metaKey;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const digit = /^(Digit|Numpad)([1-9])$/.exec(e.code || '');
    let done = true;
    if (e.key === 'Escape' && !mod && !e.altKey) {
      done = escape();
    } else if ((e.key === 'Tab' || e.code === 'Tab') && e.ctrlKey && !e.altKey && !e.metaKey) {
      // (Shift+Tab is GTK's ISO_Left_Tab, which can reach the page as key 'Unidentified'.)
      step(e.shiftKey ? -1 : 1);
    } else if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey) {
      // A textarea's Alt+arrow is the user's; a one-line input has no use for it.
      if (e.target && e.target.tagName === 'TEXTAREA') return;
      step(e.key === 'ArrowDown' ? 1 : -1);
    } else if (mod && !e.altKey && !e.shiftKey && digit) {
      const id = [...rooms.panes.keys()][Number(digit[2]) - 1];
      if (id) rooms.activate(id);
    } else if (mod && !e.altKey && !e.shiftKey && key === 'l') {
      focusInput();
    } else if (mod && !e.altKey && !e.shiftKey && key === 'f') {
      const pane = activePane();
      const search = pane && pane.features && pane.features.search;
      if (search && typeof search.open === 'function') search.open();
    } else if (mod && !e.altKey && !e.shiftKey && key === 'h') {
      const pane = activePane();
      const b = pane && pane.el.querySelector('.btn-host');
      if (b && !b.hidden) b.click();
    } else if (mod && !e.altKey && e.shiftKey && (key === 'm' || e.code === 'KeyM')) {
      $('btn-moderator').click();
    } else if (!typing && !mod && !e.altKey && !e.metaKey && e.key === '/') {
      focusInput();
    } else if (!typing && !mod && !e.altKey && !e.metaKey && e.key === '?') {
      openHelp(dialog);
    } else {
      done = false;
    }
    if (done) e.preventDefault();
  });
}

function openHelp(dialog) {
  dialog.querySelector('.sc-notify').checked = notifySetting.on;
  if (!dialog.open) dialog.showModal();
  dialog.querySelector('.sc-close').focus();
}

/** The help dialog (made once, appended to the page): a table of every shortcut. */
function buildDialog() {
  const dialog = document.createElement('dialog');
  dialog.id = 'dlg-shortcuts';
  dialog.className = 'wide sc-dialog';
  const form = document.createElement('form');
  form.method = 'dialog';
  const h = document.createElement('h2');
  h.dataset.i18n = 'scTitle';
  const table = document.createElement('table');
  table.className = 'sc-table';
  const head = document.createElement('thead');
  const hr = document.createElement('tr');
  for (const k of ['scKeys', 'scAction']) {
    const th = document.createElement('th');
    th.dataset.i18n = k;
    hr.appendChild(th);
  }
  head.appendChild(hr);
  const body = document.createElement('tbody');
  for (const s of SHORTCUTS) {
    const tr = document.createElement('tr');
    tr.dataset.shortcut = s.id;
    const keys = document.createElement('td');
    keys.className = 'sc-keys';
    s.keys.forEach((combo, i) => {
      if (i) {
        const or = document.createElement('span');
        or.className = 'sc-or';
        or.dataset.i18n = 'scOr';
        keys.appendChild(or);
      }
      combo.forEach((k, j) => {
        if (j) keys.append('+');
        const kbd = document.createElement('kbd');
        kbd.textContent = k;
        keys.appendChild(kbd);
      });
    });
    const what = document.createElement('td');
    what.className = 'sc-what';
    what.dataset.i18n = s.what;
    tr.append(keys, what);
    body.appendChild(tr);
  }
  table.append(head, body);
  const notes = document.createElement('p');
  notes.className = 'muted sc-notes';
  const typingNote = document.createElement('span');
  typingNote.dataset.i18n = 'scTypingNote';
  notes.append(typingNote);
  if (IS_MAC) {
    const mac = document.createElement('span');
    mac.dataset.i18n = 'scMacNote';
    notes.append(' ', mac);
  }
  // The mentions' desktop notifications: on or off (mentions.js keeps the choice).
  const sw = document.createElement('label');
  sw.className = 'switch sc-notify-row';
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.className = 'sc-notify';
  box.addEventListener('change', () => notifySetting.set(box.checked));
  const track = document.createElement('span');
  track.className = 'track';
  const thumb = document.createElement('span');
  thumb.className = 'thumb';
  track.appendChild(thumb);
  const label = document.createElement('span');
  label.dataset.i18n = 'mnNotifySetting';
  sw.append(box, track, label);
  const row = document.createElement('div');
  row.className = 'row end';
  const close = document.createElement('button');
  close.type = 'submit';
  close.className = 'primary sc-close';
  close.dataset.i18n = 'close';
  row.appendChild(close);
  form.append(h, table, notes, sw, row);
  dialog.appendChild(form);
  document.body.appendChild(dialog);
  return dialog;
}

/** Writes the dialog's and the button's labels in the current language. */
function labelAll(dialog) {
  for (const el of dialog.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  const b = $('btn-shortcuts');
  if (b) {
    b.title = t('scButton');
    b.setAttribute('aria-label', t('scButton'));
  }
}
