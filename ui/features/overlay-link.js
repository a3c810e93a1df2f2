// The room pane's overlay-link (issue 15). A pane feature: see ../pane-features.js.

export const overlayLink = {
  name: 'overlayLink',
  mount(/* pane */) {
    return {};
  },
};
