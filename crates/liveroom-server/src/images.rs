//! Pictures over HTTP: `POST /upload` (authorized by the session's upload token, streamed to
//! disk with the 20 MB limit enforced as bytes arrive, under an idle-body timeout and a
//! deadline for the whole body) and `GET /images/{name}` (content-addressed files with long
//! cache headers). The checks, the decode limiter and the thumbnails are `liveroom-media`'s.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use liveroom_media::MediaError;
use liveroom_proto::{code, limits, ApiError};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::Shared;

/// `POST /upload`: the raw picture as the body, `Authorization: Bearer <upload token>`.
/// Answers `{"code":0,"data":{uuid, imageFormat, imageInfoArray}}` or `{"code","message"}`.
pub(crate) async fn upload(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match receive(&shared, request).await {
        Ok(stored) => {
            let payload = stored.payload("");
            axum::Json(serde_json::json!({"code": 0, "data": payload})).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// An upload refused: its status, its coded error, and whether its connection is closed
/// after the answer (when the rest of its body will not be read).
struct Refusal {
    status: StatusCode,
    error: ApiError,
    close: bool,
}

impl Refusal {
    fn new(status: StatusCode, error: ApiError) -> Self {
        Self {
            status,
            error,
            close: false,
        }
    }

    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.error)).into_response();
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A body that stopped arriving: 408 with 2801, and the connection closed after the answer
/// (its socket and the temporary file are freed at once).
fn timed_out(message: String) -> Refusal {
    Refusal {
        status: StatusCode::REQUEST_TIMEOUT,
        error: ApiError::new(code::TIMEOUT, message),
        close: true,
    }
}

/// Most of a refused upload's body the server still reads (and throws away), so that a client
/// still sending sees the refusal instead of a broken pipe; a body declared larger is not
/// read at all (its connection closes after the answer).
const DISCARD_MAX: u64 = 2 * limits::IMAGE_MAX;

/// How long the rest of a refused body may take to arrive.
const DISCARD_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and drops what is left of a refused upload's body, up to [`DISCARD_MAX`] bytes and
/// [`DISCARD_FOR`], in its own task: the refusal is answered at once while this runs.
fn discard_rest(mut body: axum::body::BodyDataStream) {
    tokio::spawn(async move {
        let drain = async {
            let mut read: u64 = 0;
            while let Some(Ok(chunk)) = body.next().await {
                read += chunk.len() as u64;
                if read > DISCARD_MAX {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DISCARD_FOR, drain).await;
    });
}

/// On a refusal before the body was read: discards it, unless its declared length is too
/// large to be worth reading.
fn refuse_body(request: Request, declared: Option<u64>) {
    if declared.is_none_or(|n| n <= DISCARD_MAX) {
        discard_rest(request.into_body().into_data_stream());
    }
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

async fn receive(
    shared: &Shared,
    request: Request,
) -> Result<liveroom_media::StoredImage, Refusal> {
    let declared = declared_length(&request);
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some((app, user)) = shared.sessions.upload_identity(token).await else {
        refuse_body(request, declared);
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            ApiError::new(
                code::NOT_LOGGED_IN,
                "uploads need a logged-in session's token",
            ),
        ));
    };
    let too_large = |n: u64| {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::from(MediaError::TooLarge(n)),
        )
    };
    if let Some(n) = declared.filter(|n| *n > limits::IMAGE_MAX) {
        refuse_body(request, declared);
        return Err(too_large(n));
    }
    let internal = |e: std::io::Error| {
        tracing::error!(error = %e, "upload could not be written");
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::new(code::INTERNAL, "the server could not store the picture"),
        )
    };
    // The temp file is deleted when `temp` drops: on every early return and on a dropped
    // connection (the handler's future is dropped with it).
    let temp = shared.media.temp_upload();
    let mut file = tokio::fs::File::create(temp.path())
        .await
        .map_err(internal)?;
    let mut received: u64 = 0;
    let mut body = request.into_body().into_data_stream();
    let idle = shared.config.upload_idle_timeout;
    let whole = shared.config.upload_timeout;
    let deadline = Instant::now() + whole;
    loop {
        let next = tokio::time::timeout_at(deadline.min(Instant::now() + idle), body.next());
        let chunk = match next.await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                let message = if Instant::now() >= deadline {
                    format!(
                        "upload took longer than {} s (received {received} bytes)",
                        whole.as_secs()
                    )
                } else {
                    format!(
                        "upload stalled: no bytes for {} s (received {received} bytes)",
                        idle.as_secs()
                    )
                };
                tracing::info!(app, %user, received, "upload abandoned: {message}");
                return Err(timed_out(message));
            }
        };
        let chunk = chunk.map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                ApiError::new(code::NETWORK, format!("upload interrupted: {e}")),
            )
        })?;
        received += chunk.len() as u64;
        if received > limits::IMAGE_MAX {
            discard_rest(body);
            return Err(too_large(received));
        }
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    drop(file);
    let stored = shared
        .media
        .clone()
        .ingest_upload(temp, shared.config.decode_wait)
        .await
        .map_err(|e| {
            let status = match e {
                MediaError::Io(ref io) => {
                    tracing::error!(error = %io, "picture could not be stored");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                MediaError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                MediaError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
                MediaError::NotAPicture(_)
                | MediaError::TooManyPixels { .. }
                | MediaError::DecodedTooLarge { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            };
            Refusal::new(status, ApiError::from(e))
        })?;
    tracing::info!(app, %user, uuid = %stored.uuid, bytes = received, "picture uploaded");
    Ok(stored)
}

/// `GET /images/{name}`: a stored size of a picture. Names are content-addressed, so the name
/// is a strong ETag and the file never changes.
pub(crate) async fn serve(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((path, content_type)) = shared.media.file(&name) else {
        return (StatusCode::NOT_FOUND, "no such picture").into_response();
    };
    let etag = format!("\"{name}\"");
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let mut response = if etag_matches(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(_) => return (StatusCode::NOT_FOUND, "no such picture").into_response(),
        };
        let len = file.metadata().await.map(|m| m.len()).ok();
        let mut r = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(len) = len {
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        r
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, cache);
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// Whether the request's `If-None-Match` names `etag` (a quoted strong tag): then a 304.
pub(crate) fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}
