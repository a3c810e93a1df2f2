//! The store seam: what the server keeps (profiles, rooms, each room's recent messages, its
//! moderation state and audit log), behind [`RoomStore`]. A send is acknowledged, and a
//! moderation action takes effect, only after the store has it.
//!
//! The local store is SQLite ([`crate::sqlite`]); a cluster store implements the same trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use liveroom_proto::{AuditEntry, Profile, RoomInfo, RoomSettings};

use crate::encoded::Encoded;
use crate::error::StoreError;
use crate::stats::Counts;

/// Deletions a room remembers for re-entering clients.
pub(crate) const DELETIONS_KEPT: usize = 256;

/// A room as loaded from the store: its profile, last sequence and recent messages.
#[derive(Debug, Clone)]
pub(crate) struct StoredRoom {
    /// The room's profile.
    pub(crate) info: RoomInfo,
    /// Highest sequence ever assigned in the room.
    pub(crate) last_seq: u64,
    /// The kept history, oldest first: (sequence, encoded message).
    pub(crate) history: Vec<(u64, Encoded)>,
    /// Admins, mutes, bans, blocked words and settings.
    pub(crate) moderation: StoredModeration,
    /// Recent deletions (sequence, message ID), oldest first.
    pub(crate) deleted: Vec<(u64, String)>,
    /// The room's statistics as last saved (empty in cluster mode: the broker's are in
    /// Redis).
    pub(crate) stats: Counts,
}

/// A room's state but its messages (see [`RoomStore::load_rules`]).
#[derive(Debug, Clone)]
pub(crate) struct StoredRules {
    /// The room's profile.
    pub(crate) info: RoomInfo,
    /// Admins, mutes, bans, blocked words and settings.
    pub(crate) moderation: StoredModeration,
    /// Recent deletions (sequence, message ID), oldest first.
    pub(crate) deleted: Vec<(u64, String)>,
}

/// A room's stored moderation state.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredModeration {
    /// Appointed admins.
    pub(crate) admins: Vec<String>,
    /// Muted members and the end of their mute (unix seconds).
    pub(crate) mutes: Vec<(String, i64)>,
    /// Banned members and the end of their ban (`None`: for good).
    pub(crate) bans: Vec<(String, Option<i64>)>,
    /// The room's blocked words, as written.
    pub(crate) words: Vec<String>,
    /// Mute-all and slow mode.
    pub(crate) settings: RoomSettings,
}

/// One page of an app's rooms, oldest first (see [`RoomStore::list_rooms`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RoomPage {
    /// How many rooms the app has in all.
    pub(crate) total: u64,
    /// This page's room IDs, in the order the rooms were created.
    pub(crate) rooms: Vec<String>,
    /// Where the next page starts (the `after` to pass back); 0 when this page is the last.
    pub(crate) next: u64,
}

/// An audit row to write.
#[derive(Debug, Clone)]
pub(crate) struct AuditRecord {
    /// Who acted.
    pub(crate) actor: String,
    /// Whom or what.
    pub(crate) target: String,
    /// The op.
    pub(crate) action: String,
    /// The reason.
    pub(crate) reason: String,
    /// JSON details.
    pub(crate) details: String,
}

/// A user's account as a login reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// The profile (empty nick and avatar until set).
    pub(crate) profile: Profile,
    /// UserSigs issued at or before this time (unix seconds) are refused: the REST API's
    /// kick. 0: never kicked.
    pub(crate) revoked_at: i64,
}

/// What a store call returns.
pub(crate) type StoreFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The store, shared by the registry, the rooms and the connections.
pub(crate) type Store = Arc<dyn RoomStore>;

/// Everything the server keeps. Each write is committed when its future resolves (and only
/// then); each moderation write stores its change and its audit row together or not at all.
pub(crate) trait RoomStore: Send + Sync {
    /// A user's profile (empty nick and avatar when never set).
    fn profile(&self, app: u64, user_id: String) -> StoreFuture<'_, Profile>;

    /// Saves a profile (which opens the account, if it was not yet).
    fn save_profile(&self, app: u64, profile: Profile) -> StoreFuture<'_, ()>;

    /// The user's account, opened (an empty profile stored) if it does not exist yet: a
    /// login opens it, as Tencent IM's first login imports the account. Only the first
    /// call writes; one racing a profile write keeps that profile.
    fn open_account(&self, app: u64, user_id: String) -> StoreFuture<'_, Account>;

    /// The profiles of `user_ids`, in order; `None` for a user without an account (never
    /// imported, never logged in, never given a profile).
    fn accounts(&self, app: u64, user_ids: Vec<String>) -> StoreFuture<'_, Vec<Option<Profile>>>;

    /// Refuses the user's UserSigs issued at or before `at` (unix seconds) from now on (and
    /// opens the account if needed); an earlier revocation than the one stored changes
    /// nothing.
    fn revoke_usersigs(&self, app: u64, user_id: String, at: i64) -> StoreFuture<'_, ()>;

    /// Inserts a new room; `Ok(false)` when the ID is already taken.
    fn create_room(&self, app: u64, info: RoomInfo) -> StoreFuture<'_, bool>;

    /// Loads a room with its kept history; `None` when it does not exist.
    fn load_room(&self, app: u64, room_id: String) -> StoreFuture<'_, Option<StoredRoom>>;

    /// A room's profile, moderation state and recent deletions, without its history: what
    /// a node reloads when another node changed the room (cluster mode). `None` when the
    /// room does not exist (any more).
    fn load_rules(&self, app: u64, room_id: String) -> StoreFuture<'_, Option<StoredRules>> {
        Box::pin(async move {
            Ok(self.load_room(app, room_id).await?.map(|r| StoredRules {
                info: r.info,
                moderation: r.moderation,
                deleted: r.deleted,
            }))
        })
    }

    /// How many rooms `owner` owns in `app`.
    fn rooms_owned(&self, app: u64, owner: String) -> StoreFuture<'_, u64>;

    /// At most `limit` of `app`'s rooms created after position `after` (0: from the first),
    /// oldest first: the REST API's `get_appid_group_list`. A position is opaque to callers
    /// and stays valid while rooms are created and dismissed.
    fn list_rooms(&self, app: u64, after: u64, limit: u32) -> StoreFuture<'_, RoomPage>;

    /// Commits a message: its row (when history is kept), the room's last sequence, and the
    /// trim of rows beyond the history size, together.
    fn append_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        time: i64,
        json: Encoded,
    ) -> StoreFuture<'_, ()>;

    /// Marks a room's stream as stopped, with the host's postscript.
    fn set_push_stopped(
        &self,
        app: u64,
        room_id: String,
        postscript: String,
    ) -> StoreFuture<'_, ()>;

    /// Mutes `user` until `until` (unix seconds), with its audit row.
    fn mute_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        until: i64,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Lifts `user`'s mute, with its audit row.
    fn unmute_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Records a kick: nothing is stored for it but its audit row.
    fn kick_member(&self, app: u64, room_id: String, audit: AuditRecord) -> StoreFuture<'_, ()>;

    /// Bans `user` until `until` (`None`: for good), with its audit row.
    fn ban_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        until: Option<i64>,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Lifts `user`'s ban, with its audit row.
    fn unban_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Stores the room's mute-all and slow mode, with its audit row.
    fn set_settings(
        &self,
        app: u64,
        room_id: String,
        settings: RoomSettings,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Appoints `user` admin (`admin`) or removes them as one, with its audit row.
    fn set_admin(
        &self,
        app: u64,
        room_id: String,
        user: String,
        admin: bool,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Adds `word` to the room's blocked words (`add`) or removes it, with its audit row.
    fn set_blocked_word(
        &self,
        app: u64,
        room_id: String,
        word: String,
        add: bool,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Deletes message `seq` from the kept history and remembers its deletion for
    /// re-entering clients (the newest [`DELETIONS_KEPT`]), with its audit row.
    fn delete_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        message_id: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Stores the room's editable profile fields (name, notification, introduction,
    /// avatar), with its audit row.
    fn edit_room(
        &self,
        app: u64,
        room_id: String,
        info: RoomInfo,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Makes `owner` the room's owner (its profile and both users' count of rooms owned),
    /// with its audit row.
    fn change_owner(
        &self,
        app: u64,
        room_id: String,
        owner: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()>;

    /// Deletes the room with its messages and moderation state (the audit log stays, and
    /// gets this action's row).
    fn dismiss_room(&self, app: u64, room_id: String, audit: AuditRecord) -> StoreFuture<'_, ()>;

    /// Keeps the statistics of the room created at `created` (unix seconds; a room
    /// dismissed meanwhile, or another room of the same ID, keeps nothing). Cluster mode
    /// keeps nothing here: the Redis broker's counts are durable already.
    fn save_stats(
        &self,
        app: u64,
        room_id: String,
        created: i64,
        stats: Counts,
    ) -> StoreFuture<'_, ()>;

    /// A room's audit log, newest first, at most `limit` rows.
    fn audit_log(&self, app: u64, room_id: String, limit: u32) -> StoreFuture<'_, Vec<AuditEntry>>;

    /// Makes everything committed durable in the store's own files (graceful shutdown).
    fn flush(&self) -> StoreFuture<'_, ()>;
}
