//! The local presence: the room's members are this process's connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::presence::{Joined, Left, Presence, PresenceFuture};

/// Connection id → logged-in user (None for guests).
type Members = HashMap<u64, Option<String>>;

/// A room's members in one process.
#[derive(Default)]
pub(crate) struct LocalPresence {
    /// Taken only under the room's lock: never contended.
    members: Mutex<Members>,
    /// `members.len()`, readable without a lock (the online ticker).
    online: AtomicUsize,
}

impl LocalPresence {
    fn members(&self) -> MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The logged-in users in the room and their connections each.
    pub(crate) fn users(&self) -> HashMap<String, usize> {
        let mut users = HashMap::new();
        for user in self.members().values().flatten() {
            *users.entry(user.clone()).or_insert(0) += 1;
        }
        users
    }

    /// The user connection `conn` is in the room as (None: a guest, or not in).
    pub(crate) fn user_of(&self, conn: u64) -> Option<String> {
        self.members().get(&conn).cloned().flatten()
    }
}

/// Whether `user` is in `members` on a connection other than `conn` (a re-login racing the
/// kicked session): then joining or leaving changes nothing others should see.
fn has_other(members: &Members, conn: u64, user: &str) -> bool {
    members
        .iter()
        .any(|(c, u)| *c != conn && u.as_deref() == Some(user))
}

impl Presence for LocalPresence {
    fn online(&self) -> usize {
        self.online.load(Ordering::Relaxed)
    }

    fn here(&self) -> usize {
        self.online()
    }

    fn contains(&self, conn: u64) -> bool {
        self.members().contains_key(&conn)
    }

    fn join<'a>(&'a self, conn: u64, user: Option<&'a str>) -> PresenceFuture<'a, Joined> {
        let mut members = self.members();
        let joined = if members.contains_key(&conn) {
            Joined {
                online: members.len(),
                first: false,
            }
        } else {
            let first = user.is_none_or(|u| !has_other(&members, conn, u));
            members.insert(conn, user.map(str::to_owned));
            self.online.store(members.len(), Ordering::Relaxed);
            Joined {
                online: members.len(),
                first,
            }
        };
        Box::pin(std::future::ready(Ok(joined)))
    }

    fn leave(&self, conn: u64) -> PresenceFuture<'_, Option<Left>> {
        let mut members = self.members();
        let before = members.len();
        let left = members.remove(&conn).map(|user| {
            let online = members.len();
            self.online.store(online, Ordering::Relaxed);
            let last = user
                .as_deref()
                .is_none_or(|u| !has_other(&members, conn, u));
            Left {
                before,
                online,
                user,
                last,
                node_empty: online == 0,
            }
        });
        Box::pin(std::future::ready(Ok(left)))
    }

    fn set_user<'a>(&'a self, conn: u64, user: Option<&'a str>) -> PresenceFuture<'a, ()> {
        if let Some(m) = self.members().get_mut(&conn) {
            *m = user.map(str::to_owned);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn has_user_here(&self, user: &str) -> bool {
        self.members().values().any(|u| u.as_deref() == Some(user))
    }

    fn has_user<'a>(&'a self, user: &'a str) -> PresenceFuture<'a, bool> {
        Box::pin(std::future::ready(Ok(self.has_user_here(user))))
    }

    fn refresh(&self) -> PresenceFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn members_are_counted_once_per_connection() {
        let p = LocalPresence::default();
        assert_eq!(
            p.join(1, Some("u")).await.unwrap(),
            Joined {
                online: 1,
                first: true
            }
        );
        assert_eq!(
            p.join(2, None).await.unwrap(),
            Joined {
                online: 2,
                first: true
            }
        );
        assert_eq!(
            p.join(1, Some("u")).await.unwrap().online,
            2,
            "joining twice counts once"
        );
        assert_eq!(p.online(), 2);
        assert!(p.contains(2) && !p.contains(3));
        assert!(p.leave(3).await.unwrap().is_none(), "not in: nothing left");
        let left = p.leave(2).await.unwrap().unwrap();
        assert_eq!((left.before, left.online, left.user), (2, 1, None));
        assert!(!left.node_empty);
        assert!(
            p.leave(1).await.unwrap().unwrap().node_empty,
            "the last one out"
        );
        assert_eq!(p.online(), 0);
    }

    #[tokio::test]
    async fn a_user_on_two_connections_joins_and_leaves_once() {
        let p = LocalPresence::default();
        assert!(p.join(1, Some("u")).await.unwrap().first);
        assert!(
            !p.join(2, Some("u")).await.unwrap().first,
            "the re-login is not a second join"
        );
        assert!(p.has_user("u").await.unwrap());
        assert!(!p.leave(1).await.unwrap().unwrap().last, "still in on 2");
        let left = p.leave(2).await.unwrap().unwrap();
        assert!(left.last);
        assert_eq!(left.user.as_deref(), Some("u"));
        assert!(!p.has_user("u").await.unwrap());
    }

    #[tokio::test]
    async fn logging_in_inside_a_room_names_the_member() {
        let p = LocalPresence::default();
        p.join(1, None).await.unwrap();
        assert!(!p.has_user("u").await.unwrap());
        p.set_user(1, Some("u")).await.unwrap();
        assert!(p.has_user("u").await.unwrap());
        p.set_user(1, None).await.unwrap();
        assert!(!p.has_user("u").await.unwrap());
    }
}
