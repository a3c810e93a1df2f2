//! Login checks: userID rules and UserSig verification, mapped to SPEC §5 codes.

use liveroom_proto::{code, limits, ApiError};

/// A verified UserSig's times (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verified {
    /// When it was made (`TLS.time`).
    pub(crate) issued_at: i64,
    /// When it expires.
    pub(crate) expires_at: i64,
}

/// Verifies a login.
pub(crate) fn verify_login(
    sdk_app_id: u64,
    secret: &str,
    user_id: &str,
    user_sig: &str,
    now: i64,
) -> Result<Verified, ApiError> {
    limits::check_user_id(user_id)?;
    liveroom_usersig::verify(user_sig, sdk_app_id, secret, user_id, now)
        .map(|doc| Verified {
            issued_at: doc.time,
            expires_at: doc.expires_at(),
        })
        .map_err(|e| ApiError::new(e.code(), e.to_string()))
}

/// Refuses a UserSig issued at or before the user's last kick through the REST API
/// (`revoked_at`, 0: never), with 70001 as for an expired one: the remedy is the same,
/// a freshly minted UserSig. `TLS.time` has one-second resolution, so one minted in the
/// kick's own second is refused too.
pub(crate) fn check_not_revoked(sig: Verified, revoked_at: i64) -> Result<(), ApiError> {
    if revoked_at > 0 && sig.issued_at <= revoked_at {
        return Err(ApiError::new(
            code::USERSIG_EXPIRED,
            format!(
                "this UserSig (made at {}) was revoked when the user was kicked at {revoked_at}: log in with a UserSig made after it",
                sig.issued_at
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let now = liveroom_usersig::now_secs();
        let sig = liveroom_usersig::gen_usersig(5, "k", "alice", 60);
        assert!(verify_login(5, "k", "alice", &sig, now).unwrap().expires_at >= now + 59);
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

    #[test]
    fn a_usersig_made_up_to_the_kick_is_refused_and_a_later_one_is_not() {
        let sig = |issued_at| Verified {
            issued_at,
            expires_at: issued_at + 60,
        };
        assert!(check_not_revoked(sig(100), 0).is_ok(), "never kicked");
        assert_eq!(
            check_not_revoked(sig(99), 100).unwrap_err().code,
            code::USERSIG_EXPIRED
        );
        assert_eq!(
            check_not_revoked(sig(100), 100).unwrap_err().code,
            code::USERSIG_EXPIRED,
            "the kick's own second"
        );
        assert!(check_not_revoked(sig(101), 100).is_ok());
    }
}
