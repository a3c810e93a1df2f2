//! Pictures: where they come from, the checks made before anything is sent, and the upload
//! that turns them into a `uuid` the `send_image` request refers to.
//!
//! The upload is `POST {http root}{upload_path}` with the raw picture as the body and the
//! session's upload token as `Authorization: Bearer`; the answer names the stored picture by
//! `uuid`, which the `send_image` request then refers to. A server without the route answers
//! with its own HTTP error, which the caller gets.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use liveroom_proto::limits::IMAGE_MAX;
use liveroom_proto::{code, ApiError};
use serde_json::Value;

use crate::tls::TlsConfig;

/// A picture to send.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// A file on disk.
    Path(PathBuf),
    /// The picture's bytes (pasted, or made by the app).
    Bytes(Vec<u8>),
}

/// Upload progress callback: called with the fraction sent, 0.0 to 1.0.
pub type ProgressFn = Box<dyn Fn(f64) + Send + Sync + 'static>;

/// Reads the picture, refusing more than 20 MB (2253) before reading it all.
pub(crate) async fn load(source: ImageSource) -> Result<Vec<u8>, ApiError> {
    let bytes = match source {
        ImageSource::Bytes(bytes) => bytes,
        ImageSource::Path(path) => {
            let meta = tokio::fs::metadata(&path).await.map_err(|e| {
                ApiError::invalid(format!("file: cannot read {}: {e}", path.display()))
            })?;
            check_size(meta.len())?;
            tokio::fs::read(&path).await.map_err(|e| {
                ApiError::invalid(format!("file: cannot read {}: {e}", path.display()))
            })?
        }
    };
    check_size(bytes.len() as u64)?;
    Ok(bytes)
}

fn check_size(len: u64) -> Result<(), ApiError> {
    if len > IMAGE_MAX {
        return Err(ApiError::new(
            code::IMAGE_TOO_LARGE,
            format!("picture is {len} bytes, at most {IMAGE_MAX} allowed"),
        ));
    }
    if len == 0 {
        return Err(ApiError::new(code::IMAGE_TYPE, "picture is empty"));
    }
    Ok(())
}

/// The TIM `imageFormat` of a picture, by its content (JPG=1, GIF=2, PNG=3, BMP=4), or 2252.
/// The server decodes it for real; this only spares a useless upload.
pub(crate) fn sniff_format(bytes: &[u8]) -> Result<u8, ApiError> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(1)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Ok(2)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(3)
    } else if bytes.starts_with(b"BM") && bytes.len() > 26 {
        Ok(4)
    } else {
        Err(ApiError::new(
            code::IMAGE_TYPE,
            "not a JPG, PNG, GIF or BMP picture",
        ))
    }
}

/// Where and as whom to upload.
pub(crate) struct UploadTarget<'a> {
    /// `http://HOST:PORT` of the room server.
    pub(crate) http: &'a str,
    /// Roots trusted over `https://`.
    pub(crate) tls: &'a TlsConfig,
    /// The upload route the server announced in `hello`.
    pub(crate) path: &'a str,
    /// The session's upload token (from `login`).
    pub(crate) token: &'a str,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(300);
/// Progress granularity: one report per chunk handed to the socket.
const CHUNK: usize = 64 * 1024;

/// POSTs the picture's bytes with the session's bearer token and returns the stored `uuid`.
/// Progress goes from 0.0 up to 1.0 as chunks are handed to the connection. Dropping the
/// future aborts the request, which stops the upload.
pub(crate) async fn upload(
    target: UploadTarget<'_>,
    bytes: Vec<u8>,
    progress: Option<ProgressFn>,
) -> Result<String, ApiError> {
    let url = format!(
        "{}/{}",
        target.http.trim_end_matches('/'),
        target.path.trim_start_matches('/')
    );
    let total = bytes.len();
    let progress: Option<Arc<dyn Fn(f64) + Send + Sync>> = progress.map(Arc::from);
    if let Some(p) = &progress {
        p(0.0);
    }
    let bytes = Bytes::from(bytes);
    let mut sent = 0usize;
    let chunks = (0..total.div_ceil(CHUNK)).map(move |i| {
        let chunk = bytes.slice(i * CHUNK..((i + 1) * CHUNK).min(total));
        sent += chunk.len();
        if let Some(p) = &progress {
            p(sent as f64 / total.max(1) as f64);
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let client = target
        .tls
        .http(reqwest::Client::builder())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .build()
        .map_err(|e| network(format!("upload: {e}")))?;
    let response = client
        .post(&url)
        .bearer_auth(target.token)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::CONTENT_LENGTH, total)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .map_err(|e| transport(&url, e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| transport(&url, e))?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if status.is_success() {
        return json
            .as_ref()
            .and_then(|v| v["data"]["uuid"].as_str().or(v["uuid"].as_str()))
            .map(str::to_owned)
            .ok_or_else(|| network("upload: the server's answer has no uuid"));
    }
    if let Some(err) = json.and_then(|v| serde_json::from_value::<ApiError>(v).ok()) {
        return Err(err);
    }
    Err(network(format!("upload failed: HTTP {status}")))
}

/// Makes the server-relative picture URLs (`/images/...`) of image messages absolute against
/// the address this engine reaches the server at.
pub(crate) fn resolve_urls(messages: &mut [liveroom_proto::Message], http: &str) {
    for m in messages {
        if let liveroom_proto::Body::Image(p) = &mut m.body {
            for info in &mut p.image_info_array {
                if info.url.starts_with('/') {
                    info.url = format!("{}{}", http.trim_end_matches('/'), info.url);
                }
            }
        }
    }
}

fn network(message: impl Into<String>) -> ApiError {
    ApiError::new(code::NETWORK, message)
}

fn transport(url: &str, e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::new(code::TIMEOUT, format!("upload to {url} timed out"))
    } else {
        network(format!("upload to {url} failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff_format(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(1));
        assert_eq!(sniff_format(b"GIF89a...."), Ok(2));
        assert_eq!(sniff_format(b"\x89PNG\r\n\x1a\n...."), Ok(3));
        assert_eq!(
            sniff_format(&[
                b'B', b'M', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0
            ]),
            Ok(4)
        );
        assert_eq!(sniff_format(b"<svg/>").unwrap_err().code, code::IMAGE_TYPE);
    }

    #[tokio::test]
    async fn refuses_empty_and_missing() {
        assert_eq!(
            load(ImageSource::Bytes(vec![])).await.unwrap_err().code,
            code::IMAGE_TYPE
        );
        let missing = ImageSource::Path("/nonexistent/x.png".into());
        assert_eq!(
            load(missing).await.unwrap_err().code,
            code::INVALID_PARAMETER
        );
    }
}
