//! The one error type commands return. It reaches JS as `{code, message}`, the shape of TIM's
//! `imError`, so the TWebLive layer can reject with it unchanged.

use liveroom_proto::{code, ApiError};
use serde::Serialize;

/// A command's failure: a SPEC §5 code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("error {code}: {message}")]
pub struct CmdError {
    /// One of `liveroom_proto::code`.
    pub code: u32,
    /// What went wrong.
    pub message: String,
}

/// What every command returns.
pub type CmdResult<T> = Result<T, CmdError>;

impl CmdError {
    /// An error with this code and message.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// 10004: a parameter is wrong; the message names it.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMETER, message)
    }

    /// 5000: the app itself failed (file system, server start); the message says how.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL, message)
    }
}

impl From<ApiError> for CmdError {
    fn from(e: ApiError) -> Self {
        Self::new(e.code, e.message)
    }
}

impl From<std::io::Error> for CmdError {
    fn from(e: std::io::Error) -> Self {
        Self::internal(e.to_string())
    }
}
