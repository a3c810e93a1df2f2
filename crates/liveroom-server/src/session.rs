//! Who is logged in where: one session per (SDKAppID, userID); a new login kicks the old one.
//! Also maps upload tokens to their session, the seam for the HTTP upload route.

use std::collections::HashMap;
use std::sync::Mutex;

use liveroom_proto::KickReason;
use tokio::sync::mpsc;

/// A signal to a connection from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signal {
    /// End the session with this reason.
    Kick(KickReason),
    /// A moderator removed the user from `room`: send `frame` (the `room_event`), then leave.
    Leave {
        /// The room.
        room: String,
        /// The encoded `room_event` frame telling the user why.
        frame: String,
    },
}

struct Entry {
    conn: u64,
    signal: mpsc::Sender<Signal>,
    upload_token: String,
}

/// The login table.
#[derive(Default)]
pub(crate) struct Sessions {
    by_user: Mutex<HashMap<(u64, String), Entry>>,
    by_token: Mutex<HashMap<String, (u64, String)>>,
}

impl Sessions {
    /// Registers connection `conn` as `user`; kicks a previous session on another connection.
    pub(crate) fn login(
        &self,
        app: u64,
        user: &str,
        conn: u64,
        signal: mpsc::Sender<Signal>,
        upload_token: String,
    ) {
        let entry = Entry {
            conn,
            signal,
            upload_token: upload_token.clone(),
        };
        let old = match self.by_user.lock() {
            Ok(mut map) => map.insert((app, user.to_owned()), entry),
            Err(_) => None,
        };
        if let Ok(mut tokens) = self.by_token.lock() {
            if let Some(old) = &old {
                tokens.remove(&old.upload_token);
            }
            tokens.insert(upload_token, (app, user.to_owned()));
        }
        if let Some(old) = old {
            if old.conn != conn {
                // Full or closed: that connection is going away anyway.
                let _ = old
                    .signal
                    .try_send(Signal::Kick(KickReason::MultipleAccount));
            }
        }
    }

    /// Removes the session of `user` if it is still connection `conn`'s.
    pub(crate) fn logout(&self, app: u64, user: &str, conn: u64) {
        let removed = match self.by_user.lock() {
            Ok(mut map) => {
                let key = (app, user.to_owned());
                if map.get(&key).is_some_and(|e| e.conn == conn) {
                    map.remove(&key)
                } else {
                    None
                }
            }
            Err(_) => None,
        };
        if let (Some(e), Ok(mut tokens)) = (removed, self.by_token.lock()) {
            tokens.remove(&e.upload_token);
        }
    }

    /// Sends `signal` to the connection of `user`, if logged in. Best effort: a connection
    /// whose signal queue is full is going away anyway.
    pub(crate) fn signal(&self, app: u64, user: &str, signal: Signal) {
        let sender = match self.by_user.lock() {
            Ok(map) => map.get(&(app, user.to_owned())).map(|e| e.signal.clone()),
            Err(_) => None,
        };
        if let Some(sender) = sender {
            if sender.try_send(signal).is_err() {
                tracing::warn!(app, user, "could not signal the connection");
            }
        }
    }

    /// The (SDKAppID, userID) an upload token belongs to, while its session lives.
    pub(crate) fn upload_identity(&self, token: &str) -> Option<(u64, String)> {
        self.by_token.lock().ok()?.get(token).cloned()
    }
}
