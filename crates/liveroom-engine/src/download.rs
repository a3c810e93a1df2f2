//! Pictures from the room server, and only from it: the stored pictures (`/images/...`) and,
//! for any other `http(s)` URL (avatars are URLs any user chooses), the server's proxy
//! (`/external-image?url=...`), which fetches, checks and thumbnails it.
//!
//! The desktop app's image protocol goes through here, so that its webview loads no picture
//! from anywhere but the room server the engine is bound to (with the engine's trusted roots,
//! so a self-hosted server's private CA works for pictures as for the socket).

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use liveroom_proto::limits::{AVATAR_MAX, IMAGE_MAX};
use liveroom_proto::{code, ApiError};

use crate::endpoint::Servers;
use crate::tls::TlsConfig;

/// A picture as the room server served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerImage {
    /// `image/jpeg`, `image/png`, `image/gif` or `image/bmp`.
    pub content_type: String,
    /// The server's `Cache-Control`, if any.
    pub cache_control: Option<String>,
    /// The picture.
    pub bytes: Bytes,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A 20 MB original over a slow link.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client for pictures, made once per engine.
#[derive(Default)]
pub(crate) struct Downloader {
    client: OnceLock<reqwest::Client>,
}

impl Downloader {
    fn client(&self, tls: &TlsConfig) -> Result<&reqwest::Client, ApiError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let client = tls
            .http(reqwest::Client::builder())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| network(format!("picture download: {e}")))?;
        Ok(self.client.get_or_init(|| client))
    }

    /// GETs `target` (see [`request_path`]) from the node at `http`, one of `servers`: an
    /// absolute URL on any node of the list is that node's picture, which every node serves.
    pub(crate) async fn fetch(
        &self,
        servers: &Servers,
        http: &str,
        tls: &TlsConfig,
        target: &str,
    ) -> Result<ServerImage, ApiError> {
        let path = servers
            .http_roots()
            .find_map(|root| server_path(root, target).ok())
            .map_or_else(|| request_path(http, target), |path| Ok(path.to_owned()))?;
        let url = format!("{}{path}", http.trim_end_matches('/'));
        let mut response = self
            .client(tls)?
            .get(&url)
            .send()
            .await
            .map_err(|e| transport(&url, e))?;
        let status = response.status();
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let cache_control = header(reqwest::header::CACHE_CONTROL);
        if let Some(n) = response.content_length().filter(|n| *n > IMAGE_MAX) {
            return Err(network(format!("{url}: {n} bytes is more than a picture")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(&url, e))? {
            if (body.len() + chunk.len()) as u64 > IMAGE_MAX {
                return Err(network(format!("{url}: more bytes than a picture")));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            if let Ok(err) = serde_json::from_slice::<ApiError>(&body) {
                return Err(err);
            }
            return Err(network(format!("{url}: HTTP {}", status.as_u16())));
        }
        if !matches!(
            content_type.as_str(),
            "image/jpeg" | "image/png" | "image/gif" | "image/bmp"
        ) {
            return Err(ApiError::new(
                code::IMAGE_TYPE,
                format!("{url}: not a picture ({content_type})"),
            ));
        }
        Ok(ServerImage {
            content_type,
            cache_control,
            bytes: Bytes::from(body),
        })
    }
}

/// What to ask the server at `http` for to show `target`: the server's own pictures as they
/// are (see [`server_path`]), any other `http(s)` URL (an avatar chosen by a user) through the
/// server's proxy, `/external-image?url=...`; anything else is refused (10004).
pub(crate) fn request_path(http: &str, target: &str) -> Result<String, ApiError> {
    match server_path(http, target) {
        Ok(path) => Ok(path.to_owned()),
        Err(e) => {
            let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                Ok(format!("/external-image?url={}", encode(target)))
            } else {
                Err(e)
            }
        }
    }
}

/// Percent-encodes all but the unreserved characters (as `encodeURIComponent`, and `~`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The server path for `target`: a server-relative `/images/<file>` or
/// `/external-image?url=...`, or the same as an absolute URL on the server at `http`.
/// Anything else is refused (10004).
pub(crate) fn server_path<'a>(http: &str, target: &'a str) -> Result<&'a str, ApiError> {
    let base = http.trim_end_matches('/');
    let path = target
        .strip_prefix(base)
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(target);
    let stored = path.strip_prefix("/images/").is_some_and(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    });
    // The query is URL-encoded: at most three bytes per byte of a 100-byte URL.
    let proxied = path
        .strip_prefix("/external-image?url=")
        .is_some_and(|q| q.len() <= 3 * AVATAR_MAX && !q.contains(['#', ' ']));
    if stored || proxied {
        Ok(path)
    } else {
        Err(ApiError::invalid(format!(
            "{target}: not a picture of this server (/images/... or /external-image?url=...)"
        )))
    }
}

fn network(message: impl Into<String>) -> ApiError {
    ApiError::new(code::NETWORK, message)
}

fn transport(url: &str, e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::new(code::TIMEOUT, format!("{url} timed out"))
    } else {
        network(format!("{url}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP: &str = "http://127.0.0.1:9000";

    #[test]
    fn only_the_servers_pictures_are_fetched() {
        for ok in [
            "/images/ab12.small.jpg",
            "http://127.0.0.1:9000/images/ab12.orig.png",
            "/external-image?url=https%3A%2F%2Fexample.org%2Fa.png",
        ] {
            assert!(server_path(HTTP, ok).is_ok(), "{ok}");
        }
        assert_eq!(
            server_path(HTTP, "http://127.0.0.1:9000/images/x.jpg").unwrap(),
            "/images/x.jpg"
        );
        assert_eq!(
            request_path(HTTP, "https://cdn.example/a b.png").unwrap(),
            "/external-image?url=https%3A%2F%2Fcdn.example%2Fa%20b.png"
        );
        assert_eq!(
            request_path(HTTP, "HTTP://127.0.0.1:9000/ws").unwrap(),
            "/external-image?url=HTTP%3A%2F%2F127.0.0.1%3A9000%2Fws",
            "not a picture of the server: the proxy judges it"
        );
        assert_eq!(
            request_path(HTTP, "/images/a.small.jpg").unwrap(),
            "/images/a.small.jpg"
        );
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "",
            "/ws",
        ] {
            assert_eq!(
                request_path(HTTP, bad).unwrap_err().code,
                code::INVALID_PARAMETER,
                "{bad}"
            );
        }
        for bad in [
            "https://evil.example/images/x.jpg",
            "http://127.0.0.1:90001/images/x.jpg",
            "/images/../liveroom.db",
            "/images/",
            "/ws",
            "/upload",
            "/external-image?url=a#b",
            "images/x.jpg",
        ] {
            assert_eq!(
                server_path(HTTP, bad).unwrap_err().code,
                code::INVALID_PARAMETER,
                "{bad}"
            );
        }
    }
}
