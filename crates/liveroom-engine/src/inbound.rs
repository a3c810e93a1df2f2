//! What the engine accepts from a server, and the bounds on everything a server's frames can
//! fill (the other direction of the server's own limits).
//!
//! - **Frames**: at most [`MAX_SERVER_FRAME`] bytes. The largest frame a conforming server
//!   sends is `enter_room`'s reply: the room's history (default 100 messages) of messages whose
//!   JSON is at most ~54 KB each (an 8 KB text where every byte is escaped as `\u00XX`, plus
//!   nick and avatar escaped likewise), about 5.4 MB in all; `messages` pushes stop after
//!   256 KiB plus one message. A bigger frame is a protocol error: the socket is dropped and
//!   the engine reconnects (gap fill by sequence).
//! - **Messages**: a message whose strings add up to more than [`MESSAGE_WEIGHT_MAX`] bytes
//!   (the protocol's largest is ~9 KB) is dropped with a logged count, never delivered.
//! - **Pushes** other than `messages` (`online`, `room_event`, id-less `error`): at most
//!   [`PUSH_FRAME_MAX`] bytes each (the largest, a room profile, is ~4 KB); `room_stats` at
//!   most [`STATS_FRAME_MAX`] (a day of minutes, ~80 bytes each at most, and ten top
//!   gifters whose nicks may take 3 KB escaped: ~150 KB); bigger ones are dropped with a
//!   logged count.
//! - **Events**: a batch is split so that one event carries at most [`EVENT_WEIGHT_MAX`]
//!   bytes of messages. With `events()`' ring of 4096 events, a subscriber that stopped
//!   reading holds at most 4096 × 16 KiB = 64 MiB, whatever the server sends (typically a few
//!   MB); it then gets `Lagged(n)` with the number of events it missed.

use std::time::{Duration, Instant};

use liveroom_proto::{Body, Message};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Largest WebSocket message (and frame) the engine accepts from a server: 16 MiB, three
/// times the largest `enter_room` reply of a server with the default history of 100.
pub const MAX_SERVER_FRAME: usize = 16 * 1024 * 1024;

/// Most bytes the engine's own outgoing frames (and pongs) may queue before the socket is
/// treated as lost: a few of its largest requests (64 KiB each).
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// Largest message accepted, as the sum of its strings plus a fixed cost per string list item
/// (see [`weight`]).
pub const MESSAGE_WEIGHT_MAX: usize = 16 * 1024;

/// Most message weight per event: larger batches are split into several events.
pub const EVENT_WEIGHT_MAX: usize = 16 * 1024;

/// Largest push frame other than `messages` and `room_stats`, bytes of JSON.
pub const PUSH_FRAME_MAX: usize = 16 * 1024;

/// Largest `room_stats` push, bytes of JSON.
pub const STATS_FRAME_MAX: usize = 256 * 1024;

/// Fixed cost of one message in [`weight`]: its struct and the allocations of its strings.
const MESSAGE_OVERHEAD: usize = 384;

/// The tungstenite settings of every connection.
pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_SERVER_FRAME))
        .max_frame_size(Some(MAX_SERVER_FRAME))
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
}

/// About how much memory a message holds: its strings' bytes plus a fixed overhead.
pub(crate) fn weight(m: &Message) -> usize {
    let body = match &m.body {
        Body::Text(t) => t.text.len(),
        Body::Custom(c) => c.data.len() + c.description.len() + c.extension.len(),
        Body::Image(i) => {
            i.uuid.len()
                + i.image_info_array
                    .iter()
                    .map(|info| info.url.len() + 32)
                    .sum::<usize>()
        }
        Body::GroupTip(t) => t.user_id_list.iter().map(|u| u.len() + 32).sum(),
        Body::GroupSystemNotice(n) => n.user_defined_field.len() + n.operator_id.len(),
    };
    MESSAGE_OVERHEAD
        + body
        + m.id.len()
        + m.to.len()
        + m.from.len()
        + m.nick.len()
        + m.avatar.len()
        + m.conversation_type.len()
        + m.conversation_id.len()
}

/// Keeps the messages within [`MESSAGE_WEIGHT_MAX`]; returns them and how many were dropped.
pub(crate) fn keep_sane(list: Vec<Message>) -> (Vec<Message>, usize) {
    let before = list.len();
    let kept: Vec<Message> = list
        .into_iter()
        .filter(|m| weight(m) <= MESSAGE_WEIGHT_MAX)
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

/// Counts repeated trouble and lets it be logged at most once per [`Throttle::EVERY`], with
/// the count since the last record: a flooding server cannot flood the log too.
#[derive(Debug)]
pub(crate) struct Throttle {
    last: Option<Instant>,
    pending: u64,
}

impl Throttle {
    /// At most one record per second per kind of trouble.
    const EVERY: Duration = Duration::from_secs(1);

    pub(crate) const fn new() -> Self {
        Self {
            last: None,
            pending: 0,
        }
    }

    /// Counts `n` more; returns the count to log now, if a record is due.
    pub(crate) fn hit(&mut self, n: u64) -> Option<u64> {
        self.pending += n;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Self::EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_proto::limits::{
        AVATAR_MAX, INTRODUCTION_MAX, MESSAGE_MAX, NICK_MAX, NOTIFICATION_MAX, ROOM_ID_MAX,
        ROOM_NAME_MAX, USER_ID_MAX,
    };
    use liveroom_proto::message::Flow;
    use liveroom_proto::{
        CustomPayload, EnterReply, EnterStatus, Priority, Role, RoomInfo, RoomSettings, TextPayload,
    };

    /// A byte JSON escapes to six (`\u0001`).
    const WORST: char = '\u{1}';

    fn worst(n: usize) -> String {
        std::iter::repeat_n(WORST, n).collect()
    }

    /// The largest message a conforming server can send: every field at its limit, every
    /// byte one that JSON escapes to six.
    fn largest_message(seq: u64) -> Message {
        let room: String = "\"".repeat(ROOM_ID_MAX);
        Message {
            id: format!("GROUP{room}-{seq}-{}", u64::MAX),
            body: Body::Text(TextPayload {
                text: worst(MESSAGE_MAX),
            }),
            to: room.clone(),
            from: "u".repeat(USER_ID_MAX),
            nick: worst(NICK_MAX),
            avatar: worst(AVATAR_MAX),
            time: i64::MAX,
            sequence: u64::MAX,
            priority: Priority::Lowest,
            flow: Flow::In,
            conversation_type: "GROUP".into(),
            conversation_id: format!("GROUP{room}"),
        }
    }

    #[test]
    fn the_largest_enter_reply_of_a_default_server_fits_with_a_wide_margin() {
        // The server's default history (crates/liveroom-server Config::history).
        const DEFAULT_HISTORY: u64 = 100;
        let info = RoomInfo {
            group_id: "\"".repeat(ROOM_ID_MAX),
            kind: "AVChatRoom".into(),
            name: worst(ROOM_NAME_MAX),
            owner_id: "o".repeat(USER_ID_MAX),
            notification: worst(NOTIFICATION_MAX),
            introduction: worst(INTRODUCTION_MAX),
            avatar: worst(AVATAR_MAX),
            create_time: i64::MAX,
            push_stopped: true,
            postscript: worst(MESSAGE_MAX),
        };
        let reply = EnterReply {
            status: EnterStatus::JoinedSuccess,
            group: info,
            online: u64::MAX,
            messages: (0..DEFAULT_HISTORY).map(largest_message).collect(),
            last_sequence: u64::MAX,
            role: Role::Member,
            settings: RoomSettings::default(),
            muted_until: Some(i64::MAX),
            skipped: false,
            // The server keeps the newest 256 deletions per room.
            deleted: (0..256).map(|i| largest_message(i).id).collect(),
        };
        let frame = serde_json::json!({"t": "reply", "id": u64::MAX, "data": reply}).to_string();
        assert!(
            frame.len() * 2 < MAX_SERVER_FRAME,
            "{} bytes: raise MAX_SERVER_FRAME",
            frame.len()
        );
        // A batch push: 256 KiB, then one more message at most.
        let one = serde_json::to_string(&largest_message(1)).unwrap();
        assert!(256 * 1024 + one.len() + 64 < MAX_SERVER_FRAME / 16);
    }

    #[test]
    fn the_largest_conforming_messages_pass_and_bigger_ones_do_not() {
        let m = largest_message(1);
        assert!(weight(&m) <= MESSAGE_WEIGHT_MAX, "{}", weight(&m));
        let mut custom = largest_message(2);
        custom.body = Body::Custom(CustomPayload {
            data: "push_stopped".into(),
            description: worst(MESSAGE_MAX),
            extension: String::new(),
        });
        assert!(weight(&custom) <= MESSAGE_WEIGHT_MAX);
        let mut huge = largest_message(3);
        huge.body = Body::Text(TextPayload {
            text: "x".repeat(MESSAGE_WEIGHT_MAX),
        });
        let (kept, dropped) = keep_sane(vec![m, huge, custom]);
        assert_eq!((kept.len(), dropped), (2, 1));
        assert_eq!(kept[1].sequence, u64::MAX);
    }

    #[test]
    fn throttle_logs_the_first_then_a_count_per_second() {
        let mut t = Throttle::new();
        assert_eq!(t.hit(1), Some(1));
        assert_eq!(t.hit(1), None);
        assert_eq!(t.hit(5), None);
        t.last = Some(Instant::now() - Duration::from_secs(2));
        assert_eq!(t.hit(1), Some(7));
    }
}
