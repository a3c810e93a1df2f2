//! The engine bridge: holds the one `Im` engine the UI talks to and forwards its events to the
//! webview.
//!
//! Events are not emitted one by one: under a flood (1,000 messages/s) that would be one IPC
//! round per message. The forwarder collects what the engine broadcasts and flushes at most
//! once per [`FLUSH_EVERY`] (one animation frame) as a single `liveroom://events` emit whose
//! payload is an array of `{name, data, roomID}`. Consecutive message events of the same name
//! and room are merged into one, so the UI gets one handler call per room and type per frame.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use liveroom_engine::{Event, Im, TlsConfig};
use serde_json::Value;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Runtime};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::time::Instant;

use crate::chat_log::Sink;
use crate::error::{CmdError, CmdResult};
use crate::pictures::PictureCache;

/// The webview event that carries engine events, batched.
pub const EVENTS: &str = "liveroom://events";

/// At most one emit per animation frame.
pub const FLUSH_EVERY: Duration = Duration::from_millis(16);

/// Pictures staged from the web side (File/Blob bytes) are kept until sent; cap them so a page
/// that stages and never sends cannot grow memory without bound.
const MAX_STAGED: usize = 8;

/// The engine the UI is bound to (`TWebLive.createIM`), if any, and its event forwarder.
#[derive(Default)]
pub struct Bridge {
    current: Mutex<Option<Connected>>,
    staged: Mutex<HashMap<u64, Vec<u8>>>,
    next_stage: AtomicU64,
    /// Pictures of the current engine's server shown recently (the `liveroom-image` protocol).
    pictures: PictureCache,
}

struct Connected {
    im: Im,
    forwarder: JoinHandle<()>,
}

impl Bridge {
    /// Makes an engine for this app and server, replacing (and shutting down) any previous one;
    /// its room messages also go to `log` (the chat logs).
    pub async fn connect<R: Runtime>(
        &self,
        app: AppHandle<R>,
        sdk_app_id: u64,
        server: &str,
        ca_pem: Option<&str>,
        log: Option<Sink>,
    ) -> CmdResult<()> {
        let tls = match ca_pem {
            Some(pem) => TlsConfig::with_root_certificates_pem(pem.as_bytes())?,
            None => TlsConfig::default(),
        };
        let im = Im::with_tls(sdk_app_id, server, tls)?;
        self.pictures.clear();
        let forwarder = tauri::async_runtime::spawn(forward_events(app, im.events(), log));
        let old = self
            .current
            .lock()
            .expect("bridge lock")
            .replace(Connected { im, forwarder });
        if let Some(old) = old {
            old.close().await;
        }
        Ok(())
    }

    /// Drops the engine (logout screen, app exit).
    pub async fn disconnect(&self) {
        self.pictures.clear();
        let old = self.current.lock().expect("bridge lock").take();
        if let Some(old) = old {
            old.close().await;
        }
    }

    /// The current engine; 10004 when the UI has not called `createIM` yet.
    pub fn im(&self) -> CmdResult<Im> {
        self.current
            .lock()
            .expect("bridge lock")
            .as_ref()
            .map(|c| c.im.clone())
            .ok_or_else(|| CmdError::invalid("no IM instance: call TWebLive.createIM first"))
    }

    /// Recently shown pictures of the current server.
    pub fn pictures(&self) -> &PictureCache {
        &self.pictures
    }

    /// Keeps picture bytes sent from the webview until `send_image_message` takes them.
    pub fn stage(&self, bytes: Vec<u8>) -> u64 {
        let id = self.next_stage.fetch_add(1, Ordering::Relaxed) + 1;
        let mut staged = self.staged.lock().expect("staged lock");
        if staged.len() >= MAX_STAGED {
            if let Some(&oldest) = staged.keys().min() {
                staged.remove(&oldest);
            }
        }
        staged.insert(id, bytes);
        id
    }

    /// Takes staged bytes back (once).
    pub fn take_staged(&self, id: u64) -> CmdResult<Vec<u8>> {
        self.staged
            .lock()
            .expect("staged lock")
            .remove(&id)
            .ok_or_else(|| CmdError::invalid(format!("stagedId {id}: no such staged picture")))
    }
}

impl Connected {
    async fn close(self) {
        self.forwarder.abort();
        self.im.shutdown().await;
    }
}

/// Forwards engine events to the webview, at most one emit per [`FLUSH_EVERY`], and hands
/// each to the chat log (which never waits).
async fn forward_events<R: Runtime>(app: AppHandle<R>, mut rx: Receiver<Event>, log: Option<Sink>) {
    let mut last_flush = Instant::now() - FLUSH_EVERY;
    loop {
        let first = match rx.recv().await {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "UI event forwarder lagged behind the engine");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let due = last_flush + FLUSH_EVERY;
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let mut batch = Batch::default();
        if let Some(log) = &log {
            log.offer(&first);
        }
        batch.push(&first);
        loop {
            match rx.try_recv() {
                Ok(ev) => {
                    if let Some(log) = &log {
                        log.offer(&ev);
                    }
                    batch.push(&ev)
                }
                Err(TryRecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "UI event forwarder lagged behind the engine");
                }
                Err(_) => break,
            }
        }
        if let Err(e) = app.emit(EVENTS, batch.0) {
            tracing::warn!(error = %e, "could not deliver events to the webview");
        }
        last_flush = Instant::now();
    }
}

/// Serialized events of one flush, with runs of same-name, same-room message arrays merged.
#[derive(Default)]
struct Batch(Vec<Value>);

impl Batch {
    fn push(&mut self, ev: &Event) {
        let Ok(Value::Object(mut obj)) = serde_json::to_value(ev) else {
            tracing::warn!("engine event did not serialize to an object");
            return;
        };
        if let Some(Value::Object(prev)) = self.0.last_mut() {
            let same =
                prev.get("name") == obj.get("name") && prev.get("roomID") == obj.get("roomID");
            if same {
                if let (Some(Value::Array(into)), Some(Value::Array(more))) =
                    (prev.get_mut("data"), obj.get_mut("data"))
                {
                    into.append(more);
                    return;
                }
            }
        }
        self.0.push(Value::Object(obj));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_engine::{EventData, EventName};

    fn text(room: &str, seq: u64) -> Event {
        let m = serde_json::from_value(serde_json::json!({
            "ID": format!("GROUP{room}-{seq}-1"), "type": "TIMTextElem", "payload": {"text": "hi"},
            "to": room, "from": "bob", "time": 0, "sequence": seq,
        }))
        .expect("a message");
        Event::in_room(
            EventName::TextMessageReceived,
            room,
            EventData::Messages(vec![m]),
        )
    }

    #[test]
    fn runs_of_same_room_and_name_merge_into_one_event() {
        let mut b = Batch::default();
        b.push(&text("a", 1));
        b.push(&text("a", 2));
        b.push(&text("b", 1));
        b.push(&Event::new(
            EventName::NetStateChange,
            EventData::Text("connected".into()),
        ));
        b.push(&Event::new(
            EventName::NetStateChange,
            EventData::Text("connecting".into()),
        ));
        b.push(&text("a", 3));
        let names: Vec<_> =
            b.0.iter()
                .map(|e| (e["name"].clone(), e["data"].clone()))
                .collect();
        assert_eq!(b.0.len(), 5, "{names:?}");
        assert_eq!(b.0[0]["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(b.0[0]["data"][1]["sequence"], 2);
        assert_eq!(b.0[1]["roomID"], "b");
        assert_eq!(b.0[2]["data"], "connected", "strings never merge");
        assert_eq!(b.0[4]["data"][0]["sequence"], 3, "order is kept");
    }

    #[test]
    fn staged_pictures_are_taken_once_and_bounded() {
        let bridge = Bridge::default();
        let first = bridge.stage(vec![1]);
        for _ in 0..MAX_STAGED {
            bridge.stage(vec![2]);
        }
        assert!(bridge.take_staged(first).is_err(), "the oldest was dropped");
        let id = bridge.stage(vec![3, 4]);
        assert_eq!(bridge.take_staged(id).unwrap(), vec![3, 4]);
        assert_eq!(bridge.take_staged(id).unwrap_err().code, 10004);
    }
}
