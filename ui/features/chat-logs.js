// Chat logs on disk (issue 15): the opt-in setting and its dialog, app-wide. The app writes
// every room's messages to FOLDER/SERVER/ROOM/YYYY-MM-DD.log (plain text) and .jsonl (JSON
// lines) when the user turns it on (src-tauri/src/chat_log.rs); this module is the "Logs"
// button in the top bar, the dialog behind it, and what the search (search.js) asks of it:
// whether logging is on.

import { el } from '../dom.js';
import { t, addStrings, onLangChange, apply as applyI18n } from '../i18n.js';
import { invoke, listen, openFolderDialog } from '../tauri.js';
import { toast, showError } from '../toast.js';

/** The webview event the app sends, once, when logs could not be written (chat_log.rs). */
const ERROR_EVENT = 'liveroom://chat-log-error';

addStrings({
  en: {
    clButton: 'Logs',
    clButtonOn: 'Chat logs are on',
    clButtonOff: 'Chat logs are off',
    clTitle: 'Chat logs',
    clIntro: 'Writes every room’s messages to a folder on this computer, one file per room and day, like Chatterino’s logs. Off unless you turn it on.',
    clEnable: 'Write chat logs to disk',
    clFolder: 'Folder',
    clChoose: 'Choose…',
    clChooseTitle: 'Folder for the chat logs',
    clWhere: 'Files go to',
    clFormat: 'Plain text ([HH:MM:SS] nick (userID): text) and JSON lines, in local time.',
    clSaved: 'Chat logs on: ',
    clSavedOff: 'Chat logs off',
    clWriteError: 'Chat logs could not be written: ',
    clLastError: 'Last error: ',
    clNeedFolder: 'Choose a folder first',
    clDropped: '{n} messages were not logged: the disk could not keep up.',
  },
  zh: {
    clButton: '聊天记录',
    clButtonOn: '聊天记录已开启',
    clButtonOff: '聊天记录已关闭',
    clTitle: '聊天记录',
    clIntro: '把每个房间的消息写入本机的文件夹，每个房间每天一个文件（与 Chatterino 的日志相同）。默认关闭，需要您手动开启。',
    clEnable: '将聊天记录保存到磁盘',
    clFolder: '文件夹',
    clChoose: '选择…',
    clChooseTitle: '聊天记录保存的文件夹',
    clWhere: '文件位置',
    clFormat: '纯文本（[时:分:秒] 昵称 (用户ID): 内容）和 JSON Lines，使用本地时间。',
    clSaved: '聊天记录已开启：',
    clSavedOff: '聊天记录已关闭',
    clWriteError: '聊天记录无法写入：',
    clLastError: '最近的错误：',
    clNeedFolder: '请先选择文件夹',
    clDropped: '有 {n} 条消息未能记录：磁盘写入跟不上。',
  },
});

/** What the app says about logging (get_chat_log_settings), and who wants to know of changes. */
const state = { enabled: false, folder: '', suggestedFolder: '', serverFolder: null, lastError: null };
const listeners = new Set();

/** Whether messages are being written to disk now (search.js asks the logs only then). */
export function chatLogsOn() {
  return state.enabled;
}

/** Calls `f(state)` whenever the setting changes. */
export function onChatLogsChange(f) {
  listeners.add(f);
}

function setState(view) {
  Object.assign(state, view);
  for (const f of listeners) f(state);
}

let dlg = null;
let button = null;

/** The settings' part of the app: `{session, rooms}`. */
export function initChatLogs(/* app */) {
  button = document.createElement('button');
  button.type = 'button';
  button.className = 'ghost btn-chat-logs';
  button.id = 'btn-chat-logs';
  button.addEventListener('click', () => openChatLogs());
  const slot = document.getElementById('topbar-tools');
  if (slot) slot.appendChild(button);
  dlg = buildDialog();
  document.body.appendChild(dlg);
  relabel();
  onLangChange(relabel);
  onChatLogsChange(() => labelButton());
  listen(ERROR_EVENT, (e) => toast(`${t('clWriteError')}${e.payload}`, 'error')).catch(() => {});
  refresh();
}

/** Reads the setting again (the app reads its file at the first ask). */
async function refresh() {
  try {
    setState(await invoke('get_chat_log_settings'));
  } catch (err) {
    console.warn('liveroom | chat logs:', err);
  }
}

function labelButton() {
  if (!button) return;
  button.textContent = t('clButton');
  button.classList.toggle('on', state.enabled);
  button.title = state.enabled ? `${t('clButtonOn')}: ${state.folder}` : t('clButtonOff');
}

function relabel() {
  labelButton();
  if (dlg) {
    applyI18n(dlg);
    showWhere();
  }
}

/** The dialog, built once: the opt-in, the folder (picker and text), where files go, Save. */
function buildDialog() {
  const d = document.createElement('dialog');
  d.id = 'dlg-chat-logs';
  d.className = 'chat-logs-dialog';
  const form = document.createElement('form');
  form.method = 'dialog';
  form.autocomplete = 'off';
  const h = el('h2', '', 'clTitle');
  const intro = el('p', 'muted', 'clIntro');

  const enable = document.createElement('label');
  enable.className = 'cl-enable';
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = 'chat-logs-enabled';
  enable.append(box, el('span', '', 'clEnable'));

  const folderLabel = document.createElement('label');
  folderLabel.append(el('span', '', 'clFolder'));
  const row = el('div', 'row');
  const input = document.createElement('input');
  input.id = 'chat-logs-folder';
  input.spellcheck = false;
  const choose = el('button', 'ghost', 'clChoose');
  choose.type = 'button';
  choose.id = 'chat-logs-choose';
  row.append(input, choose);
  folderLabel.append(row);

  const where = el('div', 'cl-where');
  const whereTitle = el('span', 'muted', 'clWhere');
  const path = el('code', 'cl-path');
  path.id = 'chat-logs-path';
  const format = el('p', 'muted cl-format', 'clFormat');
  where.append(whereTitle, path, format);

  const error = el('p', 'cl-error');
  error.id = 'chat-logs-error';
  error.setAttribute('role', 'alert');
  error.hidden = true;

  const buttons = el('div', 'row end');
  const cancel = el('button', 'ghost', 'cancel');
  cancel.type = 'button';
  cancel.id = 'chat-logs-cancel';
  const save = el('button', 'primary', 'save');
  save.type = 'submit';
  save.id = 'chat-logs-save';
  buttons.append(cancel, save);

  form.append(h, intro, enable, folderLabel, where, error, buttons);
  d.appendChild(form);

  input.addEventListener('input', showWhere);
  box.addEventListener('change', showWhere);
  choose.addEventListener('click', async () => {
    try {
      const picked = await openFolderDialog(t('clChooseTitle'), input.value || state.suggestedFolder);
      if (picked) {
        input.value = typeof picked === 'string' ? picked : picked.path;
        box.checked = true;
        showWhere();
      }
    } catch (err) {
      // No native dialog here (e.g. no portal): the text field still works.
      console.warn('liveroom | folder picker:', err);
      input.focus();
    }
  });
  cancel.addEventListener('click', () => d.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const enabled = box.checked;
    const folder = input.value.trim();
    if (enabled && !folder) {
      showProblem(t('clNeedFolder'));
      input.focus();
      return;
    }
    save.disabled = true;
    try {
      setState(await invoke('set_chat_log_settings', { settings: { enabled, folder } }));
      d.close();
      toast(enabled ? `${t('clSaved')}${folder}` : t('clSavedOff'), 'tip');
    } catch (err) {
      showProblem(err && err.message ? err.message : String(err));
      showError(err);
    } finally {
      save.disabled = false;
    }
  });
  return d;
}

/** Opens the dialog with the current setting (a folder suggested when none was chosen). */
export async function openChatLogs() {
  await refresh();
  dlg.querySelector('#chat-logs-enabled').checked = state.enabled;
  dlg.querySelector('#chat-logs-folder').value = state.folder || state.suggestedFolder || '';
  const problems = [];
  if (state.lastError) problems.push(`${t('clLastError')}${state.lastError}`);
  if (state.dropped > 0) problems.push(t('clDropped').replace('{n}', String(state.dropped)));
  showProblem(problems.join(' '));
  showWhere();
  if (!dlg.open) dlg.showModal();
}

function showProblem(text) {
  const p = dlg.querySelector('#chat-logs-error');
  p.textContent = text;
  p.hidden = !text;
}

/** `FOLDER/SERVER/ROOM/YYYY-MM-DD.log` (and .jsonl), with what is known filled in. */
function showWhere() {
  if (!dlg) return;
  const folder = dlg.querySelector('#chat-logs-folder').value.trim() || '…';
  const sep = folder.includes('\\') && !folder.includes('/') ? '\\' : '/';
  const base = folder.replace(/[\\/]+$/, '');
  const server = state.serverFolder || 'SERVER';
  const path = dlg.querySelector('#chat-logs-path');
  path.textContent = `${base}${sep}${server}${sep}ROOM${sep}YYYY-MM-DD.log · .jsonl`;
  dlg.querySelector('.cl-where').classList.toggle('off', !dlg.querySelector('#chat-logs-enabled').checked);
}
