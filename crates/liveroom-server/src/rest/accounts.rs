//! `im_open_login_svc` and `profile`: accounts, nicks and avatars.
//!
//! An account exists once it was imported (`account_import`, `multiaccount_import`), once
//! its user logged in (as Tencent IM's first login imports the account), or once it was
//! given a profile. `kick` refuses every UserSig issued up to that moment (70001 at the next
//! login) and ends the user's session wherever it is; `portrait_set` reaches the user's
//! session too, so its next message carries the new nick and avatar.

use std::collections::{HashMap, HashSet};

use liveroom_proto::{limits, ApiError, KickReason, Profile};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{done, fields, parse, Answer, Cx};
use crate::session::Signal;

/// Tencent's codes for these commands.
mod codes {
    /// `kick`: the account does not exist.
    pub(super) const ACCOUNT_NOT_FOUND: u32 = 70107;
    /// `portrait_get`: `To_Account` missing or empty.
    pub(super) const PROFILE_NO_TO_ACCOUNT: u32 = 40002;
    /// The profile's account does not exist.
    pub(super) const PROFILE_NO_ACCOUNT: u32 = 40003;
    /// No such profile tag (or one Liveroom does not keep: custom and friend fields).
    pub(super) const PROFILE_UNKNOWN_TAG: u32 = 40009;
    /// A profile value over its length.
    pub(super) const PROFILE_TOO_LONG: u32 = 40601;
    /// A profile value of the wrong type.
    pub(super) const PROFILE_VALUE_TYPE: u32 = 40610;
}

/// Most accounts one batch command takes (Tencent's limit).
const BATCH_MAX: usize = 100;

/// The nick tag.
const NICK: &str = "Tag_Profile_IM_Nick";
/// The avatar tag.
const IMAGE: &str = "Tag_Profile_IM_Image";
/// Tencent's other standard profile tags: accepted by `portrait_set` and `portrait_get`
/// and ignored (a live room keeps only the nick and the avatar).
const IGNORED_TAGS: &[&str] = &[
    "Tag_Profile_IM_Gender",
    "Tag_Profile_IM_BirthDay",
    "Tag_Profile_IM_Location",
    "Tag_Profile_IM_SelfSignature",
    "Tag_Profile_IM_AllowType",
    "Tag_Profile_IM_Language",
    "Tag_Profile_IM_MsgSettings",
    "Tag_Profile_IM_AdminForbidType",
    "Tag_Profile_IM_Level",
    "Tag_Profile_IM_Role",
];

/// A profile tag as Liveroom treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Nick,
    Image,
    /// A standard tag Liveroom does not keep.
    Ignored,
}

impl Tag {
    /// 40009 for a tag Tencent does not define, and for custom (`Tag_Profile_Custom_*`)
    /// and friend (`Tag_Profile_SNS_*`) fields, which Liveroom does not keep.
    fn parse(tag: &str) -> Result<Self, ApiError> {
        match tag {
            NICK => Ok(Self::Nick),
            IMAGE => Ok(Self::Image),
            t if IGNORED_TAGS.contains(&t) => Ok(Self::Ignored),
            t => Err(ApiError::new(
                codes::PROFILE_UNKNOWN_TAG,
                format!("Tag '{t}': Liveroom keeps {NICK} and {IMAGE} (other standard tags are ignored; custom and friend fields are not kept)"),
            )),
        }
    }
}

/// `account_import`, and one `AccountList` entry of `multiaccount_import`: `UserID` (older
/// SDKs send `Identifier`), `Nick`, `FaceUrl`.
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
    check_import(&req)?;
    store_import(cx, req).await?;
    done()
}

/// An import's userID, nick and avatar against their limits.
fn check_import(req: &Import) -> Result<(), ApiError> {
    limits::check_user_id(&req.user_id)?;
    if let Some(nick) = &req.nick {
        limits::check_len("Nick", nick, limits::NICK_MAX)?;
    }
    if let Some(face) = &req.face_url {
        limits::check_len("FaceUrl", face, limits::AVATAR_MAX)?;
    }
    Ok(())
}

/// Stores a checked import.
async fn store_import(cx: &Cx<'_>, req: Import) -> Result<(), ApiError> {
    let store = &cx.shared.store;
    let mut profile = store.profile(cx.app, req.user_id.clone()).await?;
    if let Some(nick) = req.nick {
        profile.nick = nick;
    }
    if let Some(face) = req.face_url {
        profile.avatar = face;
    }
    profile.user_id = req.user_id;
    store.save_profile(cx.app, profile).await?;
    Ok(())
}

/// `multiaccount_import`: `Accounts` [String] (opens each account, profile untouched) and
/// `AccountList` [{`UserID`, `Nick`, `FaceUrl`}] (as `account_import` each), 100 at most.
#[derive(Debug, Deserialize)]
struct MultiImport {
    #[serde(rename = "Accounts", default)]
    accounts: Vec<String>,
    #[serde(rename = "AccountList", default)]
    account_list: Vec<Import>,
}

#[derive(Debug, Serialize)]
struct MultiImported {
    #[serde(rename = "FailAccounts")]
    fail_accounts: Vec<String>,
}

/// Imports every account it can; a bad one (its ID, its nick or avatar over the limits) is
/// named in `FailAccounts` and the others are imported. A store failure fails the call.
pub(super) async fn multi_import(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: MultiImport = parse(body)?;
    let n = req.accounts.len() + req.account_list.len();
    if n == 0 {
        return Err(ApiError::invalid(
            "Accounts or AccountList: no account to import",
        ));
    }
    if n > BATCH_MAX {
        return Err(ApiError::invalid(format!(
            "Accounts and AccountList: {n} accounts, at most {BATCH_MAX} per call"
        )));
    }
    let mut fail_accounts = Vec::new();
    for user_id in req.accounts {
        if let Err(e) = limits::check_user_id(&user_id) {
            tracing::debug!(user = %user_id, error = %e.message, "not imported");
            fail_accounts.push(user_id);
            continue;
        }
        cx.shared.store.open_account(cx.app, user_id).await?;
    }
    for entry in req.account_list {
        if let Err(e) = check_import(&entry) {
            tracing::debug!(user = %entry.user_id, error = %e.message, "not imported");
            fail_accounts.push(entry.user_id);
            continue;
        }
        store_import(cx, entry).await?;
    }
    fields(&MultiImported { fail_accounts })
}

/// `account_check`: `CheckItem` [{`UserID`}], 100 at most.
#[derive(Debug, Deserialize)]
struct Check {
    #[serde(rename = "CheckItem")]
    check_item: Vec<CheckUser>,
}

#[derive(Debug, Deserialize)]
struct CheckUser {
    #[serde(rename = "UserID", alias = "Identifier")]
    user_id: String,
}

#[derive(Debug, Serialize)]
struct Checked {
    #[serde(rename = "ResultItem")]
    result_item: Vec<CheckResult>,
}

#[derive(Debug, Serialize)]
struct CheckResult {
    #[serde(rename = "UserID")]
    user_id: String,
    #[serde(rename = "ResultCode")]
    result_code: u32,
    #[serde(rename = "ResultInfo")]
    result_info: String,
    #[serde(rename = "AccountStatus")]
    account_status: &'static str,
}

/// Whether each account exists: `Imported` once imported, logged in or given a profile. A
/// bad userID gets its own `ResultCode` (70402) and `NotImported`.
pub(super) async fn check(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Check = parse(body)?;
    let n = req.check_item.len();
    if n == 0 || n > BATCH_MAX {
        return Err(ApiError::invalid(format!(
            "CheckItem: {n} accounts, 1 to {BATCH_MAX} per call"
        )));
    }
    let valid: Vec<String> = req
        .check_item
        .iter()
        .filter(|c| limits::check_user_id(&c.user_id).is_ok())
        .map(|c| c.user_id.clone())
        .collect();
    let found = cx.shared.store.accounts(cx.app, valid.clone()).await?;
    let imported: HashSet<String> = valid
        .into_iter()
        .zip(found)
        .filter_map(|(user, profile)| profile.map(|_| user))
        .collect();
    let result_item = req
        .check_item
        .into_iter()
        .map(|c| match limits::check_user_id(&c.user_id) {
            Err(e) => CheckResult {
                user_id: c.user_id,
                result_code: super::codes::ACCOUNT_INVALID,
                result_info: e.message,
                account_status: "NotImported",
            },
            Ok(()) => CheckResult {
                account_status: if imported.contains(&c.user_id) {
                    "Imported"
                } else {
                    "NotImported"
                },
                user_id: c.user_id,
                result_code: 0,
                result_info: String::new(),
            },
        })
        .collect();
    fields(&Checked { result_item })
}

/// `kick`: `UserID` (older SDKs send `Identifier`).
#[derive(Debug, Deserialize)]
struct Kick {
    #[serde(rename = "UserID", alias = "Identifier")]
    user_id: String,
}

/// Revokes the user's UserSigs issued up to now (stored first, so it holds on every node
/// at the next login), then ends the user's session wherever it is (`REST_API_Kick`).
pub(super) async fn kick(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Kick = parse(body)?;
    limits::check_user_id(&req.user_id)?;
    let store = &cx.shared.store;
    let found = store.accounts(cx.app, vec![req.user_id.clone()]).await?;
    if !found.first().is_some_and(Option::is_some) {
        return Err(ApiError::new(
            codes::ACCOUNT_NOT_FOUND,
            format!(
                "account '{}' does not exist (never imported nor logged in)",
                req.user_id
            ),
        ));
    }
    let now = liveroom_usersig::now_secs();
    store
        .revoke_usersigs(cx.app, req.user_id.clone(), now)
        .await?;
    cx.shared
        .sessions
        .signal(cx.app, &req.user_id, Signal::Kick(KickReason::RestApi))
        .await;
    tracing::info!(app = cx.app, user = %req.user_id, admin = cx.admin, "kicked through the REST API");
    done()
}

/// One `{Tag, Value}` of a profile.
#[derive(Debug, Deserialize, Serialize)]
struct Item {
    #[serde(rename = "Tag")]
    tag: String,
    #[serde(rename = "Value")]
    value: Value,
}

/// `portrait_set`: `From_Account`, `ProfileItem` [{`Tag`, `Value`}].
#[derive(Debug, Deserialize)]
struct PortraitSet {
    #[serde(rename = "From_Account")]
    from: String,
    #[serde(rename = "ProfileItem")]
    items: Vec<Item>,
}

/// Sets the nick and the avatar of an existing account, checked whole before anything is
/// stored; the user's session gets the new profile at once.
pub(super) async fn portrait_set(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: PortraitSet = parse(body)?;
    limits::check_user_id(&req.from)?;
    if req.items.is_empty() {
        return Err(ApiError::invalid("ProfileItem: no item to set"));
    }
    let (mut nick, mut avatar) = (None, None);
    for item in &req.items {
        let (slot, max) = match Tag::parse(&item.tag)? {
            Tag::Nick => (&mut nick, limits::NICK_MAX),
            Tag::Image => (&mut avatar, limits::AVATAR_MAX),
            Tag::Ignored => continue,
        };
        let Value::String(v) = &item.value else {
            return Err(ApiError::new(
                codes::PROFILE_VALUE_TYPE,
                format!("Value of {}: a string", item.tag),
            ));
        };
        if v.len() > max {
            return Err(ApiError::new(
                codes::PROFILE_TOO_LONG,
                format!(
                    "Value of {} is {} bytes, at most {max} allowed",
                    item.tag,
                    v.len()
                ),
            ));
        }
        *slot = Some(v.clone());
    }
    let store = &cx.shared.store;
    let found = store.accounts(cx.app, vec![req.from.clone()]).await?;
    let Some(Some(mut profile)) = found.into_iter().next() else {
        return Err(ApiError::new(
            codes::PROFILE_NO_ACCOUNT,
            format!("account '{}' does not exist (import it first)", req.from),
        ));
    };
    if nick.is_none() && avatar.is_none() {
        return done();
    }
    if let Some(n) = nick {
        profile.nick = n;
    }
    if let Some(a) = avatar {
        profile.avatar = a;
    }
    store.save_profile(cx.app, profile.clone()).await?;
    let user = profile.user_id.clone();
    cx.shared
        .sessions
        .signal(cx.app, &user, Signal::Profile(profile))
        .await;
    done()
}

/// `portrait_get`: `To_Account` [String] (100 at most), `TagList` [String].
#[derive(Debug, Deserialize)]
struct PortraitGet {
    #[serde(rename = "To_Account", default)]
    to: Vec<String>,
    #[serde(rename = "TagList", default)]
    tags: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Portraits {
    #[serde(rename = "UserProfileItem")]
    user_profile_item: Vec<UserProfile>,
    #[serde(rename = "Fail_Account", skip_serializing_if = "Vec::is_empty")]
    fail_account: Vec<String>,
}

#[derive(Debug, Serialize)]
struct UserProfile {
    #[serde(rename = "To_Account")]
    to: String,
    #[serde(rename = "ProfileItem", skip_serializing_if = "Option::is_none")]
    items: Option<Vec<Item>>,
    #[serde(rename = "ResultCode")]
    result_code: u32,
    #[serde(rename = "ResultInfo")]
    result_info: String,
}

/// The asked tags of each account (in `TagList`'s order; ignored standard tags are left
/// out). An account that does not exist (40003) or a bad userID (40001) gets its own
/// `ResultCode` and is named in `Fail_Account`.
pub(super) async fn portrait_get(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: PortraitGet = parse(body)?;
    if req.to.is_empty() {
        return Err(ApiError::new(
            codes::PROFILE_NO_TO_ACCOUNT,
            "To_Account: no account given",
        ));
    }
    if req.to.len() > BATCH_MAX {
        return Err(ApiError::invalid(format!(
            "To_Account: {} accounts, at most {BATCH_MAX} per call",
            req.to.len()
        )));
    }
    if req.tags.is_empty() {
        return Err(ApiError::invalid("TagList: no tag asked"));
    }
    let tags = req
        .tags
        .iter()
        .map(|t| Tag::parse(t).map(|tag| (t, tag)))
        .collect::<Result<Vec<_>, _>>()?;
    let valid: Vec<String> = req
        .to
        .iter()
        .filter(|u| limits::check_user_id(u).is_ok())
        .cloned()
        .collect();
    let found = cx.shared.store.accounts(cx.app, valid.clone()).await?;
    let profiles: HashMap<String, Profile> = valid
        .into_iter()
        .zip(found)
        .filter_map(|(user, profile)| Some((user, profile?)))
        .collect();
    let mut fail_account = Vec::new();
    let user_profile_item = req
        .to
        .into_iter()
        .map(|to| {
            let failed = match (limits::check_user_id(&to), profiles.get(&to)) {
                (Err(e), _) => (super::codes::PROFILE_INVALID, e.message),
                (Ok(()), None) => (
                    codes::PROFILE_NO_ACCOUNT,
                    format!("account '{to}' does not exist"),
                ),
                (Ok(()), Some(profile)) => {
                    return UserProfile {
                        to,
                        items: Some(asked(&tags, profile)),
                        result_code: 0,
                        result_info: String::new(),
                    }
                }
            };
            fail_account.push(to.clone());
            UserProfile {
                to,
                items: None,
                result_code: failed.0,
                result_info: failed.1,
            }
        })
        .collect();
    fields(&Portraits {
        user_profile_item,
        fail_account,
    })
}

/// The asked tags' items of `profile`, in the asked order (ignored tags left out).
fn asked(tags: &[(&String, Tag)], profile: &Profile) -> Vec<Item> {
    tags.iter()
        .filter_map(|(name, tag)| {
            let value = match tag {
                Tag::Nick => profile.nick.clone(),
                Tag::Image => profile.avatar.clone(),
                Tag::Ignored => return None,
            };
            Some(Item {
                tag: (*name).clone(),
                value: Value::String(value),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_kept_ignored_or_refused() {
        assert_eq!(Tag::parse(NICK).unwrap(), Tag::Nick);
        assert_eq!(Tag::parse(IMAGE).unwrap(), Tag::Image);
        assert_eq!(Tag::parse("Tag_Profile_IM_Gender").unwrap(), Tag::Ignored);
        for refused in [
            "Tag_Profile_IM_Nickname",
            "Tag_Profile_Custom_Test",
            "Tag_Profile_SNS_IM_Remark",
            "",
        ] {
            assert_eq!(
                Tag::parse(refused).unwrap_err().code,
                codes::PROFILE_UNKNOWN_TAG,
                "{refused}"
            );
        }
    }
}
