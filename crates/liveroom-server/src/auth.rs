//! Login checks: userID rules and UserSig verification, mapped to SPEC §5 codes.

use liveroom_proto::{limits, ApiError};

/// Verifies a login; returns when the UserSig expires (unix seconds).
pub(crate) fn verify_login(
    sdk_app_id: u64,
    secret: &str,
    user_id: &str,
    user_sig: &str,
    now: i64,
) -> Result<i64, ApiError> {
    limits::check_user_id(user_id)?;
    liveroom_usersig::verify(user_sig, sdk_app_id, secret, user_id, now)
        .map(|doc| doc.expires_at())
        .map_err(|e| ApiError::new(e.code(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_proto::code;

    #[test]
    fn codes() {
        let now = liveroom_usersig::now_secs();
        let sig = liveroom_usersig::gen_usersig(5, "k", "alice", 60);
        assert!(verify_login(5, "k", "alice", &sig, now).unwrap() >= now + 59);
        assert_eq!(
            verify_login(5, "x", "alice", &sig, now).unwrap_err().code,
            code::USERSIG_BAD_SIGNATURE
        );
        assert_eq!(
            verify_login(5, "k", "bob", &sig, now).unwrap_err().code,
            code::USERSIG_USER_MISMATCH
        );
        assert_eq!(
            verify_login(5, "k", "a b", &sig, now).unwrap_err().code,
            code::INVALID_PARAMETER
        );
        assert_eq!(
            verify_login(5, "k", "alice", &sig, now + 61)
                .unwrap_err()
                .code,
            code::USERSIG_EXPIRED
        );
    }
}
