// The room pane's search (issue 15). A pane feature: see ../pane-features.js.

export const search = {
  name: 'search',
  mount(/* pane */) {
    return {};
  },
};
