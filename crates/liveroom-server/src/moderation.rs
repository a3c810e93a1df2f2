//! Moderation requests: one function per action (mute, mute-all, kick, ban, delete, slow mode,
//! admins, blocked words, room profile, change of owner, dismiss, audit log, standings).
//!
//! Who asks is checked first, so members and guests get 10007 whatever their arguments; then
//! each function checks its arguments and hands the action to the room, which checks the
//! caller again and acts in one step under its lock ([`crate::room`]'s moderation methods:
//! commit the change with its audit row, change memory, announce). Removals are then carried
//! to the member's connection.

use std::net::IpAddr;
use std::sync::Arc;

use liveroom_proto::moderation::{self as limits_of, AUDIT_PAGE_MAX, BLOCKED_WORDS_PER_ROOM};
use liveroom_proto::{
    limits, ApiError, BlockedWords, MemberStanding, ModOp, ModRequest, ModerationReply, RoomEvent,
    RoomInfo, RoomRef, ServerFrame, WordsAction,
};
use serde_json::json;

use crate::reply::Reply;
use crate::room::Room;
use crate::rules::{Moderator, Target};
use crate::service;
use crate::session::Signal;
use crate::store::AuditRecord;
use crate::webhooks::{Exit, Origin, Platform};
use crate::Shared;

/// The caller of a moderation request.
pub(crate) struct Actor<'a> {
    /// The connection's app.
    pub(crate) app: u64,
    /// The logged-in user (None: a guest).
    pub(crate) user: Option<&'a str>,
    /// The app's backend through the REST API (`user` is its app administrator): the
    /// owner's rights in every room.
    pub(crate) backend: bool,
    /// The client's address (none through the REST API), for the webhooks.
    pub(crate) ip: Option<IpAddr>,
}

/// One moderation request, answered with its reply.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    actor: Actor<'_>,
    req: ModRequest,
) -> Result<Reply, ApiError> {
    let app = actor.app;
    let room = service::room(shared, app, req.room_id()).await?;
    let by = Moderator {
        user: actor.user,
        app_admin: actor
            .user
            .is_some_and(|u| shared.rules.is_app_admin(app, u)),
        backend: actor.backend,
        op: req.op(),
    };
    room.authorize(&by).await?;
    let origin = Origin {
        platform: if actor.backend {
            Platform::Rest
        } else {
            Platform::Web
        },
        client_ip: actor.ip,
        operator: actor.user.unwrap_or_default(),
    };
    let cx = Cx {
        shared,
        app,
        room: &room,
        by,
        origin,
    };
    match req {
        ModRequest::MuteMember {
            user_id,
            seconds,
            reason,
            ..
        } => mute(&cx, &user_id, seconds, reason).await,
        ModRequest::UnmuteMember { user_id, .. } => unmute(&cx, &user_id).await,
        ModRequest::MuteAll { on, .. } => mute_all(&cx, on).await,
        ModRequest::KickMember {
            user_id, reason, ..
        } => kick(&cx, &user_id, reason).await,
        ModRequest::BanMember {
            user_id,
            seconds,
            reason,
            ..
        } => ban(&cx, &user_id, seconds, reason).await,
        ModRequest::UnbanMember { user_id, .. } => unban(&cx, &user_id).await,
        ModRequest::DeleteMessage {
            message_id, reason, ..
        } => delete_message(&cx, &message_id, reason).await,
        ModRequest::SetSlowMode { seconds, .. } => slow_mode(&cx, seconds).await,
        ModRequest::SetAdmin { user_id, admin, .. } => set_admin(&cx, &user_id, admin).await,
        ModRequest::BlockedWords { action, word, .. } => blocked_words(&cx, action, word).await,
        ModRequest::EditRoom {
            name,
            notification,
            introduction,
            avatar,
            ..
        } => {
            let edit = ProfileEdit {
                name,
                notification,
                introduction,
                avatar,
            };
            edit_room(&cx, edit).await
        }
        ModRequest::ChangeOwner { user_id, .. } => change_owner(&cx, &user_id).await,
        ModRequest::DismissRoom { .. } => dismiss(&cx).await,
        ModRequest::GetAuditLog { limit, .. } => audit_log(&cx, limit).await,
        ModRequest::GetMember { user_id, .. } => member(&cx, user_id).await,
        ModRequest::GetRestrictions { .. } => restrictions(&cx).await,
    }
}

/// What every action needs: the room, the caller.
struct Cx<'a> {
    shared: &'a Arc<Shared>,
    app: u64,
    room: &'a Arc<Room>,
    by: Moderator<'a>,
    /// Who asks, from where, for the webhooks.
    origin: Origin<'a>,
}

impl Cx<'_> {
    fn op(&self) -> ModOp {
        self.by.op
    }

    /// The audit row of this action on `target` (a userID, a message ID, a word; empty for
    /// the room).
    fn audit(&self, target: &str, reason: &str, details: serde_json::Value) -> AuditRecord {
        AuditRecord {
            actor: self.by.user.unwrap_or_default().to_owned(),
            target: target.to_owned(),
            action: self.op().as_str().to_owned(),
            reason: reason.to_owned(),
            details: details.to_string(),
        }
    }

    /// `user` as the target of a mute, kick or ban.
    fn target<'u>(&self, user: &'u str) -> Result<Target<'u>, ApiError> {
        limits::check_user_id(user)?;
        Ok(Target {
            user,
            app_admin: self.shared.rules.is_app_admin(self.app, user),
        })
    }

    /// Logs a change made.
    fn done(&self, target: &str) {
        tracing::info!(
            app = self.app,
            room = %self.room.id(),
            actor = ?self.by.user,
            target = %target,
            action = %self.op().as_str(),
            "moderation"
        );
    }

    /// The reply of a change on `target`.
    fn reply(&self, target: &str, until: Option<i64>) -> Result<Reply, ApiError> {
        Ok(Reply::Moderation(ModerationReply {
            room_id: self.room.id().to_owned(),
            action: self.op().as_str().to_owned(),
            target: target.to_owned(),
            until,
        }))
    }

    /// Takes `user` out of the room on their connection, telling them why first.
    async fn remove_member(&self, user: &str, reason: &str, banned: bool, until: Option<i64>) {
        let frame = ServerFrame::RoomEvent {
            room: self.room.id().to_owned(),
            event: RoomEvent::Kicked {
                user_id: user.to_owned(),
                reason: reason.to_owned(),
                banned,
                until,
            },
        };
        if let Ok(text) = serde_json::to_string(&frame) {
            let leave = Signal::Leave {
                room: self.room.id().to_owned(),
                frame: text,
            };
            self.shared.sessions.signal(self.app, user, leave).await;
        }
    }
}

/// Unix seconds `seconds` from now, saturating.
fn from_now(seconds: u64) -> i64 {
    liveroom_usersig::now_secs().saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX))
}

async fn mute(cx: &Cx<'_>, user: &str, seconds: u64, reason: String) -> Result<Reply, ApiError> {
    limits_of::check_mute_secs(seconds)?;
    limits_of::check_reason(&reason)?;
    let target = cx.target(user)?;
    let until = from_now(seconds);
    let audit = cx.audit(user, &reason, json!({"seconds": seconds, "until": until}));
    cx.room.mute(&cx.by, &target, until, audit).await?;
    cx.done(user);
    cx.reply(user, Some(until))
}

async fn unmute(cx: &Cx<'_>, user: &str) -> Result<Reply, ApiError> {
    limits::check_user_id(user)?;
    let audit = cx.audit(user, "", json!({}));
    cx.room.unmute(&cx.by, user, audit).await?;
    cx.done(user);
    cx.reply(user, None)
}

async fn mute_all(cx: &Cx<'_>, on: bool) -> Result<Reply, ApiError> {
    let audit = cx.audit("", "", json!({}));
    let settings = cx
        .room
        .change_settings(&cx.by, |s| s.mute_all = on, audit)
        .await?;
    cx.done("");
    Ok(Reply::Settings(settings))
}

async fn slow_mode(cx: &Cx<'_>, seconds: u32) -> Result<Reply, ApiError> {
    limits_of::check_slow_mode(seconds)?;
    let audit = cx.audit("", "", json!({}));
    let settings = cx
        .room
        .change_settings(&cx.by, |s| s.slow_mode = seconds, audit)
        .await?;
    cx.done("");
    Ok(Reply::Settings(settings))
}

async fn kick(cx: &Cx<'_>, user: &str, reason: String) -> Result<Reply, ApiError> {
    limits_of::check_reason(&reason)?;
    let target = cx.target(user)?;
    let audit = cx.audit(user, &reason, json!({}));
    let in_room = cx.room.kick(&cx.by, &target, audit).await?;
    cx.remove_member(user, &reason, false, None).await;
    if in_room {
        cx.shared
            .webhooks
            .member_left(cx.app, cx.room.id(), user, Exit::Kicked, &cx.origin);
    }
    cx.done(user);
    cx.reply(user, None)
}

async fn ban(
    cx: &Cx<'_>,
    user: &str,
    seconds: Option<u64>,
    reason: String,
) -> Result<Reply, ApiError> {
    limits_of::check_ban_secs(seconds)?;
    limits_of::check_reason(&reason)?;
    let target = cx.target(user)?;
    let until = seconds.map(from_now);
    let audit = cx.audit(user, &reason, json!({"seconds": seconds, "until": until}));
    let in_room = cx.room.ban(&cx.by, &target, until, audit).await?;
    cx.remove_member(user, &reason, true, until).await;
    if in_room {
        cx.shared
            .webhooks
            .member_left(cx.app, cx.room.id(), user, Exit::Kicked, &cx.origin);
    }
    cx.done(user);
    cx.reply(user, until)
}

async fn unban(cx: &Cx<'_>, user: &str) -> Result<Reply, ApiError> {
    limits::check_user_id(user)?;
    let audit = cx.audit(user, "", json!({}));
    cx.room.unban(&cx.by, user, audit).await?;
    cx.done(user);
    cx.reply(user, None)
}

async fn delete_message(cx: &Cx<'_>, message_id: &str, reason: String) -> Result<Reply, ApiError> {
    limits_of::check_reason(&reason)?;
    if message_id.is_empty() || message_id.len() > 200 {
        return Err(ApiError::invalid("message_id: not a message ID"));
    }
    let audit = cx.audit(message_id, &reason, json!({}));
    cx.room.delete_message(&cx.by, message_id, audit).await?;
    cx.done(message_id);
    cx.reply(message_id, None)
}

async fn set_admin(cx: &Cx<'_>, user: &str, admin: bool) -> Result<Reply, ApiError> {
    limits::check_user_id(user)?;
    let audit = cx.audit(user, "", json!({"admin": admin}));
    cx.room.set_admin(&cx.by, user, admin, audit).await?;
    cx.done(user);
    cx.reply(user, None)
}

async fn blocked_words(
    cx: &Cx<'_>,
    action: WordsAction,
    word: Option<String>,
) -> Result<Reply, ApiError> {
    let add = match action {
        WordsAction::List => None,
        WordsAction::Add => Some(true),
        WordsAction::Remove => Some(false),
    };
    let room = match add {
        None => cx.room.blocked_words().await,
        Some(add) => {
            let word = word
                .map(|w| w.trim().to_owned())
                .ok_or_else(|| ApiError::invalid("word is required to add or remove"))?;
            limits_of::check_blocked_word(&word)?;
            let audit = cx.audit(&word, "", json!({}));
            let words = cx
                .room
                .set_blocked_word(&cx.by, &word, add, BLOCKED_WORDS_PER_ROOM, audit)
                .await?;
            cx.done(&word);
            words
        }
    };
    Ok(Reply::BlockedWords(BlockedWords {
        room_id: cx.room.id().to_owned(),
        room,
        app: cx.shared.rules.written_words(cx.app),
    }))
}

/// The profile fields an `edit_room` changes (absent: kept).
struct ProfileEdit {
    name: Option<String>,
    notification: Option<String>,
    introduction: Option<String>,
    avatar: Option<String>,
}

impl ProfileEdit {
    fn check(&self) -> Result<(), ApiError> {
        if let Some(n) = &self.name {
            limits::check_room_name(n)?;
        }
        if let Some(n) = &self.notification {
            limits::check_len("notification", n, limits::NOTIFICATION_MAX)?;
        }
        if let Some(i) = &self.introduction {
            limits::check_len("introduction", i, limits::INTRODUCTION_MAX)?;
        }
        if let Some(a) = &self.avatar {
            limits::check_len("avatar", a, limits::AVATAR_MAX)?;
        }
        Ok(())
    }

    fn apply(self, info: &mut RoomInfo) {
        if let Some(n) = self.name {
            info.name = n;
        }
        if let Some(n) = self.notification {
            info.notification = n;
        }
        if let Some(i) = self.introduction {
            info.introduction = i;
        }
        if let Some(a) = self.avatar {
            info.avatar = a;
        }
    }
}

async fn edit_room(cx: &Cx<'_>, edit: ProfileEdit) -> Result<Reply, ApiError> {
    edit.check()?;
    let details = json!({
        "name": edit.name, "notification": edit.notification,
        "introduction": edit.introduction, "avatar": edit.avatar,
    });
    let audit = cx.audit("", "", details);
    let info = cx
        .room
        .edit_profile(&cx.by, |info| edit.apply(info), audit)
        .await?;
    cx.done("");
    Ok(Reply::Room(Box::new(info)))
}

async fn change_owner(cx: &Cx<'_>, user: &str) -> Result<Reply, ApiError> {
    limits::check_user_id(user)?;
    let audit = cx.audit(user, "", json!({}));
    let info = cx.room.change_owner(&cx.by, user, audit).await?;
    cx.done(user);
    Ok(Reply::Room(Box::new(info)))
}

async fn dismiss(cx: &Cx<'_>) -> Result<Reply, ApiError> {
    let audit = cx.audit("", "", json!({}));
    let info = cx.room.info().await;
    cx.room.dismiss(&cx.by, audit).await?;
    cx.shared.rooms.remove(cx.app, cx.room.id());
    cx.shared.webhooks.room_destroyed(cx.app, &info, &cx.origin);
    cx.done("");
    Ok(Reply::RoomRef(RoomRef {
        group_id: cx.room.id().to_owned(),
    }))
}

async fn audit_log(cx: &Cx<'_>, limit: Option<u32>) -> Result<Reply, ApiError> {
    let limit = limit.unwrap_or(AUDIT_PAGE_MAX).clamp(1, AUDIT_PAGE_MAX);
    let log = cx
        .shared
        .store
        .audit_log(cx.app, cx.room.id().to_owned(), limit)
        .await?;
    Ok(Reply::AuditLog(log))
}

async fn member(cx: &Cx<'_>, user: String) -> Result<Reply, ApiError> {
    limits::check_user_id(&user)?;
    let now = liveroom_usersig::now_secs();
    let (st, in_room) = cx.room.standing(&user, now).await;
    Ok(Reply::Member(MemberStanding {
        role: cx.shared.rules.role(cx.app, &user, st.owner, st.admin),
        in_room,
        muted_until: st.muted_until,
        banned: st.banned.is_some(),
        banned_until: st.banned.flatten(),
        user_id: user,
    }))
}

async fn restrictions(cx: &Cx<'_>) -> Result<Reply, ApiError> {
    let now = liveroom_usersig::now_secs();
    Ok(Reply::Restrictions(cx.room.restrictions(now).await))
}
