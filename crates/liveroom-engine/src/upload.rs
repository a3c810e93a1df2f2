//! Pictures: where they come from, the checks made before anything is sent, and the upload
//! that turns them into a `uuid` the `send_image` request refers to.
//!
//! The upload is `POST {http root}{upload_path}` with the raw picture as the body and the
//! session's upload token as `Authorization: Bearer`; the answer names the stored picture by
//! `uuid`, which the `send_image` request then refers to. A server without the route answers
//! with its own HTTP error, which the caller gets.

use std::path::PathBuf;
use std::time::Duration;

use liveroom_proto::limits::IMAGE_MAX;
use liveroom_proto::{code, ApiError};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

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
    /// The server's HTTP root (`http://HOST:PORT`).
    pub(crate) http: &'a str,
    /// The upload path from `hello` (`/upload`).
    pub(crate) path: &'a str,
    /// The session's bearer token.
    pub(crate) token: &'a str,
}

/// Opening the upload connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Writing one chunk, or waiting for the answer once the body is sent.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Progress is reported after each chunk this big.
const CHUNK: usize = 64 * 1024;
/// Largest answer read.
const MAX_RESPONSE: usize = 1024 * 1024;

/// `POST`s the picture to the server's upload route (raw body, `Authorization: Bearer`),
/// reporting progress after every 64 KB, and returns the `uuid` the server gave it.
///
/// A small HTTP/1.1 client of its own: one request per connection (`Connection: close`),
/// plain `http://` (the embedded and self-hosted servers), no extra dependency.
pub(crate) async fn upload(
    target: UploadTarget<'_>,
    bytes: &[u8],
    progress: Option<&ProgressFn>,
) -> Result<String, ApiError> {
    let (host, path) = split_url(target.http, target.path)?;
    let report = |fraction: f64| {
        if let Some(progress) = progress {
            progress(fraction);
        }
    };
    let mut stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(host.as_str())).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(network(format!("upload: cannot connect to {host}: {e}"))),
        Err(_) => return Err(network(format!("upload: {host} did not answer"))),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n",
        token = target.token,
        len = bytes.len()
    );
    report(0.0);
    let mut sent = 0usize;
    let mut write_error = None;
    if let Err(e) = write(&mut stream, head.as_bytes()).await {
        write_error = Some(e);
    } else {
        for chunk in bytes.chunks(CHUNK) {
            if let Err(e) = write(&mut stream, chunk).await {
                write_error = Some(e);
                break;
            }
            sent += chunk.len();
            report(sent as f64 / bytes.len().max(1) as f64);
        }
    }
    // The server may refuse early (too large, bad token) and close: its answer still counts.
    let response = read_response(&mut stream).await;
    let (status, body) = match (response, write_error) {
        (Ok(r), _) => r,
        (Err(_), Some(e)) | (Err(e), None) => return Err(e),
    };
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if (200..300).contains(&status) {
        return json
            .as_ref()
            .and_then(find_uuid)
            .ok_or_else(|| network("upload: the server's answer has no uuid"));
    }
    if let Some(err) = json.and_then(|v| serde_json::from_value::<ApiError>(v).ok()) {
        return Err(err);
    }
    Err(network(format!(
        "upload failed: HTTP {status} {}",
        String::from_utf8_lossy(&body)
            .chars()
            .take(200)
            .collect::<String>()
    )))
}

fn network(message: impl Into<String>) -> ApiError {
    ApiError::new(code::NETWORK, message)
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), ApiError> {
    match timeout(IO_TIMEOUT, stream.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(network(format!("upload: {e}"))),
        Err(_) => Err(ApiError::new(
            code::TIMEOUT,
            "upload: the server stopped reading",
        )),
    }
}

/// `http://HOST[:PORT][/base]` + `/upload` → (`HOST:PORT`, `/base/upload`).
fn split_url(http: &str, path: &str) -> Result<(String, String), ApiError> {
    let Some(rest) = http.strip_prefix("http://") else {
        return Err(network(format!(
            "upload: only http:// servers are supported, not {http}"
        )));
    };
    let (host, base) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = if host.contains(':') && !host.ends_with(']') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Ok((host, format!("{}{path}", base.trim_end_matches('/'))))
}

/// Reads the whole answer (the server closes after it): status and body.
async fn read_response(stream: &mut TcpStream) -> Result<(u16, Vec<u8>), ApiError> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match timeout(IO_TIMEOUT, stream.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) if raw.is_empty() => return Err(network(format!("upload: {e}"))),
            Ok(Err(_)) => 0,
            Err(_) => return Err(ApiError::new(code::TIMEOUT, "upload: no answer")),
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE {
            return Err(network("upload: the answer is too large"));
        }
    }
    parse_response(&raw).ok_or_else(|| network("upload: unreadable HTTP answer"))
}

/// Parses an HTTP/1.1 answer: status code and (de-chunked) body.
fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_line = std::str::from_utf8(&rest[..end]).ok()?;
        let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// The `uuid` of an upload answer: at the top, or under `data` / `payload`.
fn find_uuid(v: &Value) -> Option<String> {
    [&v["uuid"], &v["data"]["uuid"], &v["payload"]["uuid"]]
        .into_iter()
        .find_map(|u| u.as_str().map(str::to_owned))
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

    /// A one-shot HTTP server: reads the request (head + Content-Length body), answers
    /// `answer`, and hands back what it read.
    async fn http_once(answer: &'static str) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(split) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if req.len() >= split + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            s.write_all(answer.as_bytes()).await.unwrap();
            req
        });
        (http, task)
    }

    #[tokio::test]
    async fn uploads_with_progress_and_reads_the_uuid() {
        let (http, server) = http_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n\
             d\r\n{\"uuid\":\"abc\"\r\n1\r\n}\r\n0\r\n\r\n",
        )
        .await;
        let bytes = vec![7u8; 200_000];
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let progress: ProgressFn = Box::new(move |f| s2.lock().unwrap().push(f));
        let target = UploadTarget {
            http: &http,
            path: "/upload",
            token: "tok",
        };
        let uuid = upload(target, &bytes, Some(&progress)).await.unwrap();
        assert_eq!(uuid, "abc");
        let req = server.await.unwrap();
        let text = String::from_utf8_lossy(&req);
        assert!(text.starts_with("POST /upload HTTP/1.1\r\n"), "{text:.100}");
        assert!(text.contains("Authorization: Bearer tok\r\n"));
        assert!(req.ends_with(&bytes));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.first(), Some(&0.0));
        assert_eq!(seen.last(), Some(&1.0));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    }

    #[tokio::test]
    async fn server_errors_keep_their_code() {
        let (http, _server) = http_once(
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 46\r\n\r\n{\"code\":2252,\"message\":\"not a picture at all\"}",
        )
        .await;
        let target = UploadTarget {
            http: &http,
            path: "upload",
            token: "t",
        };
        let e = upload(target, b"xx", None).await.unwrap_err();
        assert_eq!(e.code, code::IMAGE_TYPE);
        assert_eq!(e.message, "not a picture at all");

        let (http, _server) =
            http_once("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await;
        let target = UploadTarget {
            http: &http,
            path: "/upload",
            token: "t",
        };
        let e = upload(target, b"xx", None).await.unwrap_err();
        assert_eq!(e.code, code::NETWORK);
        assert!(e.message.contains("404"), "{}", e.message);
    }

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:9000", "/upload").unwrap(),
            ("127.0.0.1:9000".to_owned(), "/upload".to_owned())
        );
        assert_eq!(
            split_url("http://example.org/live", "upload").unwrap(),
            ("example.org:80".to_owned(), "/live/upload".to_owned())
        );
        assert!(split_url("https://example.org", "/upload").is_err());
    }
}
