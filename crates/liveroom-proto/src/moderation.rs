//! Moderation: the limits of its requests, the room events it pushes, the audit log entries,
//! and the blocked-word matching both sides agree on.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::frame::RoomInfo;

/// Shortest mute, seconds.
pub const MUTE_MIN_SECS: u64 = 1;
/// Longest mute: 14 days.
pub const MUTE_MAX_SECS: u64 = 14 * 86_400;
/// Longest timed ban (a ban without a duration is for good): 10 years.
pub const BAN_MAX_SECS: u64 = 10 * 365 * 86_400;
/// Longest slow mode, seconds (0 turns it off).
pub const SLOW_MODE_MAX_SECS: u32 = 86_400;
/// Longest blocked word, bytes.
pub const BLOCKED_WORD_MAX: usize = 100;
/// Most blocked words per room.
pub const BLOCKED_WORDS_PER_ROOM: usize = 1_000;
/// Longest moderation reason, bytes.
pub const REASON_MAX: usize = 300;
/// Most audit entries one request returns (newest first).
pub const AUDIT_PAGE_MAX: u32 = 500;

/// Checks a mute duration: 1 s to 14 days.
pub fn check_mute_secs(seconds: u64) -> Result<(), ApiError> {
    if !(MUTE_MIN_SECS..=MUTE_MAX_SECS).contains(&seconds) {
        return Err(ApiError::invalid(format!(
            "seconds is {seconds}: a mute lasts {MUTE_MIN_SECS} to {MUTE_MAX_SECS} seconds (14 days)"
        )));
    }
    Ok(())
}

/// Checks a ban duration (`None`: for good).
pub fn check_ban_secs(seconds: Option<u64>) -> Result<(), ApiError> {
    match seconds {
        Some(s) if s == 0 || s > BAN_MAX_SECS => Err(ApiError::invalid(format!(
            "seconds is {s}: a timed ban lasts 1 to {BAN_MAX_SECS} seconds; omit it to ban for good"
        ))),
        _ => Ok(()),
    }
}

/// Checks a slow-mode interval: 0 (off) to a day.
pub fn check_slow_mode(seconds: u32) -> Result<(), ApiError> {
    if seconds > SLOW_MODE_MAX_SECS {
        return Err(ApiError::invalid(format!(
            "seconds is {seconds}: slow mode is 0 (off) to {SLOW_MODE_MAX_SECS} seconds"
        )));
    }
    Ok(())
}

/// Checks a reason: at most [`REASON_MAX`] bytes.
pub fn check_reason(reason: &str) -> Result<(), ApiError> {
    crate::limits::check_len("reason", reason, REASON_MAX)
}

/// Checks a blocked word: not blank after normalizing, at most [`BLOCKED_WORD_MAX`] bytes.
pub fn check_blocked_word(word: &str) -> Result<(), ApiError> {
    if normalize(word).trim().is_empty() {
        return Err(ApiError::invalid("word is empty"));
    }
    crate::limits::check_len("word", word, BLOCKED_WORD_MAX)
}

/// Folds a text for blocked-word matching: default-ignorable code points (zero-width spaces
/// and joiners, soft hyphens, bidi controls, variation selectors, ...: see
/// [`is_default_ignorable`]) are removed, since they are invisible and would split a word
/// (`sp\u{200B}am`); full-width forms U+FF01..U+FF5E become their ASCII counterparts, the
/// ideographic space U+3000 a space; then everything is lowercased.
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !is_default_ignorable(*c))
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `c` has Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt,
/// as of Unicode 14): code points shown as nothing when not supported, reserved ones included.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The first of `words` (already [`normalize`]d) that `text` contains, if any.
pub fn find_blocked<'a, I>(text: &str, words: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a String>,
{
    let folded = normalize(text);
    words
        .into_iter()
        .find(|w| !w.is_empty() && folded.contains(w.as_str()))
        .map(String::as_str)
}

/// A user's standing in a room, weakest first. Sent with `enter_room`'s reply so clients
/// know which tools to offer; the server checks every action against it anyway.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Not logged in.
    #[default]
    Guest,
    /// Logged in, nothing more.
    Member,
    /// Appointed by the owner.
    Admin,
    /// Named in the server's settings: moderates every room of the app.
    AppAdmin,
    /// Created the room.
    Owner,
}

impl Role {
    /// Whether this role may moderate the room (mute, kick, ban, delete, settings, audit).
    pub fn moderates(self) -> bool {
        self >= Self::Admin
    }
}

/// A moderation event pushed to a room (`{"t":"room_event","room":...,"event":{...}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomEvent {
    /// A message was deleted: clients remove it from view.
    MessageDeleted {
        /// The message's `ID`.
        message_id: String,
    },
    /// A member was muted until `until` (unix seconds); `0` means unmuted.
    Muted {
        /// The member.
        user_id: String,
        /// Unix seconds; 0 when the mute was lifted.
        until: i64,
    },
    /// This connection's user was removed from the room (sent to that user only).
    Kicked {
        /// The member.
        user_id: String,
        /// Why, as the moderator said.
        reason: String,
        /// Whether a ban came with it.
        banned: bool,
        /// End of the ban (unix seconds); `None` when not banned or banned for good.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<i64>,
    },
    /// A member was removed by a moderator (sent to everyone in the room; the member also
    /// gets [`RoomEvent::Kicked`] with the reason).
    MemberRemoved {
        /// The member.
        user_id: String,
        /// Whether a ban came with it.
        banned: bool,
    },
    /// A member was appointed admin (`admin: true`) or removed as one.
    AdminChanged {
        /// The member.
        user_id: String,
        /// Admin now or not.
        admin: bool,
    },
    /// The room's profile changed.
    ProfileUpdated {
        /// The new profile.
        info: RoomInfo,
    },
    /// Mute-all or slow mode changed.
    SettingsUpdated {
        /// The new settings.
        settings: RoomSettings,
    },
    /// The room is dismissed: every member is removed, the room is gone.
    Dismissed,
}

/// A room's moderation settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    /// Only the owner and admins may speak.
    #[serde(rename = "muteAll")]
    pub mute_all: bool,
    /// Seconds between one member's messages (0: off).
    #[serde(rename = "slowMode")]
    pub slow_mode: u32,
}

/// What `blocked_words` requests do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordsAction {
    /// Add a word.
    Add,
    /// Remove a word.
    Remove,
    /// List the words.
    List,
}

/// Reply to `blocked_words`: the room's words after the change, and the app-wide ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedWords {
    /// The room.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// The room's own words, sorted.
    pub room: Vec<String>,
    /// Words the server's settings block in every room of the app.
    pub app: Vec<String>,
}

/// One audit-log row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing row ID.
    pub id: i64,
    /// Unix seconds.
    pub time: i64,
    /// Who acted.
    pub actor: String,
    /// Whom or what it concerned (a userID, a message ID, a word; empty for the room).
    pub target: String,
    /// The request's op, e.g. `mute_member`.
    pub action: String,
    /// The moderator's reason.
    pub reason: String,
    /// Action-specific details as JSON text (durations, new values, ...).
    pub details: String,
}

/// Reply to `get_member`: where a user stands in a room, for a moderator's user card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStanding {
    /// The user.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// The user's role in the room.
    pub role: Role,
    /// In the room now, on some connection.
    pub in_room: bool,
    /// End of the user's mute (unix seconds), if muted now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<i64>,
    /// Banned from the room now.
    pub banned: bool,
    /// End of the ban (unix seconds) if it is timed; absent for a ban for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banned_until: Option<i64>,
}

/// A muted or banned member and until when (absent: a ban for good).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restricted {
    /// The member.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// End of the mute or ban (unix seconds); absent for a ban for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

/// Reply to `get_restrictions`: who is an admin, muted or banned in a room now, sorted by user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restrictions {
    /// Appointed admins.
    pub admins: Vec<String>,
    /// Members muted now.
    pub muted: Vec<Restricted>,
    /// Members banned now.
    pub banned: Vec<Restricted>,
}

/// Reply to the moderation requests that change something: what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationReply {
    /// The room.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// The op.
    pub action: String,
    /// The member or message concerned, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// End of a mute or ban (unix seconds), if timed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_and_case() {
        assert_eq!(normalize("ＳＰＡＭ\u{3000}ｘ！"), "spam x!");
        let words = vec![normalize("Spam")];
        assert_eq!(find_blocked("buy ＳＰＡＭ now", &words), Some("spam"));
        assert_eq!(find_blocked("sPaM", &words), Some("spam"));
        assert_eq!(find_blocked("ham", &words), None);
        let words = vec![normalize("ｂａｄ word")];
        assert_eq!(
            find_blocked("a BAD\u{3000}WORD here", &words),
            Some("bad word")
        );
    }

    #[test]
    fn invisible_characters_do_not_split_a_word() {
        let words = vec![normalize("spam")];
        for text in [
            "sp\u{200B}am",         // zero-width space
            "sp\u{00AD}am",         // soft hyphen
            "s\u{200C}p\u{200D}am", // zero-width non-joiner and joiner
            "\u{2060}spam\u{FEFF}", // word joiner, zero-width no-break space
            "sp\u{202E}am\u{202C}", // bidi override
            "s\u{FE0F}pam",         // variation selector
            "sp\u{E0020}am",        // tag space
            "ＳＰ\u{200B}ＡＭ",     // and full-width
        ] {
            assert_eq!(find_blocked(text, &words), Some("spam"), "{text:?}");
        }
        assert_eq!(normalize("a\u{200B}\u{00AD}b"), "ab");
        // A word that is nothing but invisible characters is refused as empty.
        assert!(check_blocked_word("\u{200B}\u{00AD}").is_err());
        // Visible neighbours are not ignorable.
        for c in [
            '\u{00AC}',
            '\u{00AE}',
            '\u{2010}',
            '\u{2070}',
            '\u{E1000}',
            ' ',
            'a',
        ] {
            assert!(!is_default_ignorable(c), "{c:?}");
        }
    }

    #[test]
    fn durations() {
        assert!(check_mute_secs(0).is_err());
        assert!(check_mute_secs(1).is_ok());
        assert!(check_mute_secs(14 * 86_400).is_ok());
        assert!(check_mute_secs(14 * 86_400 + 1).is_err());
        assert!(check_ban_secs(None).is_ok());
        assert!(check_ban_secs(Some(0)).is_err());
        assert!(check_slow_mode(0).is_ok());
        assert!(check_slow_mode(86_401).is_err());
        assert!(check_blocked_word("\u{3000}").is_err());
    }

    #[test]
    fn event_wire_shape() {
        let e = RoomEvent::MessageDeleted {
            message_id: "m".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"kind":"message_deleted","message_id":"m"}"#
        );
        let d: RoomEvent = serde_json::from_str(r#"{"kind":"dismissed"}"#).unwrap();
        assert_eq!(d, RoomEvent::Dismissed);
        let a = RoomEvent::AdminChanged {
            user_id: "u".into(),
            admin: true,
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"kind":"admin_changed","user_id":"u","admin":true}"#
        );
    }

    #[test]
    fn roles_order_and_names() {
        assert!(Role::Owner > Role::AppAdmin && Role::AppAdmin > Role::Admin);
        assert!(Role::Admin.moderates() && !Role::Member.moderates() && !Role::Guest.moderates());
        assert_eq!(
            serde_json::to_string(&Role::AppAdmin).unwrap(),
            r#""app_admin""#
        );
    }
}
