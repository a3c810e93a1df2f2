// A room's audit log: every moderation action, newest first.

import { $ } from '../dom.js';
import { fmtTime } from '../format.js';
import { showError } from '../toast.js';

/** The room shown (for Refresh): `{roomID, title}`. */
let shown = null;

/** @param {Session} session */
export function initAuditLog(session) {
  $('audit-close').addEventListener('click', () => $('dlg-audit').close());
  $('audit-refresh').addEventListener('click', () => shown && openAuditLog(session, shown));
}

/** Opens (or refreshes) the log of `room`: `{roomID, title}`. */
export async function openAuditLog(session, room) {
  shown = room;
  $('audit-room').textContent = room.title || room.roomID;
  if (!$('dlg-audit').open) $('dlg-audit').showModal();
  try {
    const rows = (await session.im.getAuditLog({ roomID: room.roomID })).data || [];
    const body = $('audit-rows');
    body.replaceChildren();
    for (const e of rows) {
      const tr = document.createElement('tr');
      tr.dataset.action = e.action;
      for (const v of [fmtTime(e.time), e.actor, e.action.replace(/_/g, ' '), e.target, e.reason]) {
        const td = document.createElement('td');
        td.textContent = v || '';
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    $('audit-empty').hidden = rows.length > 0;
  } catch (e) {
    showError(e);
  }
}
