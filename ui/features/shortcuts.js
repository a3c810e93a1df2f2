// Keyboard shortcuts and their help dialog (issue 15).

/** Installs the shortcuts: `{session, rooms, main}`. */
export function initShortcuts(/* app */) {}
