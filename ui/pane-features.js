// What a room pane carries besides its chat: the dashboard, danmaku, search, the overlay link.
// Each is a module of ui/features/ exporting a feature `{name, mount(pane)}`; `mount` builds
// the feature's own DOM in the pane's slots and returns an object with any of:
//
//   receive(messages)  the room's messages as they arrive (after the chat has them)
//   sent(message)      one of the user's own messages, as it is shown (before the server's ack)
//   decorate(li, m)    a chat row being built for message m (add classes or children only)
//   roleChanged()      the pane's role or ownership changed (pane.canModerate, pane.isOwner)
//   ended()            the stream ended
//   relabel()          the language changed
//   destroy()          the pane is closing
//
// The pane's slots (index.html, tpl-pane): `.pane-tools` (header buttons), `.host-extras`
// (top of the host panel), `.search-slot` (above the stage), `.fx-danmaku` (a layer over the
// stage). A feature reaches the pane's other parts only through `pane`'s public members.

const FEATURES = [];

/** Adds a feature to every pane made from now on (app.js, once at start). */
export function registerPaneFeature(feature) {
  FEATURES.push(feature);
}

/** Mounts every registered feature on a new pane: `{name: instance}`. */
export function mountFeatures(pane) {
  const mounted = {};
  for (const f of FEATURES) mounted[f.name] = f.mount(pane) || {};
  return mounted;
}

/** Calls `method(...args)` on every mounted feature that has it (none before they mount). */
export function notifyFeatures(mounted, method, ...args) {
  if (!mounted) return;
  for (const f of Object.values(mounted)) if (typeof f[method] === 'function') f[method](...args);
}
