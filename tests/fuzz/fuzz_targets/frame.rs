//! The frame decoder, on any text a peer can send in a WebSocket text frame.
//!
//! As the server reads a client's frame (`connection.rs::handle_text`): `ClientFrame` by
//! serde, and when that fails, the frame as a JSON value and its `id` by the lenient scanner
//! (so the error frame can name it). Then the checks the server runs on the fields it read.
//! As the engine reads the server's frames: `ServerFrame` by serde.
//!
//! Besides "never panics", it checks what callers rely on: a parsed frame serializes and
//! parses back to itself, and the lenient `id` never contradicts the one serde read.

#![no_main]

use libfuzzer_sys::fuzz_target;
use liveroom_proto::lenient::frame_id;
use liveroom_proto::{
    limits, moderation, Body, ClientFrame, CreateRoomOptions, ModRequest, Priority, Request,
    ServerFrame,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // Text frames are UTF-8: tungstenite refuses anything else before our code sees it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    client_frame(text);
    server_frame(text);
});

fn client_frame(text: &str) {
    let lenient_id = frame_id(text);
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => {
            // A raw key spelled `"id"` is the one serde read (an escaped spelling such as
            // `"\u0069d"` is serde's only, hence `None` is allowed).
            if let Some(id) = lenient_id {
                assert_eq!(id, frame.id, "lenient id disagrees with the parsed frame");
            }
            let _ = frame.request.op();
            check_fields(&frame.request);
            let again = serde_json::to_string(&frame).expect("a parsed frame serializes");
            let back: ClientFrame = serde_json::from_str(&again).expect("and parses back");
            assert_eq!(back, frame, "client frame round trip");
        }
        Err(_) => {
            // What `explain_bad_frame` reads to say which field is wrong.
            if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) {
                if let Some(Value::String(p)) = obj.get("priority") {
                    let _ = p.parse::<Priority>();
                }
            }
        }
    }
}

/// The validators the server applies to a request's fields.
fn check_fields(req: &Request) {
    match req {
        Request::Hello { .. } | Request::Logout | Request::GetProfile | Request::Ping => {}
        Request::Login { user_id, user_sig } => {
            let _ = limits::check_user_id(user_id);
            let _ = liveroom_usersig::decode(user_sig);
        }
        Request::CreateRoom(opts) => create_room(opts),
        Request::EnterRoom { room_id, .. }
        | Request::ExitRoom { room_id }
        | Request::GetRoomStats { room_id } => {
            let _ = limits::check_room_id(room_id);
        }
        Request::SetProfile { nick, avatar } => {
            if let Some(n) = nick {
                let _ = limits::check_len("nick", n, limits::NICK_MAX);
            }
            if let Some(a) = avatar {
                let _ = limits::check_len("avatar", a, limits::AVATAR_MAX);
            }
        }
        Request::SendText { room_id, text, .. } => {
            let _ = limits::check_room_id(room_id);
            let _ = limits::check_text(text);
            blocked(text);
        }
        Request::SendCustom {
            room_id,
            data,
            description,
            extension,
            ..
        } => {
            let _ = limits::check_room_id(room_id);
            let _ = limits::check_message_size(
                data.len()
                    .saturating_add(description.len())
                    .saturating_add(extension.len()),
            );
        }
        Request::SendImage { room_id, uuid, .. } => {
            let _ = limits::check_room_id(room_id);
            let _ = limits::check_len("uuid", uuid, 64);
        }
        Request::StopPush {
            room_id,
            postscript,
        } => {
            let _ = limits::check_room_id(room_id);
            let _ = limits::check_text(postscript);
        }
        Request::Moderation(m) => check_moderation(m),
    }
}

/// The validators the server applies to a moderation request's fields.
fn check_moderation(req: &ModRequest) {
    let _ = req.required_role();
    match req {
        ModRequest::MuteAll { .. } => {}
        ModRequest::DismissRoom { room_id }
        | ModRequest::GetAuditLog { room_id, .. }
        | ModRequest::GetRestrictions { room_id } => {
            let _ = limits::check_room_id(room_id);
        }
        ModRequest::MuteMember {
            room_id,
            user_id,
            seconds,
            reason,
        } => {
            member(room_id, user_id);
            let _ = moderation::check_mute_secs(*seconds);
            let _ = moderation::check_reason(reason);
        }
        ModRequest::BanMember {
            room_id,
            user_id,
            seconds,
            reason,
        } => {
            member(room_id, user_id);
            let _ = moderation::check_ban_secs(*seconds);
            let _ = moderation::check_reason(reason);
        }
        ModRequest::KickMember {
            room_id,
            user_id,
            reason,
        } => {
            member(room_id, user_id);
            let _ = moderation::check_reason(reason);
        }
        ModRequest::UnmuteMember { room_id, user_id }
        | ModRequest::UnbanMember { room_id, user_id }
        | ModRequest::ChangeOwner { room_id, user_id }
        | ModRequest::SetAdmin {
            room_id, user_id, ..
        }
        | ModRequest::GetMember { room_id, user_id } => member(room_id, user_id),
        ModRequest::DeleteMessage {
            room_id, reason, ..
        } => {
            let _ = limits::check_room_id(room_id);
            let _ = moderation::check_reason(reason);
        }
        ModRequest::SetSlowMode { room_id, seconds } => {
            let _ = limits::check_room_id(room_id);
            let _ = moderation::check_slow_mode(*seconds);
        }
        ModRequest::BlockedWords { room_id, word, .. } => {
            let _ = limits::check_room_id(room_id);
            if let Some(w) = word {
                let _ = moderation::check_blocked_word(w);
                blocked(w);
            }
        }
        ModRequest::EditRoom {
            room_id,
            name,
            notification,
            introduction,
            avatar,
        } => {
            let _ = limits::check_room_id(room_id);
            if let Some(n) = name {
                let _ = limits::check_room_name(n);
            }
            for (field, value, max) in [
                ("notification", notification, limits::NOTIFICATION_MAX),
                ("introduction", introduction, limits::INTRODUCTION_MAX),
                ("avatar", avatar, limits::AVATAR_MAX),
            ] {
                if let Some(v) = value {
                    let _ = limits::check_len(field, v, max);
                }
            }
        }
    }
}

fn create_room(opts: &CreateRoomOptions) {
    let _ = limits::check_room_name(&opts.name);
    if let Some(id) = &opts.room_id {
        let _ = limits::check_custom_room_id(id);
    }
    let _ = limits::check_len("notification", &opts.notification, limits::NOTIFICATION_MAX);
    let _ = limits::check_len("introduction", &opts.introduction, limits::INTRODUCTION_MAX);
    let _ = limits::check_len("avatar", &opts.avatar, limits::AVATAR_MAX);
}

fn member(room_id: &str, user_id: &str) {
    let _ = limits::check_room_id(room_id);
    let _ = limits::check_user_id(user_id);
}

/// Blocked-word matching of a text against words taken from itself. Folding is idempotent:
/// words are stored folded, and folding them again must not change what they block.
fn blocked(text: &str) {
    let folded = moderation::normalize(text);
    assert_eq!(
        moderation::normalize(&folded),
        folded,
        "folding is not idempotent"
    );
    let words: Vec<String> = text
        .split_whitespace()
        .take(8)
        .map(moderation::normalize)
        .collect();
    let _ = moderation::find_blocked(text, &words);
}

fn server_frame(text: &str) {
    let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else {
        return;
    };
    if let ServerFrame::Messages { list, .. } = &frame {
        for m in list {
            let _ = m.event_name();
            if let Body::Text(t) = &m.body {
                let _ = limits::check_text(&t.text);
            }
        }
    }
    let again = serde_json::to_string(&frame).expect("a parsed frame serializes");
    let back: ServerFrame = serde_json::from_str(&again).expect("and parses back");
    match (&back, &frame) {
        (ServerFrame::Reply { id: a, data: x }, ServerFrame::Reply { id: b, data: y }) => {
            assert_eq!(a, b, "reply id round trip");
            assert!(same(x, y), "reply data round trip: {x} vs {y}");
        }
        _ => assert_eq!(back, frame, "server frame round trip"),
    }
}

/// Equal JSON values, floats within a few ULPs: serde_json's default float parsing is
/// best-effort (exact only with its `float_roundtrip` feature), so a printed float may read
/// back one ULP away.
fn same(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => a == b || (a - b).abs() <= a.abs().max(b.abs()) * 1e-15,
                _ => false,
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => x == y,
    }
}
