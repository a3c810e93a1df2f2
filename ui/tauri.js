// The only file that touches `window.__TAURI__` (withGlobalTauri): everything else imports
// from here, so the UI has no npm build step and one place to look for IPC.

const T = window.__TAURI__;

if (!T) {
  throw new Error('Liveroom UI must run inside the Liveroom app (window.__TAURI__ missing)');
}

/** Calls a shell command; rejects with the command's `{code, message}`. */
export const invoke = (cmd, args, options) => T.core.invoke(cmd, args, options);

/** Listens to an app event; resolves an unlisten function. */
export const listen = (event, handler) => T.event.listen(event, handler);

/** Ordered stream from one command (upload progress). */
export const Channel = T.core.Channel;

/**
 * Where the webview loads a picture from: the app's `liveroom-image` protocol, which takes it
 * from the room server and nowhere else (src-tauri/src/pictures.rs): the server's own
 * pictures as they are, any other http(s) URL (avatars) through the server's proxy. The CSP
 * allows no other image source, so a URL a user chose is never loaded from where it points.
 */
export const pictureSrc = (url) => T.core.convertFileSrc(url, 'liveroom-image');

/** A server picture's URL (`/images/...`, or absolute as the engine gives it) as the webview loads it; `data:` and `blob:` URLs as they are. */
export function pictureUrl(url) {
  if (!url || /^(data:|blob:)/i.test(url)) return url || '';
  return pictureSrc(String(url));
}

/** The native file picker (dialog plugin): resolves a path, or null when cancelled. */
export const openImageDialog = (title) =>
  T.dialog.open({
    title,
    multiple: false,
    directory: false,
    filters: [{ name: 'Images', extensions: ['png', 'jpg', 'jpeg', 'gif', 'bmp'] }],
  });

/** The native folder picker (dialog plugin): resolves a path, or null when cancelled. */
export const openFolderDialog = (title, defaultPath) =>
  T.dialog.open({ title, multiple: false, directory: true, defaultPath: defaultPath || undefined });
