//! Room statistics (`get_room_stats` and the `room_stats` push): the reply's shape and the
//! counting rules, here so that the server, the engine and anything else reading a room's
//! messages agree on what a message, a like and a gift are.

use serde::{Deserialize, Serialize};

use crate::message::{Body, PUSH_STOPPED};

/// Custom `data` of a like (the app's and the TWebLive demo's).
pub const LIKE_DATA: [&str; 2] = ["like", "dianzan"];
/// Custom `data` of a gift; `extension` is `{"count": N}`.
pub const GIFT_DATA: &str = "gift";
/// Most gifts one gift message counts for (`count` is clamped to `1..=GIFT_COUNT_MAX`).
pub const GIFT_COUNT_MAX: u32 = 9_999;
/// Minutes of a session the statistics keep: a day.
pub const MINUTES_KEPT: usize = 1_440;
/// Gifters a report names, most gifts first.
pub const TOP_GIFTERS: usize = 10;

/// What one accepted send counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A text, a picture, or a custom message that is neither a like nor a gift.
    Message,
    /// A custom message with data `like` or `dianzan`.
    Like,
    /// A custom message with data `gift`, for this many gifts.
    Gift(u32),
    /// Not counted: the host's stop-push control message, a backend's system notice, tips.
    Nothing,
}

/// What `body`, accepted into a room, counts as.
pub fn counted(body: &Body) -> Counted {
    match body {
        Body::Text(_) | Body::Image(_) => Counted::Message,
        Body::Custom(c) if LIKE_DATA.contains(&c.data.as_str()) => Counted::Like,
        Body::Custom(c) if c.data == GIFT_DATA => Counted::Gift(gift_count(&c.extension)),
        Body::Custom(c) if c.data == PUSH_STOPPED => Counted::Nothing,
        Body::Custom(_) => Counted::Message,
        Body::GroupTip(_) | Body::GroupSystemNotice(_) => Counted::Nothing,
    }
}

/// The gifts a gift message's `extension` counts for: its JSON `count` (a number or a numeric
/// string, as the app reads it; a fraction rounds down), 1 when absent or unreadable, clamped
/// to `1..=GIFT_COUNT_MAX`.
pub fn gift_count(extension: &str) -> u32 {
    #[derive(Deserialize)]
    struct Ext {
        #[serde(default)]
        count: Option<serde_json::Value>,
    }
    let n = serde_json::from_str::<Ext>(extension)
        .ok()
        .and_then(|e| e.count)
        .and_then(|c| match c {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        })
        .filter(|n| n.is_finite())
        .unwrap_or(1.0)
        .floor();
    n.clamp(1.0, f64::from(GIFT_COUNT_MAX)) as u32
}

/// Reply to `get_room_stats`, and the `room_stats` push: a room's numbers since its session
/// began (the room's creation), counted by the server (every node's in a cluster). Times are
/// unix seconds. Field names are snake_case on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomStats {
    /// The room.
    pub room_id: String,
    /// When the session began: the room's creation.
    pub started_at: i64,
    /// When these numbers were read.
    pub at: i64,
    /// Connections in the room now.
    pub online: u64,
    /// The most connections the online count has seen in the session.
    pub peak_online: u64,
    /// One per minute of the session (the newest [`MINUTES_KEPT`]), oldest first, the current
    /// minute last.
    pub minutes: Vec<StatsMinute>,
    /// Messages in the last 60 seconds (the current minute's, plus the previous minute's
    /// prorated by how much of it is within the 60 s).
    pub messages_last_minute: u64,
    /// Messages (texts, pictures, custom messages but likes and gifts) of the session.
    pub messages_total: u64,
    /// Likes of the session.
    pub likes_total: u64,
    /// Gifts of the session (each gift message counts its `count`).
    pub gifts_total: u64,
    /// The session's top gifters, most gifts first, at most [`TOP_GIFTERS`].
    pub top_gifters: Vec<TopGifter>,
}

/// One minute of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsMinute {
    /// The minute's first second.
    pub at: i64,
    /// The highest online count sampled in the minute (0: none sampled).
    pub online: u64,
    /// Messages accepted in the minute.
    pub messages: u64,
}

/// A gifter and their gifts in the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopGifter {
    /// The gifter.
    pub user_id: String,
    /// Their nick now (empty when they have none).
    pub nick: String,
    /// Gifts sent in the session.
    pub gifts: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{CustomPayload, TextPayload};

    fn custom(data: &str, extension: &str) -> Body {
        Body::Custom(CustomPayload {
            data: data.into(),
            description: "rocket".into(),
            extension: extension.into(),
        })
    }

    #[test]
    fn gift_counts_are_read_defaulted_and_clamped() {
        for (ext, n) in [
            (r#"{"count":3}"#, 3),
            (r#"{"count":"12"}"#, 12),
            (r#"{"count":2.9}"#, 2),
            (r#"{"count":0}"#, 1),
            (r#"{"count":-5}"#, 1),
            (r#"{"count":10000}"#, GIFT_COUNT_MAX),
            (r#"{"count":1e300}"#, GIFT_COUNT_MAX),
            (r#"{"count":"many"}"#, 1),
            (r#"{"count":null}"#, 1),
            (r#"{"count":[2]}"#, 1),
            (r#"{"other":4}"#, 1),
            ("", 1),
            ("not json", 1),
            ("[1,2]", 1),
        ] {
            assert_eq!(gift_count(ext), n, "{ext}");
        }
    }

    #[test]
    fn what_each_send_counts_as() {
        let text = Body::Text(TextPayload { text: "hi".into() });
        assert_eq!(counted(&text), Counted::Message);
        assert_eq!(counted(&custom("like", "")), Counted::Like);
        assert_eq!(counted(&custom("dianzan", "")), Counted::Like);
        assert_eq!(counted(&custom("gift", r#"{"count":5}"#)), Counted::Gift(5));
        assert_eq!(counted(&custom("gift", "")), Counted::Gift(1));
        assert_eq!(counted(&custom("vote", "")), Counted::Message);
        assert_eq!(counted(&custom("Like", "")), Counted::Message, "exact data");
        assert_eq!(counted(&custom(PUSH_STOPPED, "")), Counted::Nothing);
    }

    #[test]
    fn the_wire_is_snake_case() {
        let stats = RoomStats {
            room_id: "r".into(),
            minutes: vec![StatsMinute::default()],
            top_gifters: vec![TopGifter::default()],
            ..RoomStats::default()
        };
        let v = serde_json::to_value(&stats).unwrap();
        for key in [
            "room_id",
            "started_at",
            "at",
            "online",
            "peak_online",
            "minutes",
            "messages_last_minute",
            "messages_total",
            "likes_total",
            "gifts_total",
            "top_gifters",
        ] {
            assert!(v.get(key).is_some(), "{key}: {v}");
        }
        assert!(v["top_gifters"][0].get("user_id").is_some());
        assert_eq!(serde_json::from_value::<RoomStats>(v).unwrap(), stats);
    }
}
