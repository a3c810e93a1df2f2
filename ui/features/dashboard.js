// The room pane's dashboard (issue 15). A pane feature: see ../pane-features.js.

export const dashboard = {
  name: 'dashboard',
  mount(/* pane */) {
    return {};
  },
};
