//! Tencent IM's server-side wire shapes, shared by the REST API ([`crate::rest`]) and the
//! webhooks: the `{ActionStatus, ErrorCode, ErrorInfo}` envelope and the `MsgBody` elements
//! (`{"MsgType": "TIMTextElem", "MsgContent": {"Text": ...}}`), with their mapping to and
//! from a Liveroom message [`Body`].
//!
//! Liveroom's messages carry one element each; Tencent's `MsgBody` is a list, so a list of
//! more than one element is refused with a clear error rather than cut.

use liveroom_proto::{code, limits, ApiError, Body, CustomPayload, ImagePayload, TextPayload};
use serde::{Deserialize, Serialize};

/// `ActionStatus` of a success.
pub(crate) const OK: &str = "OK";
/// `ActionStatus` of a failure.
pub(crate) const FAIL: &str = "FAIL";

/// Tencent's envelope: every REST answer and every webhook reply has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// `OK` or `FAIL`.
    #[serde(rename = "ActionStatus", default)]
    pub(crate) action_status: String,
    /// 0 on success.
    #[serde(rename = "ErrorCode", default)]
    pub(crate) error_code: i64,
    /// Why it failed.
    #[serde(rename = "ErrorInfo", default)]
    pub(crate) error_info: String,
}

impl Envelope {
    /// The envelope of a success.
    pub(crate) fn ok() -> Self {
        Self {
            action_status: OK.into(),
            error_code: 0,
            error_info: String::new(),
        }
    }

    /// The envelope of a failure.
    pub(crate) fn fail(e: &ApiError) -> Self {
        Self {
            action_status: FAIL.into(),
            error_code: i64::from(e.code),
            error_info: e.message.clone(),
        }
    }
}

/// One element of a `MsgBody`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "MsgType", content = "MsgContent")]
pub(crate) enum MsgElem {
    /// `TIMTextElem`: `{Text}`.
    #[serde(rename = "TIMTextElem")]
    Text {
        /// The text.
        #[serde(rename = "Text")]
        text: String,
    },
    /// `TIMCustomElem`: `{Data, Desc, Ext, Sound}` (`Sound` is ignored: no push here).
    #[serde(rename = "TIMCustomElem")]
    Custom {
        /// App-defined data.
        #[serde(rename = "Data", default)]
        data: String,
        /// App-defined description.
        #[serde(rename = "Desc", default)]
        desc: String,
        /// App-defined extension.
        #[serde(rename = "Ext", default)]
        ext: String,
    },
    /// `TIMImageElem`: `{UUID, ImageFormat, ImageInfoArray}`.
    #[serde(rename = "TIMImageElem")]
    Image {
        /// The picture's ID.
        #[serde(rename = "UUID")]
        uuid: String,
        /// JPG=1, GIF=2, PNG=3, BMP=4.
        #[serde(rename = "ImageFormat", default)]
        image_format: u8,
        /// Original (Type 1), large (2), small (3).
        #[serde(rename = "ImageInfoArray", default)]
        image_info_array: Vec<ImageInfoElem>,
    },
}

/// One size of a `TIMImageElem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageInfoElem {
    /// 1 original, 2 large, 3 small.
    #[serde(rename = "Type")]
    pub(crate) kind: u8,
    /// Bytes.
    #[serde(rename = "Size", default)]
    pub(crate) size: u64,
    /// Pixels.
    #[serde(rename = "Width", default)]
    pub(crate) width: u32,
    /// Pixels.
    #[serde(rename = "Height", default)]
    pub(crate) height: u32,
    /// Where to download it.
    #[serde(rename = "URL", default)]
    pub(crate) url: String,
}

/// A message's body as Tencent writes it: a list of one element (group tips have none).
pub(crate) fn msg_body(body: &Body) -> Vec<MsgElem> {
    match body {
        Body::Text(t) => vec![MsgElem::Text {
            text: t.text.clone(),
        }],
        Body::Custom(c) => vec![MsgElem::Custom {
            data: c.data.clone(),
            desc: c.description.clone(),
            ext: c.extension.clone(),
        }],
        Body::Image(i) => vec![MsgElem::Image {
            uuid: i.uuid.clone(),
            image_format: i.image_format,
            image_info_array: i
                .image_info_array
                .iter()
                .map(|s| ImageInfoElem {
                    kind: s.size_type,
                    size: s.size,
                    width: s.width,
                    height: s.height,
                    url: s.url.clone(),
                })
                .collect(),
        }],
        // No MsgBody element: tips, and notices (sent by `send_group_system_notification`).
        Body::GroupTip(_) | Body::GroupSystemNotice(_) => Vec::new(),
    }
}

/// How a `TIMImageElem`'s picture is found: by its UUID among the uploaded pictures.
pub(crate) type FindImage<'a> = &'a dyn Fn(&str) -> Option<ImagePayload>;

/// The Liveroom body of a `MsgBody` (exactly one text, custom or image element), checked
/// against the message limits. `field` names the list in errors (`MsgBody`).
pub(crate) fn body_of(
    field: &str,
    elems: &[MsgElem],
    find_image: FindImage<'_>,
) -> Result<Body, ApiError> {
    let elem = match elems {
        [one] => one,
        [] => return Err(ApiError::invalid(format!("{field}: no message element"))),
        _ => {
            return Err(ApiError::invalid(format!(
                "{field}: {} elements; a Liveroom message carries exactly one",
                elems.len()
            )))
        }
    };
    match elem {
        MsgElem::Text { text } => {
            limits::check_text(text).map_err(|e| too_long(field, e))?;
            Ok(Body::Text(TextPayload { text: text.clone() }))
        }
        MsgElem::Custom { data, desc, ext } => {
            limits::check_message_size(data.len() + desc.len() + ext.len())
                .map_err(|e| too_long(field, e))?;
            Ok(Body::Custom(CustomPayload {
                data: data.clone(),
                description: desc.clone(),
                extension: ext.clone(),
            }))
        }
        MsgElem::Image { uuid, .. } => find_image(uuid).map(Body::Image).ok_or_else(|| {
            ApiError::invalid(format!(
                "{field}[0].MsgContent.UUID: no uploaded picture has UUID '{uuid}'; upload it first (POST /upload)"
            ))
        }),
    }
}

/// The limits' "too long" as Tencent's REST code for it (80002), naming the field.
fn too_long(field: &str, e: ApiError) -> ApiError {
    let code = if e.code == code::MESSAGE_TOO_LONG {
        MESSAGE_TOO_LONG
    } else {
        e.code
    };
    ApiError::new(code, format!("{field}: {}", e.message))
}

/// Tencent's REST code for a message over its size limit.
pub(crate) const MESSAGE_TOO_LONG: u32 = 80002;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_images(_: &str) -> Option<ImagePayload> {
        None
    }

    #[test]
    fn elements_read_and_write_tencents_shape() {
        let elems: Vec<MsgElem> = serde_json::from_value(json!([
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "gift", "Desc": "rose", "Ext": "3", "Sound": "x"}}
        ]))
        .expect("a custom element");
        let body = body_of("MsgBody", &elems, &no_images).expect("one element");
        assert_eq!(
            body,
            Body::Custom(CustomPayload {
                data: "gift".into(),
                description: "rose".into(),
                extension: "3".into()
            })
        );
        assert_eq!(
            serde_json::to_value(msg_body(&body)).expect("json"),
            json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "gift", "Desc": "rose", "Ext": "3"}}])
        );
    }

    #[test]
    fn one_element_exactly_and_within_the_limit() {
        let text = |t: &str| MsgElem::Text { text: t.into() };
        let two = body_of("MsgBody", &[text("a"), text("b")], &no_images)
            .expect_err("two elements are refused");
        assert_eq!(two.code, code::INVALID_PARAMETER);
        assert!(two.message.contains("exactly one"), "{}", two.message);
        let long = "x".repeat(limits::MESSAGE_MAX + 1);
        let e = body_of("MsgBody", &[text(&long)], &no_images).expect_err("too long");
        assert_eq!(e.code, MESSAGE_TOO_LONG);
        let e = body_of(
            "MsgBody",
            &[MsgElem::Image {
                uuid: "nope".into(),
                image_format: 1,
                image_info_array: Vec::new(),
            }],
            &no_images,
        )
        .expect_err("an unknown picture");
        assert!(e.message.contains("UUID"), "{}", e.message);
    }
}
