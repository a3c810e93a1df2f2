//! A room: its state and rules, entering and leaving, and the moderation actions it carries
//! out (each checked, committed, applied and announced under its lock). Its sends, history
//! and subscriptions go through its [`Broker`], its members through its [`Presence`].
//!
//! Publishing, history snapshots and subscribing all happen under the room's lock, so a
//! joiner's history (up to S) and its live stream (after S) meet with no gap and no overlap.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use axum::extract::ws::Utf8Bytes;
use liveroom_proto::{
    code, ApiError, Body, EnterStatus, GroupTipPayload, Message, Priority, Profile, Restrictions,
    Role, RoomEvent, RoomInfo, RoomSettings, RoomStats, ServerFrame, TopGifter,
};
use rand::Rng;

use crate::broker::{Accepted, Broker, BrokerFuture, Exclusive, Outgoing};
use crate::encoded::Encoded;
use crate::engine::Engine;
use crate::fanout::{Ring, Source, Subscription};
use crate::presence::Presence;
use crate::rules::{self, Moderator, RoomRules, Target};
use crate::stats::{self, Tally};
use crate::store::{AuditRecord, Store, StoredRoom, DELETIONS_KEPT};

/// Limits every room gets from the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomLimits {
    /// Messages per second per room.
    pub(crate) budget: u32,
    /// Messages kept per room.
    pub(crate) history: usize,
    /// Join/leave tips while members <= this.
    pub(crate) join_leave_threshold: usize,
    /// How the broadcast ring is made (see `Config::room_ring`, `Config::shared_batches_from`).
    pub(crate) ring: crate::fanout::RingConfig,
}

/// Mutable state of a room, behind its lock.
struct RoomState {
    info: RoomInfo,
    /// Admins, mutes, bans, blocked words, settings.
    mods: RoomRules,
    /// Dismissed: nothing more is published, the registry has forgotten it.
    dismissed: bool,
    /// Recent deletions (sequence, message ID), oldest first, for re-entering clients.
    deleted: VecDeque<(u64, String)>,
}

impl RoomState {
    /// `user`'s place in the room at `now` (expired mutes and bans are dropped).
    fn member_state(&mut self, user: &str, now: i64) -> MemberState {
        MemberState {
            owner: self.info.owner_id == user,
            admin: self.mods.is_admin(user),
            muted_until: self.mods.muted_until(user, now),
            banned: self.mods.banned(user, now),
        }
    }

    /// Checks that `by` may make its request here (see [`RoomRules::authorize`]).
    fn authorize<'a>(&self, room: &str, by: &Moderator<'a>) -> Result<(&'a str, Role), ApiError> {
        self.mods.authorize(room, &self.info.owner_id, by)
    }

    /// Authorizes `by` and checks it may act on `target` (not the owner, not its equal).
    fn authorize_on(
        &self,
        room: &str,
        by: &Moderator<'_>,
        target: &Target<'_>,
    ) -> Result<(), ApiError> {
        let (_, role) = self.authorize(room, by)?;
        self.mods.check_target(&self.info.owner_id, role, target)
    }
}

/// A live room.
pub(crate) struct Room {
    app: u64,
    id: String,
    limits: RoomLimits,
    /// Where the room's messages and moderation are committed.
    store: Store,
    /// Budget, sequence, history and publishing (into the ring its viewers read).
    broker: Box<dyn Broker>,
    state: tokio::sync::Mutex<RoomState>,
    /// Its members (taken under `state`'s lock).
    presence: Box<dyn Presence>,
    dismissed: AtomicBool,
}

/// What entering a room gives the connection.
pub(crate) struct Entered {
    /// Joined or already in.
    pub(crate) status: EnterStatus,
    /// A logged-in user's first connection in the room: the user joined (its join tip's and
    /// join callback's moment).
    pub(crate) first: bool,
    /// The room's profile.
    pub(crate) info: RoomInfo,
    /// Members, this connection included.
    pub(crate) online: usize,
    /// History after `since` (or the recent history), oldest first.
    pub(crate) history: Vec<Encoded>,
    /// The room's last sequence at the snapshot.
    pub(crate) last_seq: u64,
    /// The live stream after the snapshot (None when already in).
    pub(crate) subscription: Option<Subscription<Room>>,
    /// IDs of messages up to `since` deleted meanwhile (re-enter only).
    pub(crate) deleted: Vec<String>,
    /// Mute-all and slow mode, read under the same lock as the snapshot.
    pub(crate) settings: RoomSettings,
    /// The entering user's place in the room (`None` for a guest), read under the same lock.
    pub(crate) member: Option<MemberState>,
    /// Messages after `since` fell out of the history: `history` is not the whole gap.
    pub(crate) skipped: bool,
}

/// A logged-in user's place in a room: what entering tells the user about itself and what a
/// moderator's user card shows.
pub(crate) struct MemberState {
    /// Created the room.
    pub(crate) owner: bool,
    /// One of its admins.
    pub(crate) admin: bool,
    /// End of a mute in force.
    pub(crate) muted_until: Option<i64>,
    /// A ban in force: `Some(None)` for good, `Some(Some(t))` until t.
    pub(crate) banned: Option<Option<i64>>,
}

impl Room {
    pub(crate) fn new(
        app: u64,
        stored: StoredRoom,
        limits: RoomLimits,
        store: Store,
        engine: &Engine,
    ) -> Arc<Self> {
        let id = stored.info.group_id.clone();
        Arc::new_cyclic(|me: &Weak<Room>| {
            let me = me.clone();
            let on_change = Box::new(move || {
                if let Some(room) = me.upgrade() {
                    tokio::spawn(async move { room.reload().await });
                }
            });
            Self {
                app,
                broker: engine.broker(
                    app,
                    &id,
                    &limits,
                    stored.last_seq,
                    stored.history,
                    stored.stats,
                    on_change,
                ),
                presence: engine.presence(app, &id),
                id,
                limits,
                store,
                state: tokio::sync::Mutex::new(RoomState {
                    info: stored.info,
                    mods: RoomRules::from_stored(stored.moderation),
                    dismissed: false,
                    deleted: stored.deleted.into_iter().collect(),
                }),
                dismissed: AtomicBool::new(false),
            }
        })
    }

    /// Reads the room's state again from the store: another node changed it (cluster
    /// mode). A room gone from the store was dismissed there.
    async fn reload(&self) {
        let mut st = self.state.lock().await;
        if let Err(e) = self.reload_locked(&mut st).await {
            tracing::warn!(room = %self.id, error = %e.message, "room state not reloaded");
        }
    }

    /// Reads the room's state again under its lock; a room gone from the store is marked
    /// dismissed.
    async fn reload_locked(&self, st: &mut RoomState) -> Result<(), ApiError> {
        // The version first: rules read after it are at least that new.
        let version = self.broker.rules_version().await?;
        match self.store.load_rules(self.app, self.id.clone()).await? {
            Some(rules) => {
                for (seq, _) in &rules.deleted {
                    self.broker.forget(*seq).await?;
                }
                st.info = rules.info;
                st.mods.reload(rules.moderation);
                st.deleted = rules.deleted.into_iter().collect();
                self.broker.rules_loaded(version);
            }
            None => {
                st.dismissed = true;
                self.dismissed.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    /// The room ID.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The room's SDKAppID.
    pub(crate) fn app(&self) -> u64 {
        self.app
    }

    /// Connections in the room.
    pub(crate) fn online(&self) -> usize {
        self.presence.online()
    }

    /// The room's profile.
    pub(crate) async fn info(&self) -> RoomInfo {
        self.state.lock().await.info.clone()
    }

    /// Enters connection `conn` (as `user`, or a guest). Snapshot and subscription are taken
    /// under the lock that publishing takes.
    pub(crate) async fn enter(
        self: &Arc<Self>,
        conn: u64,
        user: Option<&str>,
        since: Option<u64>,
    ) -> Result<Entered, ApiError> {
        let mut st = self.state.lock().await;
        if st.dismissed {
            return Err(self.gone());
        }
        let already = self.presence.contains(conn);
        let entered = self.enter_locked(&mut st, conn, user, since, already).await;
        if entered.is_err() && !already && self.presence.here() == 0 {
            // Failed on its way in: the node stops receiving a room nobody here is in.
            self.broker.unsubscribe();
        }
        entered
    }

    /// [`Room::enter`] under the room's lock; `already`: the connection is in the room.
    async fn enter_locked(
        self: &Arc<Self>,
        st: &mut RoomState,
        conn: u64,
        user: Option<&str>,
        since: Option<u64>,
        already: bool,
    ) -> Result<Entered, ApiError> {
        if !already && self.broker.subscribe().await? {
            // This node just began receiving the room: changes other nodes made while it
            // had no viewer here did not reach it.
            self.reload_locked(st).await?;
            if st.dismissed {
                return Err(self.gone());
            }
        }
        let member = user.map(|u| st.member_state(u, liveroom_usersig::now_secs()));
        // Under the lock that membership takes: a ban lands either before (refused here) or
        // after (the member is found and removed), never in between.
        if let Some(banned) = member.as_ref().and_then(|m| m.banned) {
            return Err(rules::banned_from(&self.id, banned));
        }
        let mut subscription = None;
        let mut attach = || {
            if !already {
                subscription = Some(Subscription::new(self.clone()));
            }
        };
        let mut kept = self.broker.snapshot(since, &mut attach).await?;
        if already && since.is_none() {
            kept.messages.clear();
        }
        let mut first = false;
        if !already {
            let joined = self.presence.join(conn, user).await?;
            first = user.is_some() && joined.first;
            if let Some(user) = user {
                if joined.online <= self.limits.join_leave_threshold && joined.first {
                    self.publish_tip(GroupTipPayload::JOIN, user).await;
                }
            }
        }
        Ok(Entered {
            first,
            status: if already {
                EnterStatus::AlreadyInGroup
            } else {
                EnterStatus::JoinedSuccess
            },
            info: st.info.clone(),
            online: self.presence.online(),
            history: kept.messages,
            last_seq: kept.last_seq,
            subscription,
            deleted: match since {
                Some(since) => st
                    .deleted
                    .iter()
                    .filter(|(s, _)| *s <= since)
                    .map(|(_, id)| id.clone())
                    .collect(),
                None => Vec::new(),
            },
            settings: st.mods.settings(),
            member,
            skipped: kept.skipped,
        })
    }

    /// Removes connection `conn`; logged-in users produce a leave tip in small rooms. Returns
    /// the user whose last connection in the room this was.
    pub(crate) async fn leave(self: &Arc<Self>, conn: u64) -> Option<String> {
        let _st = self.state.lock().await;
        let left = match self.presence.leave(conn).await {
            Ok(Some(left)) => left,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(room = %self.id, conn, error = %e.message, "leave not recorded");
                return None;
            }
        };
        if left.node_empty {
            // The last one out frees the ring; under the state lock, so no one enters
            // meanwhile.
            self.broker.unsubscribe();
        }
        let user = left.user.filter(|_| left.last)?;
        if left.before <= self.limits.join_leave_threshold {
            self.publish_tip(GroupTipPayload::QUIT, &user).await;
        }
        Some(user)
    }

    /// Records that a member connection logged in (or out).
    pub(crate) async fn set_member_user(&self, conn: u64, user: Option<&str>) {
        let _st = self.state.lock().await;
        if let Err(e) = self.presence.set_user(conn, user).await {
            tracing::warn!(room = %self.id, conn, error = %e.message, "login not recorded");
        }
    }

    /// Has the broker accept a send (budget, sequence, commit, history, publish: 10023 when
    /// the budget drops it). The reply (the returned message) is only produced after the
    /// commit.
    pub(crate) async fn publish(
        self: &Arc<Self>,
        from: &Profile,
        body: Body,
        priority: Priority,
        check: Option<SendCheck<'_>>,
    ) -> Result<Message, ApiError> {
        let mut st = self.state.lock().await;
        if st.dismissed {
            return Err(self.gone());
        }
        if let Some(check) = &check {
            self.check_send(&mut st, check, &body)?;
            (check.rate)()?;
        }
        let mut out = Sending {
            room: self,
            from,
            body: Some(body),
            priority,
            msg: None,
        };
        // Checked against rules another node has changed since: read them and check again
        // (once is enough: the change is then this node's too).
        for _ in 0..2 {
            match self.broker.accept(priority, &mut out).await? {
                Accepted::Sent(_) => {
                    drop(st);
                    return out.msg.ok_or_else(|| {
                        ApiError::new(code::INTERNAL, "accepted send without a message")
                    });
                }
                Accepted::StaleRules => {
                    self.reload_locked(&mut st).await?;
                    if st.dismissed {
                        return Err(self.gone());
                    }
                    if let (Some(check), Some(body)) = (&check, out.body()) {
                        self.check_send(&mut st, check, body)?;
                    }
                }
            }
        }
        Err(ApiError::new(
            code::UNAVAILABLE,
            "the room's rules keep changing; try again",
        ))
    }

    /// Whether the room has been dismissed.
    pub(crate) fn is_dismissed(&self) -> bool {
        self.dismissed.load(Ordering::Acquire)
    }

    /// 10010 for this (dismissed) room.
    pub(crate) fn gone(&self) -> ApiError {
        ApiError::new(
            code::ROOM_NOT_FOUND,
            format!("room '{}' does not exist (dismissed)", self.id),
        )
    }

    /// Pushes a moderation event to every member (of every node), in order with the
    /// messages; `changed`: the room's state changed with it (other nodes reload it).
    /// Best effort after the commit: a failure is logged (what is stored stands).
    pub(crate) async fn publish_event(&self, event: RoomEvent, changed: bool) {
        let frame = ServerFrame::RoomEvent {
            room: self.id.clone(),
            event,
        };
        match serde_json::to_string(&frame) {
            Ok(s) => {
                if let Err(e) = self.broker.announce(Utf8Bytes::from(s), changed).await {
                    tracing::warn!(room = %self.id, error = %e.message, "room event not published");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a room event"),
        }
    }

    /// Checks that `user` may send `body` now (mute, mute-all, blocked words, slow mode);
    /// `exempt` (owner, admins, app admins) skips mute-all and slow mode. On success the send
    /// is counted for slow mode.
    fn check_send(
        &self,
        st: &mut RoomState,
        check: &SendCheck<'_>,
        body: &Body,
    ) -> Result<(), ApiError> {
        let user = check.user;
        let exempt = check.app_admin || st.info.owner_id == user || st.mods.is_admin(user);
        st.mods
            .check_send(&self.id, user, exempt, body, check.app_words)
    }

    /// Marks the stream stopped (after its stop-push message went out).
    pub(crate) async fn set_push_stopped(&self, postscript: &str) -> Result<(), ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        self.store
            .set_push_stopped(self.app, self.id.clone(), postscript.to_owned())
            .await?;
        st.info.push_stopped = true;
        st.info.postscript = postscript.to_owned();
        self.announce_change().await;
        Ok(())
    }

    /// Tells the other nodes the room's state changed, with no event for the viewers.
    async fn announce_change(&self) {
        if let Err(e) = self.broker.announce(Utf8Bytes::from_static(""), true).await {
            tracing::warn!(room = %self.id, error = %e.message, "room change not published");
        }
    }

    /// Reads every node's members again (cluster mode; nothing to do for one process).
    pub(crate) async fn refresh_online(&self) {
        // Under the lock joins and leaves take: the node's members are written as they are.
        let _st = self.state.lock().await;
        if self.presence.here() == 0 {
            return;
        }
        if let Err(e) = self.presence.refresh().await {
            tracing::debug!(room = %self.id, error = %e.message, "online count not refreshed");
        }
    }

    /// Pushes the online count to the room (only when someone is in).
    pub(crate) fn publish_online(&self) {
        let count = self.online();
        if count == 0 {
            return;
        }
        let frame = ServerFrame::Online {
            room: self.id.clone(),
            count: count as u64,
        };
        if let Ok(s) = serde_json::to_string(&frame) {
            self.broker.ring().publish_frame(Utf8Bytes::from(s));
        }
    }

    /// Join/leave tip: not stored, sequence 0.
    async fn publish_tip(self: &Arc<Self>, operation_type: u8, user: &str) {
        let from = Profile {
            user_id: user.to_owned(),
            ..Profile::default()
        };
        let body = Body::GroupTip(GroupTipPayload {
            operation_type,
            user_id_list: vec![user.to_owned()],
        });
        let msg = self.message(&from, body, Priority::Normal, 0);
        if let Ok(json) = encode(&msg) {
            if let Err(e) = self.broker.tip(json).await {
                tracing::warn!(room = %self.id, error = %e.message, "join/leave tip not published");
            }
        }
    }

    /// A message of this room from `from`, with sequence `seq` (0: not in the room's order).
    pub(crate) fn message(
        &self,
        from: &Profile,
        body: Body,
        priority: Priority,
        seq: u64,
    ) -> Message {
        let nonce: u32 = rand::thread_rng().gen();
        Message {
            id: format!("GROUP{}-{seq}-{nonce}", self.id),
            body,
            to: self.id.clone(),
            from: from.user_id.clone(),
            nick: from.nick.clone(),
            avatar: from.avatar.clone(),
            time: liveroom_usersig::now_secs(),
            sequence: seq,
            priority,
            flow: Default::default(),
            conversation_type: "GROUP".into(),
            conversation_id: format!("GROUP{}", self.id),
        }
    }
}

/// Moderation: each action is one step under the room's lock, taken before the action's
/// checks and kept through its commit (the change and its audit row in one transaction), its
/// change in memory and its room event. So two moderators never interleave (no lost update),
/// a role change lands wholly before or after an action it would forbid, a send is checked
/// either before the action or after it, and what members are told matches what is stored.
/// A failure before the commit changes nothing; nothing after it can fail.
impl Room {
    /// The room's state for a change, and the right to change it alone among the nodes
    /// (read again first when another node may have changed it): 10010 when the room has
    /// been dismissed.
    async fn live(&self) -> Result<(tokio::sync::MutexGuard<'_, RoomState>, Exclusive), ApiError> {
        let mut st = self.state.lock().await;
        if st.dismissed {
            return Err(self.gone());
        }
        let exclusive = self.broker.exclusive().await?;
        if exclusive.stale() {
            self.reload_locked(&mut st).await?;
            if st.dismissed {
                return Err(self.gone());
            }
        }
        Ok((st, exclusive))
    }

    /// Checks that `by` may make its request here (10007 if not, 10010 if dismissed).
    pub(crate) async fn authorize(&self, by: &Moderator<'_>) -> Result<(), ApiError> {
        let st = self.state.lock().await;
        if st.dismissed {
            return Err(self.gone());
        }
        st.authorize(&self.id, by).map(|_| ())
    }

    /// Mutes `target` until `until` (unix seconds); the room gets `muted`.
    pub(crate) async fn mute(
        &self,
        by: &Moderator<'_>,
        target: &Target<'_>,
        until: i64,
        audit: AuditRecord,
    ) -> Result<(), ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize_on(&self.id, by, target)?;
        let user = target.user;
        self.store
            .mute_member(self.app, self.id.clone(), user.to_owned(), until, audit)
            .await?;
        st.mods.mute(user, until);
        self.publish_event(
            RoomEvent::Muted {
                user_id: user.to_owned(),
                until,
            },
            true,
        )
        .await;
        Ok(())
    }

    /// Lifts `user`'s mute; the room gets `muted` with `until` 0.
    pub(crate) async fn unmute(
        &self,
        by: &Moderator<'_>,
        user: &str,
        audit: AuditRecord,
    ) -> Result<(), ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        self.store
            .unmute_member(self.app, self.id.clone(), user.to_owned(), audit)
            .await?;
        st.mods.unmute(user);
        self.publish_event(
            RoomEvent::Muted {
                user_id: user.to_owned(),
                until: 0,
            },
            true,
        )
        .await;
        Ok(())
    }

    /// Changes mute-all or slow mode by `edit`, read and written back under the lock so a
    /// concurrent change of the other setting is never lost; the audit row's details are the
    /// new settings. The room gets `settings_updated`.
    pub(crate) async fn change_settings(
        &self,
        by: &Moderator<'_>,
        edit: impl FnOnce(&mut RoomSettings),
        mut audit: AuditRecord,
    ) -> Result<RoomSettings, ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        let mut settings = st.mods.settings();
        edit(&mut settings);
        audit.details = serde_json::to_string(&settings).unwrap_or_default();
        self.store
            .set_settings(self.app, self.id.clone(), settings, audit)
            .await?;
        st.mods.set_settings(settings);
        self.publish_event(RoomEvent::SettingsUpdated { settings }, true)
            .await;
        Ok(settings)
    }

    /// Records the kick of `target`; the room gets `member_removed`. The caller then takes
    /// the member out on its connection. Returns whether the member was in the room.
    pub(crate) async fn kick(
        &self,
        by: &Moderator<'_>,
        target: &Target<'_>,
        audit: AuditRecord,
    ) -> Result<bool, ApiError> {
        let (st, _exclusive) = self.live().await?;
        st.authorize_on(&self.id, by, target)?;
        let in_room = self.presence.has_user(target.user).await?;
        self.store
            .kick_member(self.app, self.id.clone(), audit)
            .await?;
        self.publish_event(
            RoomEvent::MemberRemoved {
                user_id: target.user.to_owned(),
                banned: false,
            },
            false,
        )
        .await;
        Ok(in_room)
    }

    /// Bans `target` until `until` (`None`: for good): entering is refused from now on; the
    /// room gets `member_removed`. The caller then takes the member out on its connection.
    /// Returns whether the member was in the room.
    pub(crate) async fn ban(
        &self,
        by: &Moderator<'_>,
        target: &Target<'_>,
        until: Option<i64>,
        audit: AuditRecord,
    ) -> Result<bool, ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize_on(&self.id, by, target)?;
        let in_room = self.presence.has_user(target.user).await?;
        let user = target.user;
        self.store
            .ban_member(self.app, self.id.clone(), user.to_owned(), until, audit)
            .await?;
        st.mods.ban(user, until);
        self.publish_event(
            RoomEvent::MemberRemoved {
                user_id: user.to_owned(),
                banned: true,
            },
            true,
        )
        .await;
        Ok(in_room)
    }

    /// Lifts `user`'s ban.
    pub(crate) async fn unban(
        &self,
        by: &Moderator<'_>,
        user: &str,
        audit: AuditRecord,
    ) -> Result<(), ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        self.store
            .unban_member(self.app, self.id.clone(), user.to_owned(), audit)
            .await?;
        st.mods.unban(user);
        self.announce_change().await;
        Ok(())
    }

    /// Deletes message `message_id` from the history (memory and store), remembers the
    /// deletion for re-entering clients; the room gets `message_deleted`. 10004 when the
    /// kept history does not hold it.
    pub(crate) async fn delete_message(
        &self,
        by: &Moderator<'_>,
        message_id: &str,
        audit: AuditRecord,
    ) -> Result<(), ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        let Some(seq) = self.message_in_history(message_id).await? else {
            return Err(ApiError::invalid(format!(
                "message_id: room '{}' has no message '{message_id}' in its history",
                self.id
            )));
        };
        self.store
            .delete_message(self.app, self.id.clone(), seq, message_id.to_owned(), audit)
            .await?;
        self.broker.forget(seq).await?;
        if st.deleted.len() >= DELETIONS_KEPT {
            st.deleted.pop_front();
        }
        st.deleted.push_back((seq, message_id.to_owned()));
        self.publish_event(
            RoomEvent::MessageDeleted {
                message_id: message_id.to_owned(),
            },
            true,
        )
        .await;
        Ok(())
    }

    /// Appoints `user` admin (`admin`) or removes them as one; the room gets
    /// `admin_changed`. 10004 for the owner.
    pub(crate) async fn set_admin(
        &self,
        by: &Moderator<'_>,
        user: &str,
        admin: bool,
        audit: AuditRecord,
    ) -> Result<(), ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        if st.info.owner_id == user {
            return Err(ApiError::invalid("user_id: the owner is not made an admin"));
        }
        self.store
            .set_admin(self.app, self.id.clone(), user.to_owned(), admin, audit)
            .await?;
        st.mods.set_admin(user, admin);
        self.publish_event(
            RoomEvent::AdminChanged {
                user_id: user.to_owned(),
                admin,
            },
            true,
        )
        .await;
        Ok(())
    }

    /// Adds (`add`) or removes a blocked word, at most `max` per room; returns the room's
    /// words after the change, sorted.
    pub(crate) async fn set_blocked_word(
        &self,
        by: &Moderator<'_>,
        word: &str,
        add: bool,
        max: usize,
        audit: AuditRecord,
    ) -> Result<Vec<String>, ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        if add && !st.mods.has_word(word) && st.mods.word_count() >= max {
            return Err(ApiError::invalid(format!(
                "word: a room has at most {max} blocked words"
            )));
        }
        self.store
            .set_blocked_word(self.app, self.id.clone(), word.to_owned(), add, audit)
            .await?;
        st.mods.set_word(word, add);
        self.announce_change().await;
        Ok(st.mods.words())
    }

    /// The room's blocked words, sorted.
    pub(crate) async fn blocked_words(&self) -> Vec<String> {
        self.state.lock().await.mods.words()
    }

    /// Changes the room's profile by `edit`; the room gets `profile_updated`. Returns the
    /// new profile.
    pub(crate) async fn edit_profile(
        &self,
        by: &Moderator<'_>,
        edit: impl FnOnce(&mut RoomInfo),
        audit: AuditRecord,
    ) -> Result<RoomInfo, ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        let mut info = st.info.clone();
        edit(&mut info);
        self.store
            .edit_room(self.app, self.id.clone(), info.clone(), audit)
            .await?;
        st.info = info.clone();
        self.publish_event(RoomEvent::ProfileUpdated { info: info.clone() }, true)
            .await;
        Ok(info)
    }

    /// Hands the room to `owner`: its profile says so, and every node reloads it, so both
    /// users' roles change everywhere; the room gets `profile_updated`. Returns the new
    /// profile (unchanged, with no audit row, when `owner` already owns it).
    pub(crate) async fn change_owner(
        &self,
        by: &Moderator<'_>,
        owner: &str,
        mut audit: AuditRecord,
    ) -> Result<RoomInfo, ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        if st.info.owner_id == owner {
            return Ok(st.info.clone());
        }
        audit.details = serde_json::json!({"from": st.info.owner_id, "to": owner}).to_string();
        self.store
            .change_owner(self.app, self.id.clone(), owner.to_owned(), audit)
            .await?;
        st.info.owner_id = owner.to_owned();
        let info = st.info.clone();
        self.publish_event(RoomEvent::ProfileUpdated { info: info.clone() }, true)
            .await;
        Ok(info)
    }

    /// Dismisses the room: its rows go (the audit log stays), nothing more is published or
    /// entered, and every member gets `dismissed`; their connections drop the room after
    /// delivering that event. The caller makes the registry forget it.
    pub(crate) async fn dismiss(
        &self,
        by: &Moderator<'_>,
        audit: AuditRecord,
    ) -> Result<(), ApiError> {
        let (mut st, _exclusive) = self.live().await?;
        st.authorize(&self.id, by)?;
        self.store
            .dismiss_room(self.app, self.id.clone(), audit)
            .await?;
        st.dismissed = true;
        self.publish_event(RoomEvent::Dismissed, true).await;
        self.dismissed.store(true, Ordering::Release);
        Ok(())
    }

    /// Where `user` stands in the room now, and whether it is in the room on some
    /// connection: for a moderator's user card.
    pub(crate) async fn standing(&self, user: &str, now: i64) -> (MemberState, bool) {
        let mut st = self.state.lock().await;
        let in_room = self.presence.has_user(user).await.unwrap_or_default();
        (st.member_state(user, now), in_room)
    }

    /// Mute-all and slow mode.
    pub(crate) async fn settings(&self) -> RoomSettings {
        self.state.lock().await.mods.settings()
    }

    /// Members now, every node's read again first: for a caller outside the room (the REST
    /// API), on a node that may have no viewer of it. A failed read answers the last count.
    pub(crate) async fn online_now(&self) -> usize {
        let _st = self.state.lock().await;
        if let Err(e) = self.presence.refresh().await {
            tracing::debug!(room = %self.id, error = %e.message, "online count not refreshed");
        }
        self.presence.online()
    }

    /// Admins, and the mutes and bans in force at `now`, sorted.
    pub(crate) async fn restrictions(&self, now: i64) -> Restrictions {
        self.state.lock().await.mods.restrictions(now)
    }
}

/// Statistics: counted by the broker as it accepts sends; the online ticker samples the
/// count, the stats tick reports them to the room's moderators here and saves them.
impl Room {
    /// Checks that `user` (an app administrator or not; `backend`: the app's backend, the
    /// owner's rights) moderates the room: 10007 if not, 10010 if dismissed.
    pub(crate) async fn check_moderator(
        &self,
        user: Option<&str>,
        app_admin: bool,
        backend: bool,
    ) -> Result<(), ApiError> {
        let st = self.state.lock().await;
        if st.dismissed {
            return Err(self.gone());
        }
        let role = user.map_or(Role::Guest, |u| {
            rules::role_of(
                st.info.owner_id == u || backend,
                app_admin,
                st.mods.is_admin(u),
            )
        });
        if user.is_none() || !role.moderates() {
            tracing::info!(room = %self.id, user = ?user, "room statistics denied");
            return Err(rules::denied(
                "only the room owner, its admins or an app administrator may read its statistics",
            ));
        }
        Ok(())
    }

    /// The room's statistics now (every node's counts; the top gifters' nicks as the store
    /// has them now).
    pub(crate) async fn stats(&self) -> Result<RoomStats, ApiError> {
        let started_at = self.state.lock().await.info.create_time;
        let counts = self.broker.stats().await?;
        let top = counts.top_gifters();
        let ids: Vec<String> = top.iter().map(|(u, _)| u.clone()).collect();
        let profiles = self.store.accounts(self.app, ids).await?;
        let top_gifters = top
            .into_iter()
            .zip(profiles)
            .map(|((user_id, gifts), profile)| TopGifter {
                nick: profile.map(|p| p.nick).unwrap_or_default(),
                user_id,
                gifts,
            })
            .collect();
        Ok(stats::report(
            &self.id,
            started_at,
            liveroom_usersig::now_secs(),
            self.online() as u64,
            &counts,
            top_gifters,
        ))
    }

    /// Records the online count (as last read) for the statistics, when this node has
    /// members in the room (nodes without any have no fresh count).
    pub(crate) async fn sample_online(&self) {
        if self.presence.here() == 0 {
            return;
        }
        let now = liveroom_usersig::now_secs();
        if let Err(e) = self.broker.sample_online(now, self.online() as u64).await {
            tracing::debug!(room = %self.id, error = %e.message, "online count not sampled");
        }
    }

    /// The room's moderators in it on this node's connections: its owner, its admins, and
    /// `app_admins` (the app's administrators).
    pub(crate) async fn moderators_here(&self, app_admins: &[String]) -> Vec<String> {
        if self.presence.here() == 0 {
            return Vec::new();
        }
        let st = self.state.lock().await;
        let mut users: Vec<String> = std::iter::once(&st.info.owner_id)
            .chain(st.mods.admins())
            .chain(app_admins)
            .filter(|u| self.presence.has_user_here(u))
            .cloned()
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Whether the room's statistics changed since they were last saved.
    pub(crate) fn has_unsaved_stats(&self) -> bool {
        self.broker.unsaved_stats().is_some()
    }

    /// Saves the room's statistics in the store if they changed since last saved.
    pub(crate) async fn save_stats(&self) {
        let Some((version, counts)) = self.broker.unsaved_stats() else {
            return;
        };
        let created = self.state.lock().await.info.create_time;
        match self
            .store
            .save_stats(self.app, self.id.clone(), created, counts)
            .await
        {
            Ok(()) => self.broker.stats_saved(version),
            Err(e) => tracing::warn!(room = %self.id, error = %e, "room statistics not saved"),
        }
    }
}

impl Room {
    /// The kept message of sequence `seq`, if the history still holds it.
    pub(crate) async fn message_at(&self, seq: u64) -> Result<Option<Message>, ApiError> {
        let Some(json) = self.broker.message(seq).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_str(json.as_str()).ok())
    }

    /// The room's last sequence, and that message's time when the history still keeps it
    /// (the REST API's `NextMsgSeq` and `LastMsgTime`).
    pub(crate) async fn last_message(&self) -> Result<(u64, Option<i64>), ApiError> {
        let now = self.broker.snapshot(Some(u64::MAX), &mut || {}).await?;
        let time = match now.last_seq {
            0 => None,
            seq => self.message_at(seq).await?.map(|m| m.time),
        };
        Ok((now.last_seq, time))
    }

    /// The sequence of message `message_id` if the room's kept history holds it.
    async fn message_in_history(&self, message_id: &str) -> Result<Option<u64>, ApiError> {
        let Some(seq) = message_seq(&self.id, message_id) else {
            return Ok(None);
        };
        let kept = self.broker.message(seq).await?;
        Ok(kept
            .is_some_and(|json| {
                serde_json::from_str::<Message>(json.as_str()).is_ok_and(|m| m.id == message_id)
            })
            .then_some(seq))
    }
}

/// Who sends, for the room's checks of a user's send (mute, mute-all, blocked words, slow
/// mode; owner, admins and app admins skip mute-all and slow mode).
pub(crate) struct SendCheck<'a> {
    /// The sender.
    pub(crate) user: &'a str,
    /// The sender is an app administrator.
    pub(crate) app_admin: bool,
    /// The app's blocked words.
    pub(crate) app_words: &'a [String],
    /// The user's own rate, taken once the room's rules let the send through.
    pub(crate) rate: &'a (dyn Fn() -> Result<(), ApiError> + Sync),
}

/// A user's send as the broker accepts it: built with its sequence, committed to the store.
struct Sending<'a> {
    room: &'a Room,
    from: &'a Profile,
    /// Taken when the message is built.
    body: Option<Body>,
    priority: Priority,
    /// The message, once built.
    msg: Option<Message>,
}

impl Sending<'_> {
    /// The body being sent.
    fn body(&self) -> Option<&Body> {
        self.msg.as_ref().map(|m| &m.body).or(self.body.as_ref())
    }
}

impl Outgoing for Sending<'_> {
    fn encode(&mut self, seq: u64) -> Result<Encoded, ApiError> {
        let msg = match (self.msg.as_mut(), self.body.take()) {
            (Some(msg), _) => {
                // The same message, another sequence: its ID keeps its nonce.
                let nonce = msg.id.rsplit('-').next().unwrap_or_default().to_owned();
                msg.id = format!("GROUP{}-{seq}-{nonce}", self.room.id);
                msg.sequence = seq;
                msg
            }
            (None, Some(body)) => {
                self.msg
                    .insert(self.room.message(self.from, body, self.priority, seq))
            }
            (None, None) => return Err(ApiError::new(code::INTERNAL, "a send without a body")),
        };
        Encoded::new(&*msg).map_err(|e| {
            tracing::error!(error = %e, "cannot encode message");
            ApiError::new(code::INTERNAL, "cannot encode message")
        })
    }

    fn tally(&self) -> Tally<'_> {
        Tally {
            counted: self.body().map_or(
                liveroom_proto::stats::Counted::Nothing,
                liveroom_proto::stats::counted,
            ),
            user: &self.from.user_id,
            time: self
                .msg
                .as_ref()
                .map_or_else(liveroom_usersig::now_secs, |m| m.time),
        }
    }

    fn persist(&mut self, seq: u64, json: Encoded) -> BrokerFuture<'_, ()> {
        let time = self.msg.as_ref().map_or(0, |m| m.time);
        let room = self.room;
        Box::pin(async move {
            room.store
                .append_message(room.app, room.id.clone(), seq, time, json)
                .await?;
            Ok(())
        })
    }
}

/// The sequence inside a message ID of room `room` (`GROUP{room}-{seq}-{nonce}`).
fn message_seq(room: &str, message_id: &str) -> Option<u64> {
    let rest = message_id.strip_prefix("GROUP")?.strip_prefix(room)?;
    let rest = rest.strip_prefix('-')?;
    let (seq, _nonce) = rest.split_once('-')?;
    seq.parse().ok().filter(|s| *s > 0)
}

fn encode(msg: &Message) -> Result<String, ApiError> {
    serde_json::to_string(msg).map_err(|e| {
        tracing::error!(error = %e, "cannot encode message");
        ApiError::new(code::INTERNAL, "cannot encode message")
    })
}

impl Source for Room {
    fn id(&self) -> &str {
        &self.id
    }

    fn ring(&self) -> &Ring {
        self.broker.ring()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::Item;
    use liveroom_proto::ModOp;

    fn room() -> Arc<Room> {
        crate::test_support::room("r", 64)
    }

    fn json(seq: u64) -> String {
        format!(
            r#"{{"ID":"m{seq}","type":"TIMTextElem","payload":{{"text":"t"}},"to":"r","from":"u","time":1,"sequence":{seq}}}"#
        )
    }

    /// (sequences, droppable) of a message item; None for a whole frame.
    fn parse(item: &Item) -> Option<(Vec<u64>, bool)> {
        match item {
            Item::Messages {
                frame, droppable, ..
            } => match serde_json::from_str(frame.as_str()).unwrap() {
                ServerFrame::Messages { list, .. } => {
                    Some((list.iter().map(|m| m.sequence).collect(), *droppable))
                }
                f => panic!("{f:?}"),
            },
            Item::Frame(_) => None,
        }
    }

    #[tokio::test]
    async fn each_message_is_published_at_once_in_order_with_its_class() {
        let r = room();
        r.presence.join(99, None).await.unwrap();
        let mut sub = Subscription::new(r.clone());
        r.broker.ring().publish_message(&json(1), Priority::Normal);
        r.broker.ring().publish_message(&json(2), Priority::Low);
        r.publish_online();
        r.broker.ring().publish_message(&json(3), Priority::Lowest);
        assert_eq!(parse(&sub.try_next().unwrap()), Some((vec![1], false)));
        assert_eq!(parse(&sub.try_next().unwrap()), Some((vec![2], true)));
        assert_eq!(parse(&sub.try_next().unwrap()), None, "online in its place");
        assert_eq!(parse(&sub.try_next().unwrap()), Some((vec![3], true)));
        assert!(sub.try_next().is_none(), "nothing held back for a timer");
    }

    #[tokio::test]
    async fn a_room_holds_a_ring_only_while_someone_is_in_it() {
        let r = room();
        assert!(
            !r.broker.ring().is_allocated(),
            "a new room allocates nothing for viewers"
        );
        r.publish_online();
        r.broker.ring().publish_message(&json(1), Priority::Normal);
        let a = r.enter(1, None, None).await.unwrap();
        let b = r.enter(2, Some("u"), None).await.unwrap();
        assert!(r.broker.ring().is_allocated());
        let mut sub = a.subscription.unwrap();
        r.broker.ring().publish_message(&json(2), Priority::Normal);
        assert!(
            matches!(sub.try_next(), Some(Item::Messages { .. })),
            "a member receives"
        );
        r.leave(1).await;
        assert!(r.broker.ring().is_allocated(), "still one member");
        drop((sub, b));
        r.leave(2).await;
        assert!(!r.broker.ring().is_allocated(), "the last one out frees it");
        // And the next entry makes a fresh one.
        let c = r.enter(3, None, None).await.unwrap();
        let mut sub = c.subscription.unwrap();
        r.broker.ring().publish_message(&json(3), Priority::Normal);
        assert!(matches!(sub.try_next(), Some(Item::Messages { .. })));
    }

    #[tokio::test]
    async fn moderation_is_checked_by_the_room_as_it_acts() {
        let r = room();
        let by = |user, op| Moderator {
            backend: false,
            user: Some(user),
            app_admin: false,
            op,
        };
        let member = |user| Target {
            user,
            app_admin: false,
        };
        let audit = || AuditRecord {
            actor: String::new(),
            target: String::new(),
            action: String::new(),
            reason: String::new(),
            details: "{}".into(),
        };
        let far = liveroom_usersig::now_secs() + 3600;
        let mute = by("a", ModOp::MuteMember);
        let refused = r.mute(&mute, &member("m"), far, audit()).await;
        assert_eq!(
            refused.unwrap_err().code,
            code::NO_PERMISSION,
            "not yet an admin"
        );
        r.set_admin(&by("o", ModOp::SetAdmin), "a", true, audit())
            .await
            .unwrap();
        r.mute(&mute, &member("m"), far, audit()).await.unwrap();
        let owner = r.mute(&mute, &member("o"), far, audit()).await;
        assert_eq!(owner.unwrap_err().code, code::NO_PERMISSION);
        // Removed as admin: the next action is refused by the room itself.
        r.set_admin(&by("o", ModOp::SetAdmin), "a", false, audit())
            .await
            .unwrap();
        let unmute = r.unmute(&by("a", ModOp::UnmuteMember), "m", audit()).await;
        assert_eq!(unmute.unwrap_err().code, code::NO_PERMISSION);
        assert_eq!(r.restrictions(0).await.muted.len(), 1, "the mute stands");
        let admin_dismiss = r.dismiss(&by("a", ModOp::DismissRoom), audit()).await;
        assert_eq!(admin_dismiss.unwrap_err().code, code::NO_PERMISSION);
        r.dismiss(&by("o", ModOp::DismissRoom), audit())
            .await
            .unwrap();
        // A dismissed room is entered by nobody, even through a handle taken before.
        let entered = r.enter(1, None, None).await;
        assert_eq!(entered.err().map(|e| e.code), Some(code::ROOM_NOT_FOUND));
    }
}
