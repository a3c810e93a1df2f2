//! UserSig: the login token of Tencent's TLSSigAPIv2, signed and verified.
//!
//! A UserSig is a JSON document (`TLS.ver`, `TLS.identifier`, `TLS.sdkappid`, `TLS.time`,
//! `TLS.expire`, optional `TLS.userbuf`, `TLS.sig`), zlib-compressed, then base64 with
//! `+`→`*`, `/`→`-`, `=`→`_`. `TLS.sig` is the base64 HMAC-SHA256, keyed by the app's secret
//! key, of the lines `TLS.identifier:..\nTLS.sdkappid:..\nTLS.time:..\nTLS.expire:..\n`
//! (and `TLS.userbuf:..\n` when present).
//!
//! The official libraries differ in key order, whitespace and zlib level, so a sig is verified
//! by decoding and recomputing the HMAC, never by comparing strings.

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Number, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Default validity of a generated UserSig: 180 days, as the official libraries.
pub const DEFAULT_EXPIRE_SECS: i64 = 180 * 86_400;

/// Largest UserSig accepted; real ones are a few hundred bytes.
const MAX_SIG_LEN: usize = 4096;
/// Largest inflated document accepted (guards against zlib bombs).
const MAX_DOC_LEN: u64 = 16 * 1024;

/// Why a UserSig was refused. [`SigError::code`] gives the SPEC §5 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigError {
    /// `now > time + expire`.
    #[error("UserSig expired at {expired_at} (unix seconds)")]
    Expired {
        /// When it expired.
        expired_at: i64,
    },
    /// Not base64, not zlib, not the expected JSON.
    #[error("UserSig is malformed: {0}")]
    Malformed(&'static str),
    /// The HMAC does not match (wrong key, or tampered).
    #[error("UserSig signature does not match")]
    BadSignature,
    /// Signed for another user.
    #[error("UserSig was made for userID '{signed}', not '{given}'")]
    UserMismatch {
        /// The userID inside the sig.
        signed: String,
        /// The userID logging in.
        given: String,
    },
    /// Signed for another app.
    #[error("UserSig was made for SDKAppID {signed}, not {given}")]
    AppMismatch {
        /// The SDKAppID inside the sig.
        signed: u64,
        /// The SDKAppID of the connection.
        given: u64,
    },
}

impl SigError {
    /// The numeric code: 70001 expired, 70003 malformed, 70009 signature, 70013 user,
    /// 70014 app.
    pub fn code(&self) -> u32 {
        match self {
            Self::Expired { .. } => 70001,
            Self::Malformed(_) => 70003,
            Self::BadSignature => 70009,
            Self::UserMismatch { .. } => 70013,
            Self::AppMismatch { .. } => 70014,
        }
    }
}

/// The fields of a decoded UserSig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigDoc {
    /// `TLS.identifier`: the userID.
    pub identifier: String,
    /// `TLS.sdkappid`.
    pub sdk_app_id: u64,
    /// `TLS.time`: when it was made, unix seconds.
    pub time: i64,
    /// `TLS.expire`: validity in seconds.
    pub expire: i64,
    /// `TLS.userbuf`, base64 as signed.
    pub userbuf: Option<String>,
    /// `TLS.sig`, base64.
    pub sig: String,
}

impl SigDoc {
    /// Unix seconds after which the sig is expired.
    pub fn expires_at(&self) -> i64 {
        self.time.saturating_add(self.expire)
    }
}

/// Current unix time in seconds.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Makes a UserSig for `user_id` valid for `expire` seconds from now.
pub fn gen_usersig(sdk_app_id: u64, key: &str, user_id: &str, expire: i64) -> String {
    gen_usersig_at(sdk_app_id, key, user_id, now_secs(), expire, None)
}

/// Makes a UserSig with an explicit time and optional userbuf (for tests and tools).
pub fn gen_usersig_at(
    sdk_app_id: u64,
    key: &str,
    user_id: &str,
    time: i64,
    expire: i64,
    userbuf: Option<&[u8]>,
) -> String {
    let userbuf = userbuf.map(|b| STANDARD.encode(b));
    let sig = hmac_base64(key, user_id, sdk_app_id, time, expire, userbuf.as_deref());
    let mut doc = serde_json::Map::new();
    doc.insert("TLS.ver".into(), "2.0".into());
    doc.insert("TLS.identifier".into(), user_id.into());
    doc.insert("TLS.sdkappid".into(), sdk_app_id.into());
    doc.insert("TLS.expire".into(), expire.into());
    doc.insert("TLS.time".into(), time.into());
    if let Some(userbuf) = userbuf {
        doc.insert("TLS.userbuf".into(), userbuf.into());
    }
    doc.insert("TLS.sig".into(), sig.into());
    let json = Value::Object(doc).to_string();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(json.as_bytes());
    let compressed = z.finish().unwrap_or_default();
    to_url_safe(&STANDARD.encode(compressed))
}

/// Decodes a UserSig without checking it (to read its SDKAppID or userID).
pub fn decode(usersig: &str) -> Result<SigDoc, SigError> {
    if usersig.is_empty() || usersig.len() > MAX_SIG_LEN {
        return Err(SigError::Malformed("wrong length"));
    }
    let compressed = STANDARD
        .decode(from_url_safe(usersig))
        .map_err(|_| SigError::Malformed("not base64"))?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(MAX_DOC_LEN)
        .read_to_end(&mut json)
        .map_err(|_| SigError::Malformed("not zlib"))?;
    let doc: Value = serde_json::from_slice(&json).map_err(|_| SigError::Malformed("not JSON"))?;
    let identifier = doc
        .get("TLS.identifier")
        .and_then(Value::as_str)
        .ok_or(SigError::Malformed("no TLS.identifier"))?
        .to_owned();
    let sdk_app_id = number(&doc, "TLS.sdkappid", Number::as_u64)?;
    let time = number(&doc, "TLS.time", Number::as_i64)?;
    let expire = number(&doc, "TLS.expire", Number::as_i64)?;
    // Present means signed, even when empty: the official libraries sign the userbuf line
    // exactly when they write the field.
    let userbuf = match doc.get("TLS.userbuf") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(SigError::Malformed("TLS.userbuf is not a string")),
    };
    let sig = doc
        .get("TLS.sig")
        .and_then(Value::as_str)
        .ok_or(SigError::Malformed("no TLS.sig"))?
        .to_owned();
    Ok(SigDoc {
        identifier,
        sdk_app_id,
        time,
        expire,
        userbuf,
        sig,
    })
}

/// Verifies `usersig` for (`sdk_app_id`, `key`, `user_id`) at time `now` (unix seconds).
/// Checks, in order: app, user, expiry, then the HMAC in constant time.
pub fn verify(
    usersig: &str,
    sdk_app_id: u64,
    key: &str,
    user_id: &str,
    now: i64,
) -> Result<SigDoc, SigError> {
    let doc = decode(usersig)?;
    if doc.sdk_app_id != sdk_app_id {
        return Err(SigError::AppMismatch {
            signed: doc.sdk_app_id,
            given: sdk_app_id,
        });
    }
    if doc.identifier != user_id {
        return Err(SigError::UserMismatch {
            signed: doc.identifier,
            given: user_id.to_owned(),
        });
    }
    if now > doc.expires_at() {
        return Err(SigError::Expired {
            expired_at: doc.expires_at(),
        });
    }
    let expected = hmac_base64(
        key,
        &doc.identifier,
        doc.sdk_app_id,
        doc.time,
        doc.expire,
        doc.userbuf.as_deref(),
    );
    if bool::from(expected.as_bytes().ct_eq(doc.sig.as_bytes())) {
        Ok(doc)
    } else {
        Err(SigError::BadSignature)
    }
}

/// The text that is signed, exactly as TLSSigAPIv2 builds it.
fn content_to_sign(
    user_id: &str,
    sdk_app_id: u64,
    time: i64,
    expire: i64,
    userbuf: Option<&str>,
) -> String {
    let mut s = format!(
        "TLS.identifier:{user_id}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    if let Some(b) = userbuf {
        s.push_str("TLS.userbuf:");
        s.push_str(b);
        s.push('\n');
    }
    s
}

fn hmac_base64(
    key: &str,
    user_id: &str,
    sdk_app_id: u64,
    time: i64,
    expire: i64,
    userbuf: Option<&str>,
) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(content_to_sign(user_id, sdk_app_id, time, expire, userbuf).as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Official libraries write numbers; some tools write numeric strings. Accept both. The
/// SDKAppID is read as a `u64` (what [`gen_usersig_at`] signs), times as `i64`.
fn number<T: std::str::FromStr>(
    doc: &Value,
    field: &'static str,
    from_json: fn(&Number) -> Option<T>,
) -> Result<T, SigError> {
    match doc.get(field) {
        Some(Value::Number(n)) => from_json(n).ok_or(SigError::Malformed("number out of range")),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| SigError::Malformed("field is not a number")),
        _ => Err(SigError::Malformed("missing numeric field")),
    }
}

fn to_url_safe(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

fn from_url_safe(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: u64 = 1_400_000_000;
    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    /// Made by the official Python TLSSigAPIv2 (tweblive-reference.md §7).
    const PYTHON_SIG: &str = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjRDiJZm5EFEzS0tDAyO4eHFmOsiGdP-81HBD42JDS7f0yjyLoPIc1xL9Ip-scuPyKp9CS1-t4EKnpIgQz7S8QFulWgAoqDP8";

    #[test]
    fn official_python_vector_verifies() {
        let doc = verify(PYTHON_SIG, APP, KEY, "xiaojun", 1_569_910_200 + 60).unwrap();
        assert_eq!(doc.sig, "gOoeW13s19Fgyn8RwlEt/rLkw3wzLq9M+SqBbXTIfnQ=");
        assert_eq!(doc.expires_at(), 1_569_910_200 + 15_552_000);
    }

    #[test]
    fn official_vector_is_expired_today() {
        let err = verify(PYTHON_SIG, APP, KEY, "xiaojun", now_secs()).unwrap_err();
        assert_eq!(err.code(), 70001);
    }

    #[test]
    fn our_sig_matches_python_hmac() {
        let ours = gen_usersig_at(APP, KEY, "xiaojun", 1_569_910_200, 15_552_000, None);
        let doc = decode(&ours).unwrap();
        assert_eq!(doc.sig, "gOoeW13s19Fgyn8RwlEt/rLkw3wzLq9M+SqBbXTIfnQ=");
    }

    #[test]
    fn userbuf_is_signed() {
        let sig = gen_usersig_at(APP, KEY, "u1", now_secs(), 60, Some(b"abc"));
        let doc = verify(&sig, APP, KEY, "u1", now_secs()).unwrap();
        assert_eq!(doc.userbuf.as_deref(), Some("YWJj"));
    }

    /// Found by fuzzing (tests/fuzz, target usersig): an empty userbuf was signed but read
    /// back as absent, so the sig never verified.
    #[test]
    fn empty_userbuf_is_signed_too() {
        let sig = gen_usersig_at(APP, KEY, "u1", now_secs(), 60, Some(b""));
        let doc = verify(&sig, APP, KEY, "u1", now_secs()).unwrap();
        assert_eq!(doc.userbuf.as_deref(), Some(""));
    }

    /// Found by fuzzing (tests/fuzz, target usersig): SDKAppIDs above `i64::MAX` were signed
    /// but refused as "number out of range" when read back.
    #[test]
    fn any_u64_sdk_app_id_round_trips() {
        let sig = gen_usersig_at(u64::MAX, KEY, "u1", now_secs(), 60, None);
        let doc = verify(&sig, u64::MAX, KEY, "u1", now_secs()).unwrap();
        assert_eq!(doc.sdk_app_id, u64::MAX);
    }

    #[test]
    fn mismatches_have_their_codes() {
        let now = now_secs();
        let sig = gen_usersig(APP, KEY, "alice", 3600);
        assert!(verify(&sig, APP, KEY, "alice", now).is_ok());
        assert_eq!(
            verify(&sig, APP, "other-key", "alice", now)
                .unwrap_err()
                .code(),
            70009
        );
        assert_eq!(
            verify(&sig, APP, KEY, "bob", now).unwrap_err().code(),
            70013
        );
        assert_eq!(
            verify(&sig, APP + 1, KEY, "alice", now).unwrap_err().code(),
            70014
        );
        assert_eq!(
            verify(&sig, APP, KEY, "alice", now + 3601)
                .unwrap_err()
                .code(),
            70001
        );
        assert_eq!(
            verify("garbage!", APP, KEY, "alice", now)
                .unwrap_err()
                .code(),
            70003
        );
        assert_eq!(
            verify("", APP, KEY, "alice", now).unwrap_err().code(),
            70003
        );
    }

    #[test]
    fn forged_document_is_refused() {
        // Re-sign a longer expiry with the wrong key: decodes fine, HMAC fails.
        let forged = gen_usersig_at(APP, "guess", "alice", now_secs(), 999_999, None);
        assert_eq!(
            verify(&forged, APP, KEY, "alice", now_secs()).unwrap_err(),
            SigError::BadSignature
        );
    }
}
