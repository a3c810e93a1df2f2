//! HTTP routes: the WebSocket gateway, picture upload and download, and a health check.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use liveroom_proto::limits;

use crate::{connection, images, Shared};

/// Initial read buffer per connection: viewers rarely send, and a larger request grows it,
/// so idle viewers keep only this.
const WS_READ_BUFFER: usize = 256;
/// Frames fed before a flush are written together up to this (a threshold, not an allocation).
const WS_WRITE_BUFFER: usize = 4 * 1024;

/// The server's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/upload", post(images::upload))
        .route("/images/{name}", get(images::serve))
        .with_state(shared)
}

async fn ws_upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(limits::CLIENT_FRAME_MAX)
        .max_frame_size(limits::CLIENT_FRAME_MAX)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .on_upgrade(move |socket| {
            let tracker = shared.tracker.clone();
            tracker.track_future(connection::run(socket, shared))
        })
}
