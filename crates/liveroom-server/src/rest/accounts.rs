//! `im_open_login_svc` and `profile`: accounts, nicks and avatars.

use liveroom_proto::limits;
use serde::Deserialize;

use super::{done, parse, Answer, Cx};

/// `account_import`: `UserID` (older SDKs send `Identifier`), `Nick`, `FaceUrl`.
#[derive(Debug, Deserialize)]
struct Import {
    #[serde(rename = "UserID", alias = "Identifier")]
    user_id: String,
    #[serde(rename = "Nick", default)]
    nick: Option<String>,
    #[serde(rename = "FaceUrl", default)]
    face_url: Option<String>,
}

/// Imports (or updates) one account: its profile is stored; fields not given are kept.
pub(super) async fn import(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Import = parse(body)?;
    limits::check_user_id(&req.user_id)?;
    let store = &cx.shared.store;
    let mut profile = store.profile(cx.app, req.user_id.clone()).await?;
    if let Some(nick) = req.nick {
        limits::check_len("Nick", &nick, limits::NICK_MAX)?;
        profile.nick = nick;
    }
    if let Some(face) = req.face_url {
        limits::check_len("FaceUrl", &face, limits::AVATAR_MAX)?;
        profile.avatar = face;
    }
    profile.user_id = req.user_id;
    store.save_profile(cx.app, profile).await?;
    done()
}
