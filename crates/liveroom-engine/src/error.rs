//! Client-side errors. The public API reports every failure as the protocol's [`ApiError`]
//! (code + message, SPEC §5) so callers branch on one type, whether the server or the engine
//! refused.

use liveroom_proto::{code, ApiError};

/// 2800: the socket could not be opened or was lost while the call was in flight.
pub(crate) fn network(message: impl Into<String>) -> ApiError {
    ApiError::new(code::NETWORK, message)
}

/// 2801: no reply within the request timeout.
pub(crate) fn timeout(what: &str, secs: u64) -> ApiError {
    ApiError::new(
        code::TIMEOUT,
        format!("{what}: no reply from the server within {secs} s"),
    )
}

/// 2999: the call needs a login.
pub(crate) fn not_logged_in() -> ApiError {
    ApiError::new(code::NOT_LOGGED_IN, "not logged in: call login first")
}

/// 2100: sending to a room this engine has not entered.
pub(crate) fn not_in_room(room_id: &str) -> ApiError {
    ApiError::new(
        code::NOT_IN_ROOM,
        format!("not in room '{room_id}': call enter_room first"),
    )
}

/// A reply the engine could not read: the server and engine disagree on the protocol.
pub(crate) fn bad_reply(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::new(code::INTERNAL, format!("unexpected reply to {what}: {err}"))
}
