//! `Group.CallbackBeforeSendMsg`'s reply, decided: `ErrorCode` 0 lets the message through
//! (with its `MsgBody` replaced when the reply carries one), 1 refuses it with 10016, 2 drops
//! it silently, a code in [10100, 10200] refuses it with that code and the backend's
//! `ErrorInfo`. Anything else is a failed callback, which the on-timeout policy decides.

use liveroom_proto::{ApiError, Body};

use super::backend::Failure;
use super::bodies::BeforeSendReply;
use crate::tim::{self, FindImage, MsgElem};

/// Tencent's code for a message the app's backend refused (`ErrorCode` 1).
pub(crate) const REFUSED: u32 = 10016;
/// Tencent's code for a message whose before-send callback failed or timed out, under the
/// policy "refuse" (`--callback-on-timeout refuse`).
pub(crate) const NOT_VETTED: u32 = 80003;
/// The codes a backend may refuse with, passed on to the sender with its `ErrorInfo`.
pub(crate) const CUSTOM_CODES: std::ops::RangeInclusive<i64> = 10_100..=10_200;

/// What happens to a message after its before-send callback.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Sent as it is.
    Allow,
    /// Sent with this body instead.
    Replace(Body),
    /// Refused: the sender gets this error.
    Refuse(ApiError),
    /// Not sent, and the sender is not told (its answer looks like a success).
    Drop,
}

/// The verdict of a 200 reply's body for a message whose body is `original`.
pub(super) fn decide(
    reply: &[u8],
    original: &Body,
    find_image: FindImage<'_>,
) -> Result<Verdict, Failure> {
    let reply: BeforeSendReply =
        serde_json::from_slice(reply).map_err(|e| Failure::BadReply(e.to_string()))?;
    let info = reply.error_info.trim();
    match reply.error_code {
        0 => match replacement(reply.msg_body, find_image)? {
            Some(body) if body != *original => Ok(Verdict::Replace(body)),
            Some(_) | None => Ok(Verdict::Allow),
        },
        1 => Ok(Verdict::Refuse(ApiError::new(
            REFUSED,
            if info.is_empty() {
                "the app's backend refused the message".to_owned()
            } else {
                format!("the app's backend refused the message: {info}")
            },
        ))),
        2 => Ok(Verdict::Drop),
        code if CUSTOM_CODES.contains(&code) => Ok(Verdict::Refuse(ApiError::new(
            // In 10100..=10200.
            u32::try_from(code).unwrap_or(REFUSED),
            if info.is_empty() {
                format!("the app's backend refused the message ({code})")
            } else {
                info.to_owned()
            },
        ))),
        other => Err(Failure::Unusable(format!(
            "ErrorCode {other}: expected 0, 1, 2 or 10100..=10200"
        ))),
    }
}

/// The body a reply's `MsgBody` replaces the message's with (none when absent, null or
/// empty), checked like any message: one element, within the limits.
fn replacement(
    msg_body: Option<serde_json::Value>,
    find_image: FindImage<'_>,
) -> Result<Option<Body>, Failure> {
    let elems: Vec<MsgElem> = match msg_body {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| Failure::Unusable(format!("MsgBody of the reply: {e}")))?,
    };
    if elems.is_empty() {
        return Ok(None);
    }
    tim::body_of("MsgBody of the reply", &elems, find_image)
        .map(Some)
        .map_err(|e| Failure::Unusable(e.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_proto::{limits, CustomPayload, ImagePayload, TextPayload};
    use serde_json::json;

    fn text(t: &str) -> Body {
        Body::Text(TextPayload { text: t.into() })
    }

    fn no_images(_: &str) -> Option<ImagePayload> {
        None
    }

    fn verdict(reply: serde_json::Value) -> Result<Verdict, Failure> {
        decide(reply.to_string().as_bytes(), &text("hello"), &no_images)
    }

    #[test]
    fn allow_refuse_drop_and_custom_codes() {
        let ok = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
        assert_eq!(verdict(ok).unwrap(), Verdict::Allow);
        let refused = verdict(json!({"ActionStatus": "OK", "ErrorCode": 1, "ErrorInfo": ""}));
        let Verdict::Refuse(e) = refused.unwrap() else {
            panic!("refused")
        };
        assert_eq!(e.code, 10016);
        let refused = verdict(json!({"ErrorCode": 1, "ErrorInfo": "spam"})).unwrap();
        assert!(
            matches!(refused, Verdict::Refuse(e) if e.code == 10016 && e.message.ends_with(": spam"))
        );
        assert_eq!(verdict(json!({"ErrorCode": 2})).unwrap(), Verdict::Drop);
        let custom =
            verdict(json!({"ActionStatus": "OK", "ErrorCode": 10101, "ErrorInfo": "banned word"}));
        assert_eq!(
            custom.unwrap(),
            Verdict::Refuse(ApiError::new(10101, "banned word"))
        );
        let edge = verdict(json!({"ErrorCode": 10200})).unwrap();
        assert!(
            matches!(edge, Verdict::Refuse(e) if e.code == 10200 && e.message.contains("10200"))
        );
        // A refusal stands whatever else its reply carries.
        let with_body = verdict(json!({"ErrorCode": 1, "MsgBody": "not a list"})).unwrap();
        assert!(matches!(with_body, Verdict::Refuse(e) if e.code == 10016));
    }

    #[test]
    fn unusable_replies_are_failures() {
        for code in [3, -1, 10099, 10201, 80003] {
            let e = verdict(json!({"ErrorCode": code})).unwrap_err();
            assert!(matches!(e, Failure::Unusable(_)), "{code}: {e}");
        }
        let e = decide(b"<html>ok</html>", &text("x"), &no_images).unwrap_err();
        assert!(matches!(e, Failure::BadReply(_)), "{e}");
        let e = decide(b"", &text("x"), &no_images).unwrap_err();
        assert!(matches!(e, Failure::BadReply(_)), "{e}");
    }

    #[test]
    fn a_reply_body_replaces_the_message_when_it_is_a_message() {
        let replaced = verdict(json!({"ErrorCode": 0, "MsgBody": [
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "he**o"}}]}));
        assert_eq!(replaced.unwrap(), Verdict::Replace(text("he**o")));
        let custom = verdict(json!({"ErrorCode": 0, "MsgBody": [
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d", "Desc": "", "Ext": ""}}]}));
        assert_eq!(
            custom.unwrap(),
            Verdict::Replace(Body::Custom(CustomPayload {
                data: "d".into(),
                description: String::new(),
                extension: String::new(),
            }))
        );
        // The same body echoed, null, or an empty list: the message as it is.
        for same in [
            json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]),
            json!(null),
            json!([]),
        ] {
            assert_eq!(
                verdict(json!({"ErrorCode": 0, "MsgBody": same})).unwrap(),
                Verdict::Allow
            );
        }
        let long = "x".repeat(limits::MESSAGE_MAX + 1);
        for bad in [
            json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": long}}]),
            json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "a"}},
                   {"MsgType": "TIMTextElem", "MsgContent": {"Text": "b"}}]),
            json!([{"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1}}]),
            json!([{"MsgType": "TIMImageElem", "MsgContent": {"UUID": "nope"}}]),
            json!("text"),
        ] {
            let e = verdict(json!({"ErrorCode": 0, "MsgBody": bad})).unwrap_err();
            assert!(matches!(e, Failure::Unusable(_)), "{e}");
        }
    }
}
