//! The UserSig decoder and verifier, on anything a client can put in `login`'s `user_sig`.
//!
//! The first byte picks how the rest is used, so the fuzzer reaches past base64 and zlib:
//! - 0 mod 3: the rest is the UserSig text itself;
//! - 1 mod 3: the rest is the JSON document inside, zlib-compressed and base64'd here;
//! - 2 mod 3: the rest gives an app, times, key, user and userbuf; the sig made from them
//!   must verify for exactly those, and decode to them.
//!
//! Every decoded sig is also verified with its own app, user and time (reaching the HMAC),
//! and at the end of time (expired, unless it never expires).

#![no_main]

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use liveroom_usersig::{decode, gen_usersig_at, verify, SigError};

const KEY: &str = "fuzz-secret-key";
/// `decode`'s length limit (real sigs are a few hundred bytes).
const MAX_SIG_LEN: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => check(&String::from_utf8_lossy(rest)),
        1 => check(&encode(rest)),
        _ => round_trip(rest),
    }
});

/// Decodes and verifies; neither may panic, and they must agree.
fn check(sig: &str) {
    let decoded = decode(sig);
    let verified = verify(sig, 1_400_000_000, KEY, "fuzz", 0);
    if let Err(e) = &decoded {
        assert_eq!(verified.as_ref().err(), Some(e), "verify decodes first");
        let _ = e.code();
        let _ = e.to_string();
        return;
    }
    let Ok(doc) = decoded else { return };
    let _ = doc.expires_at();
    for now in [doc.time, i64::MAX] {
        match verify(sig, doc.sdk_app_id, KEY, &doc.identifier, now) {
            Ok(v) => assert_eq!(v, doc, "verify returns what decode read"),
            Err(e) => {
                let _ = e.code();
                assert!(
                    matches!(e, SigError::Expired { .. } | SigError::BadSignature),
                    "app and user match, so only expiry or the HMAC may fail: {e:?}"
                );
            }
        }
    }
}

/// Encodes a document as a UserSig: zlib, base64, then TLSSigAPIv2's URL-safe substitutions.
fn encode(doc: &[u8]) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(doc).expect("writing to a Vec");
    let compressed = z.finish().expect("writing to a Vec");
    STANDARD
        .encode(compressed)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// A sig made by `gen_usersig_at` verifies for what it was made for, and decodes to it.
fn round_trip(rest: &[u8]) {
    if rest.len() < 24 {
        return;
    }
    let (nums, text) = rest.split_at(24);
    let num = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&nums[i * 8..i * 8 + 8]);
        b
    };
    let app = u64::from_le_bytes(num(0));
    let time = i64::from_le_bytes(num(1));
    let expire = i64::from_le_bytes(num(2));
    let mut parts = text.splitn(3, |&b| b == 0);
    let key = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let user = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let userbuf = parts.next();

    let sig = gen_usersig_at(app, &key, &user, time, expire, userbuf);
    // Small enough for decode's limits: the sig's length, and the inflated document's.
    let small = user.len() + userbuf.map_or(0, <[u8]>::len) <= 512;
    if sig.len() > MAX_SIG_LEN || !small {
        let _ = verify(&sig, app, &key, &user, time);
        return;
    }
    let doc = decode(&sig).expect("a generated sig decodes");
    assert_eq!(doc.identifier, *user);
    assert_eq!(doc.sdk_app_id, app);
    assert_eq!((doc.time, doc.expire), (time, expire));
    let buf = userbuf.map(|b| STANDARD.encode(b));
    assert_eq!(doc.userbuf, buf);

    let now = time;
    let verified = verify(&sig, app, &key, &user, now);
    if now > doc.expires_at() {
        assert!(
            matches!(verified, Err(SigError::Expired { .. })),
            "{verified:?}"
        );
    } else {
        assert_eq!(verified, Ok(doc), "a fresh sig verifies with its own key");
        let wrong_key = format!("{key}x");
        assert_eq!(
            verify(&sig, app, &wrong_key, &user, now),
            Err(SigError::BadSignature),
            "another key is refused"
        );
    }
}
