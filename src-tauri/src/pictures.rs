//! The `liveroom-image` protocol: every picture the webview shows (chat pictures, avatars,
//! room avatars) is loaded through it, from the room server the engine is bound to, with
//! [`liveroom_engine::Im::fetch_image`]: the server's own pictures as they are, any other
//! `http(s)` URL (avatars are URLs any user chooses) through the server's proxy, which
//! fetches, checks and thumbnails it.
//!
//! The CSP in `tauri.conf.json` allows images from this protocol, the app's own files and
//! `data:`/`blob:` only. Tauri's CSP is fixed when the app is built while the room server is
//! chosen at run time (the embedded server's port, or any remote address), so the app does
//! not name the server in the CSP: it names this protocol, which reaches nothing but that
//! server. No URL a user chose is ever loaded from where it points, so no third party learns
//! a viewer's address; and pictures from a server with a private CA load too, since the
//! engine trusts the roots it was given.
//!
//! URLs: `liveroom-image://localhost/<URL-encoded picture URL>` (Linux, macOS), or
//! `http://liveroom-image.localhost/<...>` (Windows): the UI makes them with Tauri's
//! `convertFileSrc(url, 'liveroom-image')`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use liveroom_engine::ServerImage;
use tauri::http::{header, Request, Response, StatusCode};
use tauri::{Manager, Runtime, UriSchemeContext, UriSchemeResponder};

use crate::bridge::Bridge;

/// The protocol's scheme.
pub const SCHEME: &str = "liveroom-image";

/// Pictures kept in memory, so that the same avatar shown on many messages is asked of the
/// server once: at most this many bytes in all...
const CACHE_BYTES: usize = 8 * 1024 * 1024;
/// ...of pictures of at most this size (thumbnails and avatars, not originals).
const CACHE_ENTRY_MAX: usize = 256 * 1024;

/// Answers one request of the webview, in the background.
pub fn handle<R: Runtime>(
    ctx: UriSchemeContext<'_, R>,
    request: Request<Vec<u8>>,
    responder: UriSchemeResponder,
) {
    let app = ctx.app_handle().clone();
    let target = target(request.uri().path());
    tauri::async_runtime::spawn(async move {
        let response = match target {
            Some(target) => serve(app.state::<Bridge>().inner(), &target).await,
            None => status(StatusCode::BAD_REQUEST),
        };
        responder.respond(response);
    });
}

/// The picture URL in a protocol path: `/` then the URL, percent-encoded.
fn target(path: &str) -> Option<String> {
    let encoded = path.strip_prefix('/')?;
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|t| !t.is_empty())
}

async fn serve(bridge: &Bridge, target: &str) -> Response<Vec<u8>> {
    if let Some(image) = bridge.pictures().get(target) {
        return picture(&image);
    }
    let Ok(im) = bridge.im() else {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    };
    match im.fetch_image(target).await {
        Ok(image) => {
            let response = picture(&image);
            bridge.pictures().put(target, image);
            response
        }
        Err(e) => {
            tracing::debug!(%target, code = e.code, "picture not shown: {}", e.message);
            status(StatusCode::NOT_FOUND)
        }
    }
}

fn picture(image: &ServerImage) -> Response<Vec<u8>> {
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, image.content_type.as_str())
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if let Some(cache) = &image.cache_control {
        builder = builder.header(header::CACHE_CONTROL, cache.as_str());
    }
    builder
        .body(image.bytes.to_vec())
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn status(code: StatusCode) -> Response<Vec<u8>> {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = code;
    response
}

/// Recently shown small pictures of the current server, oldest dropped first.
#[derive(Default)]
pub struct PictureCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<String, ServerImage>,
    order: VecDeque<String>,
    bytes: usize,
}

impl PictureCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, target: &str) -> Option<ServerImage> {
        self.lock().map.get(target).cloned()
    }

    fn put(&self, target: &str, image: ServerImage) {
        let size = image.bytes.len();
        if size > CACHE_ENTRY_MAX {
            return;
        }
        let mut c = self.lock();
        if c.map.contains_key(target) {
            return;
        }
        while c.bytes + size > CACHE_BYTES {
            let Some(oldest) = c.order.pop_front() else {
                break;
            };
            if let Some(old) = c.map.remove(&oldest) {
                c.bytes -= old.bytes.len();
            }
        }
        c.bytes += size;
        c.order.push_back(target.to_owned());
        c.map.insert(target.to_owned(), image);
    }

    /// Forgets everything (another server, or none).
    pub fn clear(&self) {
        *self.lock() = CacheInner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_paths_carry_the_picture_url() {
        assert_eq!(
            target("/https%3A%2F%2Fcdn.example%2Fa%20b.png").as_deref(),
            Some("https://cdn.example/a b.png")
        );
        assert_eq!(
            target("/%2Fimages%2Fab.small.jpg").as_deref(),
            Some("/images/ab.small.jpg")
        );
        assert_eq!(target("/"), None);
        assert_eq!(target("/%zz"), None);
        assert_eq!(target("/%e"), None);
        assert_eq!(target("/%ff%fe"), None, "not UTF-8");
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = PictureCache::default();
        let image = |n: usize| ServerImage {
            content_type: "image/jpeg".into(),
            cache_control: None,
            bytes: vec![0u8; n].into(),
        };
        cache.put("big", image(CACHE_ENTRY_MAX + 1));
        assert!(cache.get("big").is_none(), "originals are not kept");
        for i in 0..100 {
            cache.put(&format!("a{i}"), image(200 * 1024));
        }
        assert!(cache.lock().bytes <= CACHE_BYTES);
        assert!(cache.get("a0").is_none(), "the oldest went first");
        assert!(cache.get("a99").is_some());
        cache.clear();
        assert!(cache.get("a99").is_none());
    }
}
