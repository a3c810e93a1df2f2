// Mentions (issue 15): a pane feature that marks rows naming the user, and the app's list of
// them across rooms. See ../pane-features.js.

export const mentions = {
  name: 'mentions',
  mount(/* pane */) {
    return {};
  },
};

/** The app-wide part: `{session, rooms}`. */
export function initMentions(/* app */) {}
