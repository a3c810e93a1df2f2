//! HTTP routes: the WebSocket gateway, picture upload and download, external pictures through
//! the server, the REST API for the app's backend (`/v4/...`), the OBS overlay page
//! (`/overlay/...`), and a health check.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Extension, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use liveroom_proto::limits;

use crate::listener::Client;
use crate::{connection, external_images, fanout, images, overlay, rest, webhooks, Shared};

/// Initial read buffer per connection: viewers rarely send, and a larger request grows it,
/// so idle viewers keep only this.
const WS_READ_BUFFER: usize = 256;
/// Frames fed before a flush are written together up to this (a threshold, not an allocation).
const WS_WRITE_BUFFER: usize = 4 * 1024;

/// The server's routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/healthz/webhooks", get(webhooks::health))
        .route("/upload", post(images::upload))
        .route("/images/{name}", get(images::serve))
        .route("/external-image", get(external_images::serve))
        .route("/v4/{service}/{command}", post(rest::call))
        .route("/overlay/", get(overlay::no_room))
        .route("/overlay/{room}", get(overlay::page))
        .route("/overlay/assets/{name}", get(overlay::asset))
        .route("/overlay/assets/gifts/{name}", get(overlay::gift))
        .with_state(shared)
}

/// The most one WebSocket may have queued: the setting, but never less than the largest
/// frame the server writes (an `enter_room` reply with the whole history, each message at its
/// limit and JSON-escaped at worst six bytes per byte, or a batch of room frames), or an
/// honest client could never be served.
fn max_write_buffer(shared: &Shared) -> usize {
    let message = 6 * limits::MESSAGE_MAX + 4 * 1024;
    let reply = shared.config.history.saturating_mul(message) + 64 * 1024;
    shared
        .config
        .max_write_buffer
        .max(reply)
        .max(2 * fanout::MAX_BATCH_BYTES)
}

async fn ws_upgrade(
    State(shared): State<Arc<Shared>>,
    Extension(client): Extension<Client>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(limits::CLIENT_FRAME_MAX)
        .max_frame_size(limits::CLIENT_FRAME_MAX)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        // Bounded, pongs included: a client pinging without reading queues one pong, not
        // one per ping.
        .max_write_buffer_size(max_write_buffer(&shared))
        .on_upgrade(move |socket| {
            let tracker = shared.tracker.clone();
            tracker.track_future(connection::run(socket, shared, client.into_place()))
        })
}
