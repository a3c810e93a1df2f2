// The room pane's danmaku (issue 15). A pane feature: see ../pane-features.js.

export const danmaku = {
  name: 'danmaku',
  mount(/* pane */) {
    return {};
  },
};
