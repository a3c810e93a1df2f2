//! Field limits (SPEC §5) and their validators. The server enforces them; the engine checks
//! them too, so that bad input fails fast with the same code and message.

use crate::error::{code, ApiError};

/// userID: at most 32 bytes of `[A-Za-z0-9_-]`.
pub const USER_ID_MAX: usize = 32;
/// Custom room ID: printable ASCII, at most 48 bytes, no space at either end, not starting
/// with [`AUTO_ROOM_PREFIX`].
pub const ROOM_ID_MAX: usize = 48;
/// Prefix of server-chosen room IDs.
pub const AUTO_ROOM_PREFIX: &str = "@TGS#";
/// Room name, bytes.
pub const ROOM_NAME_MAX: usize = 100;
/// Room notification, bytes.
pub const NOTIFICATION_MAX: usize = 300;
/// Room introduction, bytes.
pub const INTRODUCTION_MAX: usize = 240;
/// Avatar URL (room and profile), bytes.
pub const AVATAR_MAX: usize = 100;
/// Nick, bytes.
pub const NICK_MAX: usize = 500;
/// Text and custom messages, bytes (custom: data + description + extension).
pub const MESSAGE_MAX: usize = 8 * 1024;
/// Pictures, bytes.
pub const IMAGE_MAX: u64 = 20 * 1024 * 1024;
/// Largest WebSocket frame a client may send; anything bigger closes the connection.
pub const CLIENT_FRAME_MAX: usize = 64 * 1024;

/// Checks a userID.
pub fn check_user_id(user_id: &str) -> Result<(), ApiError> {
    if user_id.is_empty() {
        return Err(ApiError::invalid("userID is empty"));
    }
    if user_id.len() > USER_ID_MAX {
        return Err(ApiError::invalid(format!(
            "userID is {} bytes, at most {USER_ID_MAX} allowed",
            user_id.len()
        )));
    }
    if !user_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApiError::invalid(
            "userID may only contain letters, digits, '_' and '-'",
        ));
    }
    Ok(())
}

/// Checks a room ID used to address an existing room (auto IDs allowed). Spaces are allowed
/// inside it but not at either end (an ID of only spaces included), so `"r"` and `"r "` can
/// never be two rooms that look the same.
pub fn check_room_id(room_id: &str) -> Result<(), ApiError> {
    if room_id.is_empty() {
        return Err(ApiError::new(code::ROOM_ID_INVALID, "roomID is empty"));
    }
    if room_id.trim_matches(' ').is_empty() {
        return Err(ApiError::new(
            code::ROOM_ID_INVALID,
            "roomID is only spaces",
        ));
    }
    if room_id.starts_with(' ') || room_id.ends_with(' ') {
        return Err(ApiError::new(
            code::ROOM_ID_INVALID,
            "roomID must not start or end with a space",
        ));
    }
    if room_id.len() > ROOM_ID_MAX {
        return Err(ApiError::new(
            code::ROOM_ID_INVALID,
            format!(
                "roomID is {} bytes, at most {ROOM_ID_MAX} allowed",
                room_id.len()
            ),
        ));
    }
    if !room_id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(ApiError::new(
            code::ROOM_ID_INVALID,
            "roomID must be printable ASCII",
        ));
    }
    Ok(())
}

/// Checks a room ID chosen by a client for a new room.
pub fn check_custom_room_id(room_id: &str) -> Result<(), ApiError> {
    check_room_id(room_id)?;
    if room_id.starts_with(AUTO_ROOM_PREFIX) {
        return Err(ApiError::new(
            code::ROOM_ID_INVALID,
            format!("roomID must not start with {AUTO_ROOM_PREFIX}"),
        ));
    }
    Ok(())
}

/// Checks that `value` of field `name` is at most `max` bytes.
pub fn check_len(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid(format!(
            "{name} is {} bytes, at most {max} allowed",
            value.len()
        )));
    }
    Ok(())
}

/// Checks a room name: required, at most [`ROOM_NAME_MAX`] bytes.
pub fn check_room_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name is required"));
    }
    check_len("name", name, ROOM_NAME_MAX)
}

/// Checks a text message: not empty, at most 8 KB (93000).
pub fn check_text(text: &str) -> Result<(), ApiError> {
    if text.is_empty() {
        return Err(ApiError::invalid("text is empty"));
    }
    check_message_size(text.len())
}

/// Checks a message body size: at most 8 KB (93000).
pub fn check_message_size(bytes: usize) -> Result<(), ApiError> {
    if bytes > MESSAGE_MAX {
        return Err(ApiError::new(
            code::MESSAGE_TOO_LONG,
            format!("message is {bytes} bytes, at most {MESSAGE_MAX} allowed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        assert!(check_user_id("alice_01-x").is_ok());
        assert_eq!(check_user_id("").unwrap_err().code, code::INVALID_PARAMETER);
        assert!(check_user_id("a b").is_err());
        assert!(check_user_id("é").is_err());
        assert!(check_user_id(&"a".repeat(32)).is_ok());
        assert!(check_user_id(&"a".repeat(33)).is_err());
    }

    #[test]
    fn room_ids() {
        assert!(check_custom_room_id("room 1!").is_ok());
        assert_eq!(
            check_custom_room_id("@TGS#abc").unwrap_err().code,
            code::ROOM_ID_INVALID
        );
        assert!(check_room_id("@TGS#abc").is_ok());
        assert!(check_room_id(&"r".repeat(49)).is_err());
        assert!(check_room_id("tab\there").is_err());
        assert!(check_room_id("中文").is_err());
        assert!(check_room_id("a b").is_ok(), "inner spaces are fine");
        for id in [" ", "   ", " r", "r ", " r "] {
            let e = check_room_id(id).unwrap_err();
            assert_eq!(e.code, code::ROOM_ID_INVALID, "{id:?}");
            assert!(e.message.contains("space"), "{id:?}: {}", e.message);
            assert_eq!(
                check_custom_room_id(id).unwrap_err().code,
                code::ROOM_ID_INVALID
            );
        }
    }

    #[test]
    fn text_limits() {
        assert!(check_text(&"x".repeat(8192)).is_ok());
        assert_eq!(
            check_text(&"x".repeat(8193)).unwrap_err().code,
            code::MESSAGE_TOO_LONG
        );
        assert_eq!(check_text("").unwrap_err().code, code::INVALID_PARAMETER);
    }
}
