//! Moderation: roles, permission checks and the actions (mute, mute-all, kick, ban, delete,
//! slow mode, admins, blocked words, room profile, dismiss, audit log).
//!
//! Every action is checked here against the caller's role in the room; members and guests
//! get 10007. Each action that changes something is one atomic step, taken holding the room:
//! its change and its audit row are committed in one transaction, then the change is made in
//! memory and announced to the room (or, for a kick or a ban, to the member removed).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use liveroom_proto::moderation::{self as rules, find_blocked, normalize};
use liveroom_proto::{
    code, limits, ApiError, BlockedWords, Body, MemberStanding, ModRequest, ModerationReply,
    Restricted, Restrictions, RoomEvent, RoomSettings, ServerFrame, WordsAction,
};
use serde_json::json;

use crate::config::Config;
use crate::room::{Moderating, Room};
use crate::session::Signal;
use crate::store::{AuditRecord, ModChange, StoredModeration};
use crate::Shared;

pub use liveroom_proto::Role;

/// App-wide rules from the settings: administrators and blocked words (folded).
#[derive(Debug, Default)]
pub struct AppRules {
    admins: BTreeMap<u64, BTreeSet<String>>,
    words: BTreeMap<u64, Vec<String>>,
}

impl AppRules {
    /// The rules of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            admins: config.admins.clone(),
            words: config
                .blocked_words
                .iter()
                .map(|(app, words)| (*app, words.iter().map(|w| normalize(w)).collect()))
                .collect(),
        }
    }

    /// Whether `user` is an administrator of `app`.
    pub fn is_app_admin(&self, app: u64, user: &str) -> bool {
        self.admins.get(&app).is_some_and(|a| a.contains(user))
    }

    /// The app's blocked words, folded.
    pub fn words(&self, app: u64) -> &[String] {
        self.words.get(&app).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A room's moderation state, kept under the room's lock.
#[derive(Debug, Default)]
pub struct ModState {
    /// Appointed admins.
    pub admins: HashSet<String>,
    /// Muted members → end of the mute (unix seconds).
    mutes: HashMap<String, i64>,
    /// Banned members → end of the ban (`None`: for good).
    bans: HashMap<String, Option<i64>>,
    /// The room's blocked words, as written.
    words: BTreeSet<String>,
    /// The same, folded for matching.
    folded: Vec<String>,
    /// Mute-all and slow mode.
    pub settings: RoomSettings,
    /// When each member last sent (slow mode).
    last_sent: HashMap<String, Instant>,
}

impl ModState {
    /// The state loaded from the store.
    pub fn from_stored(stored: StoredModeration) -> Self {
        let mut state = Self {
            admins: stored.admins.into_iter().collect(),
            mutes: stored.mutes.into_iter().collect(),
            bans: stored.bans.into_iter().collect(),
            words: stored.words.into_iter().collect(),
            settings: stored.settings,
            ..Self::default()
        };
        state.refold();
        state
    }

    fn refold(&mut self) {
        self.folded = self.words.iter().map(|w| normalize(w)).collect();
    }

    /// Admins, and the mutes and bans in force at `now` (expired ones are dropped), sorted.
    pub fn restrictions(&mut self, now: i64) -> Restrictions {
        self.mutes.retain(|_, until| *until > now);
        self.bans.retain(|_, until| until.is_none_or(|t| t > now));
        let sorted = |mut v: Vec<Restricted>| {
            v.sort_by(|a, b| a.user_id.cmp(&b.user_id));
            v
        };
        let restricted = |user: &String, until| Restricted {
            user_id: user.clone(),
            until,
        };
        let mut admins: Vec<String> = self.admins.iter().cloned().collect();
        admins.sort();
        Restrictions {
            admins,
            muted: sorted(
                self.mutes
                    .iter()
                    .map(|(u, t)| restricted(u, Some(*t)))
                    .collect(),
            ),
            banned: sorted(self.bans.iter().map(|(u, t)| restricted(u, *t)).collect()),
        }
    }

    /// The end of `user`'s mute, if muted now.
    pub fn muted_until(&mut self, user: &str, now: i64) -> Option<i64> {
        match self.mutes.get(user).copied() {
            Some(until) if until > now => Some(until),
            Some(_) => {
                self.mutes.remove(user);
                None
            }
            None => None,
        }
    }

    /// `Some(end)` if `user` is banned now (`Some(None)`: for good).
    pub fn banned(&mut self, user: &str, now: i64) -> Option<Option<i64>> {
        match self.bans.get(user).copied() {
            Some(Some(until)) if until <= now => {
                self.bans.remove(user);
                None
            }
            other => other,
        }
    }

    /// Mute, mute-all, blocked words and slow mode for one send by `user`.
    pub fn check_send(
        &mut self,
        room: &str,
        user: &str,
        exempt: bool,
        body: &Body,
        app_words: &[String],
    ) -> Result<(), ApiError> {
        let now = liveroom_usersig::now_secs();
        if let Some(until) = self.muted_until(user, now) {
            return Err(ApiError::new(
                code::MUTED,
                format!(
                    "you are muted in room '{room}' until {} ({until}, {} s from now)",
                    iso_time(until),
                    until - now
                ),
            ));
        }
        if self.settings.mute_all && !exempt {
            return Err(ApiError::new(
                code::MUTED,
                format!("room '{room}' is muted: only the owner and admins may speak"),
            ));
        }
        if let Body::Text(t) = body {
            if let Some(word) = find_blocked(&t.text, self.folded.iter().chain(app_words)) {
                return Err(ApiError::new(
                    code::BLOCKED_WORD,
                    format!("the text contains the blocked word '{word}'"),
                ));
            }
        }
        let slow = u64::from(self.settings.slow_mode);
        if slow > 0 && !exempt {
            let at = Instant::now();
            if let Some(last) = self.last_sent.get(user) {
                let elapsed = at.duration_since(*last).as_millis() as u64;
                if elapsed < slow * 1000 {
                    let left = (slow * 1000 - elapsed).div_ceil(1000);
                    return Err(ApiError::new(
                        code::RATE_LIMITED,
                        format!(
                            "slow mode: wait {left} s before your next message in room '{room}' \
                             (one message every {slow} s)"
                        ),
                    ));
                }
            }
            self.last_sent.insert(user.to_owned(), at);
        }
        Ok(())
    }
}

/// `2026-11-26T12:00:00Z` for unix seconds `t`.
pub fn iso_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The caller of a moderation request.
pub(crate) struct Actor<'a> {
    /// The connection's app.
    pub app: u64,
    /// The logged-in user (None: a guest).
    pub user: Option<&'a str>,
}

fn denied(what: &str) -> ApiError {
    ApiError::new(code::NO_PERMISSION, what.to_owned())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| {
        tracing::error!(error = %e, "cannot encode reply");
        ApiError::new(code::INTERNAL, "cannot encode reply")
    })
}

/// The role of `user` in the room held by `held`.
fn role_in(shared: &Shared, app: u64, held: &Moderating<'_>, user: Option<&str>) -> Role {
    match user {
        None => Role::Guest,
        Some(user) => role_from(shared, app, user, held.is_owner(user), held.is_admin(user)),
    }
}

/// The role of logged-in `user`, given whether it owns the room and is one of its admins.
pub(crate) fn role_from(shared: &Shared, app: u64, user: &str, owner: bool, admin: bool) -> Role {
    if owner {
        Role::Owner
    } else if shared.rules.is_app_admin(app, user) {
        Role::AppAdmin
    } else if admin {
        Role::Admin
    } else {
        Role::Member
    }
}

/// The refusal (10007) of a user banned from room `room_id` until `until` (`None`: for good).
pub fn banned_from(room_id: &str, until: Option<i64>) -> ApiError {
    match until {
        None => denied(&format!("you are banned from room '{room_id}' for good")),
        Some(until) => denied(&format!(
            "you are banned from room '{room_id}' until {} ({until})",
            iso_time(until)
        )),
    }
}

/// One moderation request: checks the caller's role, acts, audits. Returns the reply JSON.
///
/// The whole request runs holding the room (see [`Moderating`]): the roles are read, the
/// action is committed with its audit row in one transaction, and only then is the change
/// made in memory and announced. A failure before the commit changes nothing; nothing after
/// it can fail.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    actor: Actor<'_>,
    req: ModRequest,
) -> Result<String, ApiError> {
    let op = req.op().as_str();
    let room_id = req.room_id().to_owned();
    limits::check_room_id(&room_id)?;
    let app = actor.app;
    let room = shared.rooms.get(app, &room_id).await?.ok_or_else(|| {
        ApiError::new(
            code::ROOM_NOT_FOUND,
            format!("room '{room_id}' does not exist"),
        )
    })?;
    let held = room.moderate().await?;
    let role = role_in(shared, app, &held, actor.user);
    let needed = req.required_role();
    let Some(me) = actor.user.filter(|_| role >= needed) else {
        let who = match needed {
            Role::Owner => "the room owner",
            Role::AppAdmin => "the room owner or an app administrator",
            Role::Admin | Role::Member | Role::Guest => {
                "the room owner, its admins or an app administrator"
            }
        };
        tracing::info!(app, room = %room_id, op = %op, user = ?actor.user, "moderation denied");
        return Err(denied(&format!("only {who} may {}", op.replace('_', " "))));
    };
    let mut ctx = Ctx {
        shared,
        app,
        room: &room,
        held,
        me,
        role,
        op,
    };
    ctx.run(req).await
}

struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    app: u64,
    room: &'a Arc<Room>,
    /// The room, held for the whole request.
    held: Moderating<'a>,
    me: &'a str,
    role: Role,
    op: &'a str,
}

impl Ctx<'_> {
    /// Commits the action: `change` and its audit row, in one transaction. The caller makes
    /// the change in memory and tells the room only after this succeeded.
    async fn commit(
        &self,
        change: ModChange,
        target: &str,
        reason: &str,
        details: serde_json::Value,
    ) -> Result<(), ApiError> {
        let record = AuditRecord {
            actor: self.me.to_owned(),
            target: target.to_owned(),
            action: self.op.to_owned(),
            reason: reason.to_owned(),
            details: details.to_string(),
        };
        self.shared
            .store
            .moderate(self.app, self.room.id().to_owned(), change, record)
            .await?;
        tracing::info!(
            app = self.app,
            room = %self.room.id(),
            actor = %self.me,
            target = %target,
            action = %self.op,
            "moderation"
        );
        Ok(())
    }

    /// Refuses acting on the owner, or on someone of equal or higher standing.
    fn check_target(&self, user: &str) -> Result<(), ApiError> {
        limits::check_user_id(user)?;
        let target = role_in(self.shared, self.app, &self.held, Some(user));
        if target == Role::Owner {
            return Err(denied("the room owner cannot be muted, kicked or banned"));
        }
        if target >= self.role {
            return Err(denied(&format!(
                "'{user}' is a moderator of this room too: only someone above them may do this"
            )));
        }
        Ok(())
    }

    fn reply(&self, target: &str, until: Option<i64>) -> Result<String, ApiError> {
        to_json(&ModerationReply {
            room_id: self.room.id().to_owned(),
            action: self.op.to_owned(),
            target: target.to_owned(),
            until,
        })
    }

    /// Removes `user` from the room on their connection, telling them why first; the room
    /// is told who was removed.
    fn remove_member(&self, user: &str, reason: &str, banned: bool, until: Option<i64>) {
        self.held.publish_event(RoomEvent::MemberRemoved {
            user_id: user.to_owned(),
            banned,
        });
        let frame = ServerFrame::RoomEvent {
            room: self.room.id().to_owned(),
            event: RoomEvent::Kicked {
                user_id: user.to_owned(),
                reason: reason.to_owned(),
                banned,
                until,
            },
        };
        if let Ok(text) = serde_json::to_string(&frame) {
            self.shared.sessions.signal(
                self.app,
                user,
                Signal::Leave {
                    room: self.room.id().to_owned(),
                    frame: text,
                },
            );
        }
    }

    /// Mute-all and slow mode: read, changed by `edit` and written back without letting go
    /// of the room, so a concurrent change of the other setting is never lost.
    async fn change_settings(
        &mut self,
        edit: impl FnOnce(&mut RoomSettings),
    ) -> Result<String, ApiError> {
        let mut settings = self.held.mods().settings;
        edit(&mut settings);
        let reply = to_json(&settings)?;
        self.commit(ModChange::Settings(settings), "", "", json!(settings))
            .await?;
        self.held.mods().settings = settings;
        self.held
            .publish_event(RoomEvent::SettingsUpdated { settings });
        Ok(reply)
    }

    async fn run(&mut self, req: ModRequest) -> Result<String, ApiError> {
        let now = liveroom_usersig::now_secs();
        match req {
            ModRequest::MuteMember {
                user_id,
                seconds,
                reason,
                ..
            } => {
                rules::check_mute_secs(seconds)?;
                rules::check_reason(&reason)?;
                self.check_target(&user_id)?;
                let until = now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX));
                let reply = self.reply(&user_id, Some(until))?;
                let change = ModChange::Mute {
                    user: user_id.clone(),
                    until,
                };
                let details = json!({"seconds": seconds, "until": until});
                self.commit(change, &user_id, &reason, details).await?;
                self.held.mods().mutes.insert(user_id.clone(), until);
                self.held.publish_event(RoomEvent::Muted { user_id, until });
                Ok(reply)
            }
            ModRequest::UnmuteMember { user_id, .. } => {
                limits::check_user_id(&user_id)?;
                let reply = self.reply(&user_id, None)?;
                let change = ModChange::Unmute {
                    user: user_id.clone(),
                };
                self.commit(change, &user_id, "", json!({})).await?;
                self.held.mods().mutes.remove(&user_id);
                self.held
                    .publish_event(RoomEvent::Muted { user_id, until: 0 });
                Ok(reply)
            }
            ModRequest::MuteAll { on, .. } => self.change_settings(|s| s.mute_all = on).await,
            ModRequest::SetSlowMode { seconds, .. } => {
                rules::check_slow_mode(seconds)?;
                self.change_settings(|s| s.slow_mode = seconds).await
            }
            ModRequest::KickMember {
                user_id, reason, ..
            } => {
                rules::check_reason(&reason)?;
                self.check_target(&user_id)?;
                let reply = self.reply(&user_id, None)?;
                self.commit(ModChange::Kick, &user_id, &reason, json!({}))
                    .await?;
                self.remove_member(&user_id, &reason, false, None);
                Ok(reply)
            }
            ModRequest::BanMember {
                user_id,
                seconds,
                reason,
                ..
            } => {
                rules::check_ban_secs(seconds)?;
                rules::check_reason(&reason)?;
                self.check_target(&user_id)?;
                let until =
                    seconds.map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX)));
                let reply = self.reply(&user_id, until)?;
                let change = ModChange::Ban {
                    user: user_id.clone(),
                    until,
                };
                let details = json!({"seconds": seconds, "until": until});
                self.commit(change, &user_id, &reason, details).await?;
                self.held.mods().bans.insert(user_id.clone(), until);
                self.remove_member(&user_id, &reason, true, until);
                Ok(reply)
            }
            ModRequest::UnbanMember { user_id, .. } => {
                limits::check_user_id(&user_id)?;
                let reply = self.reply(&user_id, None)?;
                let change = ModChange::Unban {
                    user: user_id.clone(),
                };
                self.commit(change, &user_id, "", json!({})).await?;
                self.held.mods().bans.remove(&user_id);
                Ok(reply)
            }
            ModRequest::DeleteMessage {
                message_id, reason, ..
            } => {
                rules::check_reason(&reason)?;
                if message_id.is_empty() || message_id.len() > 200 {
                    return Err(ApiError::invalid("message_id: not a message ID"));
                }
                let Some(seq) = self.held.message_in_history(&message_id) else {
                    return Err(ApiError::invalid(format!(
                        "message_id: room '{}' has no message '{message_id}' in its history",
                        self.room.id()
                    )));
                };
                let reply = self.reply(&message_id, None)?;
                let change = ModChange::DeleteMessage {
                    seq,
                    message_id: message_id.clone(),
                };
                self.commit(change, &message_id, &reason, json!({})).await?;
                self.held.forget_message(seq, &message_id);
                Ok(reply)
            }
            ModRequest::SetAdmin { user_id, admin, .. } => {
                limits::check_user_id(&user_id)?;
                if self.held.is_owner(&user_id) {
                    return Err(ApiError::invalid("user_id: the owner is not made an admin"));
                }
                let reply = self.reply(&user_id, None)?;
                let change = ModChange::Admin {
                    user: user_id.clone(),
                    admin,
                };
                self.commit(change, &user_id, "", json!({"admin": admin}))
                    .await?;
                let admins = &mut self.held.mods().admins;
                if admin {
                    admins.insert(user_id.clone());
                } else {
                    admins.remove(&user_id);
                }
                self.held
                    .publish_event(RoomEvent::AdminChanged { user_id, admin });
                Ok(reply)
            }
            ModRequest::BlockedWords { action, word, .. } => self.blocked_words(action, word).await,
            ModRequest::EditRoom {
                name,
                notification,
                introduction,
                avatar,
                ..
            } => {
                if let Some(n) = &name {
                    limits::check_room_name(n)?;
                }
                if let Some(n) = &notification {
                    limits::check_len("notification", n, limits::NOTIFICATION_MAX)?;
                }
                if let Some(i) = &introduction {
                    limits::check_len("introduction", i, limits::INTRODUCTION_MAX)?;
                }
                if let Some(a) = &avatar {
                    limits::check_len("avatar", a, limits::AVATAR_MAX)?;
                }
                let details = json!({
                    "name": name, "notification": notification,
                    "introduction": introduction, "avatar": avatar,
                });
                let mut info = self.held.info().clone();
                if let Some(n) = name {
                    info.name = n;
                }
                if let Some(n) = notification {
                    info.notification = n;
                }
                if let Some(i) = introduction {
                    info.introduction = i;
                }
                if let Some(a) = avatar {
                    info.avatar = a;
                }
                let reply = to_json(&info)?;
                self.commit(ModChange::Profile(info.clone()), "", "", details)
                    .await?;
                self.held.set_info(info);
                Ok(reply)
            }
            ModRequest::DismissRoom { .. } => {
                let reply = to_json(&json!({ "groupID": self.room.id() }))?;
                self.commit(ModChange::Dismiss, "", "", json!({})).await?;
                self.held.set_dismissed();
                self.shared.rooms.remove(self.app, self.room.id());
                Ok(reply)
            }
            ModRequest::GetAuditLog { limit, .. } => {
                let limit = limit
                    .unwrap_or(rules::AUDIT_PAGE_MAX)
                    .clamp(1, rules::AUDIT_PAGE_MAX);
                let log = self
                    .shared
                    .store
                    .audit_log(self.app, self.room.id().to_owned(), limit)
                    .await?;
                to_json(&log)
            }
            ModRequest::GetMember { user_id, .. } => {
                limits::check_user_id(&user_id)?;
                let (st, in_room) = self.held.standing_of(&user_id, now);
                to_json(&MemberStanding {
                    role: role_from(self.shared, self.app, &user_id, st.owner, st.admin),
                    in_room,
                    muted_until: st.muted_until,
                    banned: st.banned.is_some(),
                    banned_until: st.banned.flatten(),
                    user_id,
                })
            }
            ModRequest::GetRestrictions { .. } => {
                let list = self.held.mods().restrictions(now);
                to_json(&list)
            }
        }
    }

    async fn blocked_words(
        &mut self,
        action: WordsAction,
        word: Option<String>,
    ) -> Result<String, ApiError> {
        let add = match action {
            WordsAction::List => None,
            WordsAction::Add => Some(true),
            WordsAction::Remove => Some(false),
        };
        if let Some(add) = add {
            let w = word
                .map(|w| w.trim().to_owned())
                .ok_or_else(|| ApiError::invalid("word is required to add or remove"))?;
            rules::check_blocked_word(&w)?;
            let mods = self.held.mods();
            if add && !mods.words.contains(&w) && mods.words.len() >= rules::BLOCKED_WORDS_PER_ROOM
            {
                return Err(ApiError::invalid(format!(
                    "word: a room has at most {} blocked words",
                    rules::BLOCKED_WORDS_PER_ROOM
                )));
            }
            let change = ModChange::BlockedWord {
                word: w.clone(),
                add,
            };
            self.commit(change, &w, "", json!({})).await?;
            let mods = self.held.mods();
            if add {
                mods.words.insert(w);
            } else {
                mods.words.remove(&w);
            }
            mods.refold();
        }
        let room = self.held.mods().words.iter().cloned().collect();
        let app = self
            .shared
            .config
            .blocked_words
            .get(&self.app)
            .map(|w| w.iter().cloned().collect())
            .unwrap_or_default();
        to_json(&BlockedWords {
            room_id: self.room.id().to_owned(),
            room,
            app,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_764_158_400), "2025-11-26T12:00:00Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn send_checks() {
        let mut m = ModState::default();
        let text = |t: &str| Body::Text(liveroom_proto::TextPayload { text: t.into() });
        let now = liveroom_usersig::now_secs();
        m.mutes.insert("u".into(), now + 60);
        let e = m.check_send("r", "u", false, &text("hi"), &[]).unwrap_err();
        assert_eq!(e.code, code::MUTED);
        assert!(e.message.contains("until"));
        m.mutes.clear();
        m.words.insert("Bad".into());
        m.refold();
        let e = m
            .check_send("r", "u", true, &text("so ＢＡＤ"), &[])
            .unwrap_err();
        assert_eq!(e.code, code::BLOCKED_WORD);
        let app = vec![normalize("evil")];
        assert!(m.check_send("r", "u", true, &text("EVIL"), &app).is_err());
        m.settings.slow_mode = 30;
        assert!(m.check_send("r", "u", false, &text("a"), &[]).is_ok());
        let e = m.check_send("r", "u", false, &text("b"), &[]).unwrap_err();
        assert_eq!(e.code, code::RATE_LIMITED);
        assert!(e.message.contains("wait 30 s"), "{}", e.message);
        assert!(m.check_send("r", "u", true, &text("c"), &[]).is_ok());
        m.settings.mute_all = true;
        assert_eq!(
            m.check_send("r", "v", false, &text("d"), &[])
                .unwrap_err()
                .code,
            code::MUTED
        );
        assert!(m.check_send("r", "o", true, &text("d"), &[]).is_ok());
    }
}
