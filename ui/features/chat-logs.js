// Chat logs on disk: the setting and its dialog (issue 15).

/** The settings' part of the app: `{session, rooms}`. */
export function initChatLogs(/* app */) {}
