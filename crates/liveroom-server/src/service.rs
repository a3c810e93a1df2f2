//! What a client asks of the server, whoever asks: a WebSocket connection ([`crate::connection`])
//! or the app's backend through the REST API ([`crate::rest`]). One function per request, so
//! both ways behave the same.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use liveroom_proto::{
    code, limits, ApiError, Body, CreateRoomOptions, Message, Priority, Profile, RoomInfo,
    RoomStats,
};
use rand::distributions::{Alphanumeric, DistString};

use crate::registry::CreateError;
use crate::room::{Room, SendCheck};
use crate::webhooks::{Origin, SendOrigin, Verdict};
use crate::Shared;

/// Who creates a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Creator<'a> {
    /// A member for themselves, from a WebSocket at `ip`: their creation rate and room quota
    /// apply.
    Member {
        /// The client's address.
        ip: IpAddr,
    },
    /// The app's backend (REST), called by administrator `admin`, for any owner: a member's
    /// limits do not apply.
    Backend {
        /// The administrator calling.
        admin: &'a str,
    },
}

/// Creates a room owned by `owner`, with a custom ID or one the server picks; the backend's
/// `Group.CallbackAfterCreateGroup` follows.
pub(crate) async fn create_room(
    shared: &Shared,
    app: u64,
    owner: &str,
    opts: CreateRoomOptions,
    creator: Creator<'_>,
) -> Result<RoomInfo, ApiError> {
    limits::check_room_name(&opts.name)?;
    limits::check_len("notification", &opts.notification, limits::NOTIFICATION_MAX)?;
    limits::check_len("introduction", &opts.introduction, limits::INTRODUCTION_MAX)?;
    limits::check_len("avatar", &opts.avatar, limits::AVATAR_MAX)?;
    let custom = opts.room_id.filter(|id| !id.is_empty());
    if let Some(id) = &custom {
        limits::check_custom_room_id(id)?;
    }
    let origin = match creator {
        Creator::Member { ip } => {
            check_room_quota(shared, app, owner).await?;
            Origin::client(owner, ip)
        }
        Creator::Backend { admin } => Origin::rest(admin),
    };
    // Server-picked IDs: retry on the (unlikely) collision.
    for _ in 0..5 {
        let group_id = custom.clone().unwrap_or_else(|| {
            let suffix = Alphanumeric.sample_string(&mut rand::thread_rng(), 12);
            format!("{}{suffix}", limits::AUTO_ROOM_PREFIX)
        });
        let info = RoomInfo {
            group_id: group_id.clone(),
            kind: "AVChatRoom".into(),
            name: opts.name.clone(),
            owner_id: owner.to_owned(),
            notification: opts.notification.clone(),
            introduction: opts.introduction.clone(),
            avatar: opts.avatar.clone(),
            create_time: liveroom_usersig::now_secs(),
            push_stopped: false,
            postscript: String::new(),
        };
        match shared.rooms.create(app, info.clone()).await {
            Ok(_) => {
                tracing::info!(app, room = %group_id, owner = %owner, "room created");
                shared.webhooks.room_created(app, &info, &origin);
                return Ok(info);
            }
            Err(CreateError::Store(e)) => return Err(e.into()),
            Err(CreateError::TakenByYou) if custom.is_some() => {
                return Err(ApiError::new(
                    code::ROOM_ID_TAKEN_BY_YOU,
                    format!("roomID '{group_id}' is already taken, by you"),
                ))
            }
            Err(_) if custom.is_some() => {
                return Err(ApiError::new(
                    code::ROOM_ID_TAKEN,
                    format!("roomID '{group_id}' is already taken"),
                ))
            }
            Err(_) => continue,
        }
    }
    Err(ApiError::new(
        code::INTERNAL,
        "could not pick a free room ID",
    ))
}

/// The user's room-creation rate and the most rooms it may own.
async fn check_room_quota(shared: &Shared, app: u64, owner: &str) -> Result<(), ApiError> {
    let config = &shared.config;
    if !shared.create_rates.admit(app, owner, Instant::now()) {
        return Err(ApiError::new(
            code::FREQUENCY_LIMIT,
            format!(
                "userID '{owner}' may create at most {} rooms per minute: try again later",
                config.room_create_rate
            ),
        ));
    }
    let max = u64::from(config.max_rooms_per_user);
    if max > 0 && shared.store.rooms_owned(app, owner.to_owned()).await? >= max {
        return Err(ApiError::new(
            code::ROOM_QUOTA,
            format!("userID '{owner}' owns {max} rooms, the most allowed: dismiss one first"),
        ));
    }
    Ok(())
}

/// The room `room_id` of `app`, or 10010.
pub(crate) async fn room(shared: &Shared, app: u64, room_id: &str) -> Result<Arc<Room>, ApiError> {
    limits::check_room_id(room_id)?;
    shared.rooms.get(app, room_id).await?.ok_or_else(|| {
        ApiError::new(
            code::ROOM_NOT_FOUND,
            format!("room '{room_id}' does not exist"),
        )
    })
}

/// The statistics of room `room_id` of `app`, for its moderators: `user` (None: a guest)
/// must be its owner, one of its admins or an app administrator (`backend`: the app's
/// backend, which moderates every room); 10010 for a missing room, then 10007.
pub(crate) async fn room_stats(
    shared: &Shared,
    app: u64,
    room_id: &str,
    user: Option<&str>,
    backend: bool,
) -> Result<RoomStats, ApiError> {
    let room = room(shared, app, room_id).await?;
    let app_admin = user.is_some_and(|u| shared.rules.is_app_admin(app, u));
    room.check_moderator(user, app_admin, backend).await?;
    room.stats().await
}

/// Sends a message into `room` as `from`: first the backend's before-send callback (unless
/// `via` says not to; it may refuse, drop or replace the message), then the room's rules for
/// that sender when `check` is given (a member's send), then the room budget, sequence,
/// history and fan-out; the after-send callback is queued once the room accepted it.
///
/// A message the backend drops is answered like a success and sent to nobody: it is not in
/// the room (sequence 0), and no after-send callback follows.
pub(crate) async fn send(
    shared: &Shared,
    room: &Arc<Room>,
    from: &Profile,
    body: Body,
    priority: Priority,
    check: Option<SendCheck<'_>>,
    via: SendOrigin<'_>,
) -> Result<Message, ApiError> {
    send_in_turn(shared, room, from, body, priority, check, via, async {}).await
}

/// [`send`], the room's part only once `turn` resolved: a connection vetting several sends
/// at once still has them enter the room in the order they were made.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_in_turn(
    shared: &Shared,
    room: &Arc<Room>,
    from: &Profile,
    body: Body,
    priority: Priority,
    check: Option<SendCheck<'_>>,
    via: SendOrigin<'_>,
    turn: impl std::future::Future<Output = ()>,
) -> Result<Message, ApiError> {
    let app = room.app();
    // Outside the room's lock: a slow backend holds this send only.
    let verdict = shared
        .webhooks
        .before_send(app, room.id(), &from.user_id, &via, &body, &shared.media)
        .await;
    let body = match verdict {
        Verdict::Allow => body,
        Verdict::Replace(replaced) => replaced,
        Verdict::Refuse(e) => return Err(e),
        Verdict::Drop => return Ok(room.message(from, body, priority, 0)),
    };
    turn.await;
    let msg = room.publish(from, body, priority, check).await?;
    shared.webhooks.after_send(app, &via, &msg);
    Ok(msg)
}
