// What a room pane tells the app, as bubbling DOM events from the pane's element (the app
// tells a pane things by calling its methods; a pane never calls into the app).

export const PANE = Object.freeze({
  /** The user pressed Leave: `{roomID}`. */
  LEAVE: 'pane:leave',
  /** The room is gone and the pane should go (we dismissed it): `{roomID}`. */
  CLOSED: 'pane:closed',
  /** The room's state the lists show changed (ended, removed): `{roomID}`. */
  CHANGED: 'pane:changed',
  /** Open a member's card: `{roomID, who: {userID, nick, avatar}, canModerate, canAppoint}`. */
  OPEN_USER: 'pane:open-user',
  /** Open the room's audit log: `{roomID, title}`. */
  OPEN_AUDIT: 'pane:open-audit',
  /** Moderation news about a member (an open card of them is read again): `{roomID, userID}`. */
  MEMBER_NEWS: 'pane:member-news',
  /** Show a picture full size: `{url}`. */
  SHOW_PICTURE: 'pane:show-picture',
});
