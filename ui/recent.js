// The rooms this user entered lately (localStorage), newest first, per server.

const RECENT_KEY = 'liveroom.recent';
const MAX_RECENT = 12;

/** `[{roomID, name, server}]`, newest first; a damaged entry is skipped. */
export function recentRooms() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((r) => r && typeof r.roomID === 'string') : [];
  } catch {
    return [];
  }
}

/** Puts `group` (a room object) first in the list for `server`. */
export function rememberRoom(group, server) {
  const list = recentRooms().filter((r) => r.roomID !== group.groupID);
  list.unshift({ roomID: group.groupID, name: group.name || group.groupID, server });
  localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, MAX_RECENT)));
}
