//! The local session registry: every login is on this process.

use std::collections::HashMap;
use std::future::ready;
use std::sync::Mutex;

use liveroom_proto::{ApiError, KickReason};
use tokio::sync::mpsc;

use crate::session::{SessionFuture, SessionRegistry, Signal};

struct Entry {
    conn: u64,
    signal: mpsc::Sender<Signal>,
    upload_token: String,
}

/// The login table.
#[derive(Default)]
pub(crate) struct LocalSessions {
    by_user: Mutex<HashMap<(u64, String), Entry>>,
    by_token: Mutex<HashMap<String, (u64, String)>>,
}

impl LocalSessions {
    /// Registers connection `conn` as `user`; kicks a previous session on another connection.
    pub(crate) fn login_now(
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
    pub(crate) fn logout_now(&self, app: u64, user: &str, conn: u64) {
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
    pub(crate) fn signal_now(&self, app: u64, user: &str, signal: Signal) {
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

    /// Sends `signal` to the connection of `user` if its signal queue is at most half full
    /// (see [`SessionRegistry::push_here`]).
    pub(crate) fn push_now(&self, app: u64, user: &str, signal: Signal) {
        let sender = match self.by_user.lock() {
            Ok(map) => map.get(&(app, user.to_owned())).map(|e| e.signal.clone()),
            Err(_) => None,
        };
        if let Some(sender) = sender.filter(|s| s.capacity() * 2 > s.max_capacity()) {
            let _ = sender.try_send(signal);
        }
    }

    /// Sends `signal` to `user`'s session if it is still connection `conn`'s (a newer
    /// login elsewhere kicks exactly the session it replaced).
    pub(crate) fn signal_conn_now(&self, app: u64, user: &str, conn: u64, signal: Signal) {
        let sender = match self.by_user.lock() {
            Ok(map) => map
                .get(&(app, user.to_owned()))
                .filter(|e| e.conn == conn)
                .map(|e| e.signal.clone()),
            Err(_) => None,
        };
        if let Some(sender) = sender {
            let _ = sender.try_send(signal);
        }
    }

    /// The (SDKAppID, userID) an upload token belongs to, while its session lives.
    pub(crate) fn upload_identity_now(&self, token: &str) -> Option<(u64, String)> {
        self.by_token.lock().ok()?.get(token).cloned()
    }
}

impl SessionRegistry for LocalSessions {
    fn login<'a>(
        &'a self,
        app: u64,
        user: &'a str,
        conn: u64,
        signal: mpsc::Sender<Signal>,
        upload_token: String,
    ) -> SessionFuture<'a, Result<(), ApiError>> {
        self.login_now(app, user, conn, signal, upload_token);
        Box::pin(ready(Ok(())))
    }

    fn logout<'a>(&'a self, app: u64, user: &'a str, conn: u64) -> SessionFuture<'a, ()> {
        self.logout_now(app, user, conn);
        Box::pin(ready(()))
    }

    fn signal<'a>(&'a self, app: u64, user: &'a str, signal: Signal) -> SessionFuture<'a, ()> {
        self.signal_now(app, user, signal);
        Box::pin(ready(()))
    }

    fn push_here(&self, app: u64, user: &str, signal: Signal) {
        self.push_now(app, user, signal);
    }

    fn upload_identity<'a>(&'a self, token: &'a str) -> SessionFuture<'a, Option<(u64, String)>> {
        Box::pin(ready(self.upload_identity_now(token)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_login_kicks_the_first_and_takes_its_place() {
        let s = LocalSessions::default();
        let (tx1, mut rx1) = mpsc::channel(4);
        let (tx2, mut rx2) = mpsc::channel(4);
        s.login(1, "u", 1, tx1, "t1".into()).await.unwrap();
        s.login(1, "u", 2, tx2, "t2".into()).await.unwrap();
        assert_eq!(
            rx1.try_recv().unwrap(),
            Signal::Kick(KickReason::MultipleAccount)
        );
        assert!(
            s.upload_identity("t1").await.is_none(),
            "the old token is gone"
        );
        assert_eq!(s.upload_identity("t2").await, Some((1, "u".to_owned())));
        // The kicked connection logging out does not end the new session.
        s.logout(1, "u", 1).await;
        s.signal(1, "u", Signal::Kick(KickReason::UserSigExpired))
            .await;
        assert_eq!(
            rx2.try_recv().unwrap(),
            Signal::Kick(KickReason::UserSigExpired)
        );
        s.logout(1, "u", 2).await;
        assert!(s.upload_identity("t2").await.is_none());
    }

    #[tokio::test]
    async fn logins_are_per_app_and_a_relogin_on_the_same_connection_kicks_nothing() {
        let s = LocalSessions::default();
        let (tx1, mut rx1) = mpsc::channel(4);
        let (tx2, mut rx2) = mpsc::channel(4);
        s.login(1, "u", 1, tx1.clone(), "a".into()).await.unwrap();
        s.login(2, "u", 2, tx2, "b".into()).await.unwrap();
        s.login(1, "u", 1, tx1, "c".into()).await.unwrap();
        assert!(rx1.try_recv().is_err() && rx2.try_recv().is_err());
        assert_eq!(s.upload_identity("b").await, Some((2, "u".to_owned())));
        assert_eq!(s.upload_identity("c").await, Some((1, "u".to_owned())));
    }

    #[tokio::test]
    async fn pushes_leave_half_the_signal_queue_to_kicks_and_removals() {
        let s = LocalSessions::default();
        let (tx, mut rx) = mpsc::channel(4);
        s.login(1, "u", 1, tx, "t".into()).await.unwrap();
        let push = || Signal::Push(vec![("r".into(), "{}".into())]);
        for _ in 0..4 {
            s.push_here(1, "u", push());
        }
        s.signal(1, "u", Signal::Kick(KickReason::UserSigExpired))
            .await;
        assert_eq!(rx.try_recv().unwrap(), push());
        assert_eq!(rx.try_recv().unwrap(), push());
        assert_eq!(
            rx.try_recv().unwrap(),
            Signal::Kick(KickReason::UserSigExpired),
            "two pushes at most, then the kick still fits"
        );
        s.push_here(1, "nobody", push());
        assert!(rx.try_recv().is_err());
    }
}
