//! `group_open_http_svc` moderation: mute (`forbid_send_msg`), the muted list
//! (`get_group_muted_account`, and its old name `get_group_shutted_uin`), ban, unban and the
//! banned list; the kick (`delete_group_member`) is in [`super::groups`]. Each acts through
//! [`crate::moderation::handle`], once per member, with the administrator as actor: what a
//! moderator's WebSocket request does, audited the same way.

use liveroom_proto::moderation::{BAN_MAX_SECS, MUTE_MAX_SECS, REASON_MAX};
use liveroom_proto::{limits, ApiError, ModRequest, Restrictions};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{done, fields, parse, Answer, Cx};
use crate::reply::Reply;
use crate::{moderation, service};

/// Tencent's code for more accounts than a command takes.
const TOO_MANY_ACCOUNTS: u32 = 10005;
/// Most members one `forbid_send_msg` names (Tencent's limit).
const MUTE_BATCH: usize = 500;
/// Most members one `ban_group_member` or `unban_group_member` names (Tencent's limit).
const BAN_BATCH: usize = 20;
/// Tencent's "for good": `MuteTime` of a mute that never ends, and the `BannedUntil` Liveroom
/// answers for a ban that never ends.
const FOR_GOOD: u32 = u32::MAX;
/// Most entries of one `get_group_ban_member` page (Tencent's limit).
const BAN_PAGE_MAX: u32 = 100;

/// `forbid_send_msg`: `MuteTime` (docs of 2020 and before: `ShutUpTime`) in seconds.
#[derive(Debug, Deserialize)]
struct Mute {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "Members_Account")]
    members: Vec<String>,
    #[serde(rename = "MuteTime", alias = "ShutUpTime")]
    seconds: u32,
}

/// Mutes each member for `MuteTime` seconds; 0 lifts their mutes. Liveroom's longest mute
/// is 14 days: a longer `MuteTime`, and 4294967295 (Tencent's "for good"), mutes for 14 days.
pub(super) async fn mute(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Mute = parse(body)?;
    check_members("Members_Account", &req.members, MUTE_BATCH)?;
    let seconds = u64::from(req.seconds).min(MUTE_MAX_SECS);
    service::room(cx.shared, cx.app, &req.group_id).await?;
    for_each_member(&req.members, |user_id| {
        let room_id = req.group_id.clone();
        let request = match seconds {
            0 => ModRequest::UnmuteMember { room_id, user_id },
            _ => ModRequest::MuteMember {
                room_id,
                user_id,
                seconds,
                reason: String::new(),
            },
        };
        moderation::handle(cx.shared, cx.actor(), request)
    })
    .await?;
    done()
}

/// `get_group_muted_account` answers `MutedAccountList` [{`Member_Account`, `MutedUntil`}];
/// the old `get_group_shutted_uin` (`legacy`) `ShuttedUinList` [{`Member_Account`,
/// `ShuttedUntil`}]. Both with the `GroupId`, until times in unix seconds.
pub(super) async fn muted(cx: &Cx<'_>, body: &[u8], legacy: bool) -> Answer {
    let req: super::groups::OneGroup = parse(body)?;
    let restrictions = restrictions(cx, &req.group_id).await?;
    let (list, until) = match legacy {
        false => ("MutedAccountList", "MutedUntil"),
        true => ("ShuttedUinList", "ShuttedUntil"),
    };
    let entries = restrictions
        .muted
        .iter()
        .map(|m| {
            let mut entry = Map::new();
            entry.insert("Member_Account".into(), m.user_id.clone().into());
            entry.insert(until.into(), m.until.unwrap_or_default().into());
            Value::Object(entry)
        })
        .collect::<Vec<_>>();
    let mut out = Map::new();
    out.insert("GroupId".into(), req.group_id.into());
    out.insert(list.into(), entries.into());
    Ok(out)
}

/// `ban_group_member`.
#[derive(Debug, Deserialize)]
struct Ban {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "Members_Account")]
    members: Vec<String>,
    #[serde(rename = "Duration")]
    seconds: u32,
    #[serde(rename = "Description", default)]
    description: String,
}

/// Bans each member for `Duration` seconds: they are taken out of the room and cannot enter
/// it until then. Beyond Liveroom's longest timed ban (10 years; 4294967295 is 136) the ban is
/// for good. `Description` is the reason the member is shown and the audit log keeps, cut to
/// Liveroom's 300 bytes (Tencent takes 1000).
pub(super) async fn ban(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Ban = parse(body)?;
    check_members("Members_Account", &req.members, BAN_BATCH)?;
    if req.seconds == 0 {
        return Err(ApiError::invalid(
            "Duration is 0: a ban lasts 1 s or more (unban_group_member lifts one)",
        ));
    }
    let seconds = Some(u64::from(req.seconds)).filter(|s| *s <= BAN_MAX_SECS);
    let reason = cut(&req.description, REASON_MAX).to_owned();
    service::room(cx.shared, cx.app, &req.group_id).await?;
    for_each_member(&req.members, |user_id| {
        let request = ModRequest::BanMember {
            room_id: req.group_id.clone(),
            user_id,
            seconds,
            reason: reason.clone(),
        };
        moderation::handle(cx.shared, cx.actor(), request)
    })
    .await?;
    done()
}

/// `unban_group_member`.
#[derive(Debug, Deserialize)]
struct Unban {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "Members_Account")]
    members: Vec<String>,
}

/// Lifts each member's ban: they may enter again.
pub(super) async fn unban(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Unban = parse(body)?;
    check_members("Members_Account", &req.members, BAN_BATCH)?;
    service::room(cx.shared, cx.app, &req.group_id).await?;
    for_each_member(&req.members, |user_id| {
        let request = ModRequest::UnbanMember {
            room_id: req.group_id.clone(),
            user_id,
        };
        moderation::handle(cx.shared, cx.actor(), request)
    })
    .await?;
    done()
}

/// `get_group_ban_member`.
#[derive(Debug, Deserialize)]
struct BanPage {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "Offset", default)]
    offset: u32,
    #[serde(rename = "Limit", default)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct BannedPage {
    #[serde(rename = "BannedAccountList")]
    list: Vec<BannedEntry>,
    #[serde(rename = "NextOffset")]
    next_offset: u32,
}

#[derive(Debug, Serialize)]
struct BannedEntry {
    #[serde(rename = "Member_Account")]
    user_id: String,
    /// Unix seconds; 4294967295 for a ban for good.
    #[serde(rename = "BannedUntil")]
    until: i64,
}

/// The members banned now, by userID, `Limit` (at most 100, the default) from `Offset`;
/// `NextOffset` 0 when this page is the last.
pub(super) async fn banned(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: BanPage = parse(body)?;
    let limit = req.limit.unwrap_or(BAN_PAGE_MAX);
    if !(1..=BAN_PAGE_MAX).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "Limit is {limit}: a page holds 1 to {BAN_PAGE_MAX}"
        )));
    }
    let restrictions = restrictions(cx, &req.group_id).await?;
    let page = page_of(&restrictions.banned, req.offset, limit);
    fields(&BannedPage {
        list: page
            .entries
            .iter()
            .map(|b| BannedEntry {
                user_id: b.user_id.clone(),
                until: b.until.unwrap_or(i64::from(FOR_GOOD)),
            })
            .collect(),
        next_offset: page.next,
    })
}

/// One page of a list.
struct Page<'a, T> {
    entries: &'a [T],
    /// Where the next page starts; 0 when there is none.
    next: u32,
}

/// `limit` entries of `all` from `offset`.
fn page_of<T>(all: &[T], offset: u32, limit: u32) -> Page<'_, T> {
    let start = (offset as usize).min(all.len());
    let end = start.saturating_add(limit as usize).min(all.len());
    let next = match end < all.len() {
        true => u32::try_from(end).unwrap_or(0),
        false => 0,
    };
    Page {
        entries: &all[start..end],
        next,
    }
}

/// The room's admins, mutes and bans in force (a moderator's `get_restrictions`).
async fn restrictions(cx: &Cx<'_>, room_id: &str) -> Result<Restrictions, ApiError> {
    let request = ModRequest::GetRestrictions {
        room_id: room_id.to_owned(),
    };
    match moderation::handle(cx.shared, cx.actor(), request).await? {
        Reply::Restrictions(r) => Ok(r),
        _ => Err(ApiError::new(
            liveroom_proto::code::INTERNAL,
            "get_restrictions answered something else",
        )),
    }
}

/// Checks the list of members `field`: 1 to `max` valid userIDs (10005 beyond), each named
/// by its place when it is not one.
pub(super) fn check_members(field: &str, members: &[String], max: usize) -> Result<(), ApiError> {
    if members.is_empty() {
        return Err(ApiError::invalid(format!(
            "{field} is empty: name 1 member or more"
        )));
    }
    if members.len() > max {
        return Err(ApiError::new(
            TOO_MANY_ACCOUNTS,
            format!(
                "{field} names {} members: at most {max} per call",
                members.len()
            ),
        ));
    }
    for (i, user) in members.iter().enumerate() {
        limits::check_user_id(user)
            .map_err(|e| ApiError::new(e.code, format!("{field}[{i}]: {}", e.message)))?;
    }
    Ok(())
}

/// Runs `one` for each member in order. The first failure ends the call with its code,
/// naming the member and how many before it were done (those changes stand).
pub(super) async fn for_each_member<F, Fut>(members: &[String], mut one: F) -> Result<(), ApiError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, ApiError>>,
{
    for (i, user) in members.iter().enumerate() {
        if let Err(e) = one(user.clone()).await {
            let done = match i {
                0 => String::new(),
                n => format!(" (the {n} before it were done)"),
            };
            return Err(ApiError::new(
                e.code,
                format!("'{user}': {}{done}", e.message),
            ));
        }
    }
    Ok(())
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_proto::Restricted;

    fn restricted(user: &str, until: Option<i64>) -> Restricted {
        Restricted {
            user_id: user.into(),
            until,
        }
    }

    #[test]
    fn pages_end_with_next_offset_zero() {
        let all: Vec<Restricted> = ["a", "b", "c"]
            .iter()
            .map(|u| restricted(u, None))
            .collect();
        let first = page_of(&all, 0, 2);
        assert_eq!((first.entries.len(), first.next), (2, 2));
        let last = page_of(&all, first.next, 2);
        assert_eq!((last.entries.len(), last.next), (1, 0));
        let exact = page_of(&all, 0, 3);
        assert_eq!(exact.next, 0, "a full last page is the last");
        assert!(page_of(&all, 9, 2).entries.is_empty());
    }

    #[test]
    fn a_description_is_cut_on_a_character_boundary() {
        assert_eq!(cut("abc", 2), "ab");
        assert_eq!(cut("a\u{00e9}", 2), "a", "é is two bytes");
        assert_eq!(cut("short", 300), "short");
    }
}
