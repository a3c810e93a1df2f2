//! Error codes (SPEC §5, following TIM where TIM has one) and the error value on the wire.

use serde::{Deserialize, Serialize};

/// Numeric error codes. Clients branch on these, so they never change meaning.
pub mod code {
    /// UserSig expired.
    pub const USERSIG_EXPIRED: u32 = 70001;
    /// UserSig malformed (not base64, not zlib, not the JSON document).
    pub const USERSIG_MALFORMED: u32 = 70003;
    /// UserSig signature does not match.
    pub const USERSIG_BAD_SIGNATURE: u32 = 70009;
    /// userID in the UserSig differs from the one logging in.
    pub const USERSIG_USER_MISMATCH: u32 = 70013;
    /// SDKAppID in the UserSig differs from the connection's.
    pub const USERSIG_APP_MISMATCH: u32 = 70014;
    /// The server knows no such SDKAppID.
    pub const UNKNOWN_SDKAPPID: u32 = 70020;
    /// The call needs a login.
    pub const NOT_LOGGED_IN: u32 = 2999;
    /// A parameter is invalid; the message says which.
    pub const INVALID_PARAMETER: u32 = 10004;
    /// Too many operations of a kind in a short time (room creations).
    pub const FREQUENCY_LIMIT: u32 = 10006;
    /// The caller may not do this.
    pub const NO_PERMISSION: u32 = 10007;
    /// The room does not exist (or was dismissed).
    pub const ROOM_NOT_FOUND: u32 = 10010;
    /// The room ID is not a valid room ID.
    pub const ROOM_ID_INVALID: u32 = 10015;
    /// The caller is muted.
    pub const MUTED: u32 = 10017;
    /// The room ID is taken by someone else.
    pub const ROOM_ID_TAKEN: u32 = 10021;
    /// Over the room's send budget or the user's rate limit.
    pub const RATE_LIMITED: u32 = 10023;
    /// The room ID is taken, by the caller.
    pub const ROOM_ID_TAKEN_BY_YOU: u32 = 10025;
    /// The caller owns as many rooms as it may.
    pub const ROOM_QUOTA: u32 = 10036;
    /// A text contains a blocked word.
    pub const BLOCKED_WORD: u32 = 80001;
    /// A message is over 8 KB.
    pub const MESSAGE_TOO_LONG: u32 = 93000;
    /// Sending to a room the caller has not entered.
    pub const NOT_IN_ROOM: u32 = 2100;
    /// Not a JPG/PNG/GIF/BMP picture.
    pub const IMAGE_TYPE: u32 = 2252;
    /// Picture over 20 MB.
    pub const IMAGE_TOO_LARGE: u32 = 2253;
    /// Network error (client side).
    pub const NETWORK: u32 = 2800;
    /// Timeout (client side).
    pub const TIMEOUT: u32 = 2801;
    /// The server failed internally; the message says nothing secret.
    pub const INTERNAL: u32 = 5000;
    /// The server cannot reach its store (cluster mode: Redis) for now; nothing was done,
    /// try again (Tencent IM's "internal error, retry").
    pub const UNAVAILABLE: u32 = 10002;
}

/// An error with a numeric code and a human-readable message, as TIM's `imError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("error {code}: {message}")]
pub struct ApiError {
    /// One of [`code`].
    pub code: u32,
    /// What went wrong, naming the field when a parameter is at fault.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// 10004 for the named parameter.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMETER, message)
    }
}
