//! What a room enforces: the app-wide rules from the settings ([`AppRules`]: administrators,
//! blocked words), each room's own ([`RoomRules`]: admins, mutes, bans, blocked words,
//! mute-all, slow mode), the roles they give users, and the checks built on them (who may
//! send, who may moderate whom). Pure state and decisions: storing and announcing a change
//! are the room's job.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use liveroom_proto::moderation::{find_blocked, normalize};
use liveroom_proto::{code, ApiError, Body, ModOp, Restricted, Restrictions, Role, RoomSettings};

use crate::config::Config;
use crate::store::StoredModeration;

/// App-wide rules from the settings: administrators and blocked words (folded).
#[derive(Debug, Default)]
pub(crate) struct AppRules {
    admins: BTreeMap<u64, BTreeSet<String>>,
    words: BTreeMap<u64, Vec<String>>,
    /// The words as written, for `blocked_words` replies.
    written: BTreeMap<u64, Vec<String>>,
}

impl AppRules {
    /// The rules of `config`.
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            admins: config.admins.clone(),
            words: config
                .blocked_words
                .iter()
                .map(|(app, words)| (*app, words.iter().map(|w| normalize(w)).collect()))
                .collect(),
            written: config
                .blocked_words
                .iter()
                .map(|(app, words)| (*app, words.iter().cloned().collect()))
                .collect(),
        }
    }

    /// Whether `user` is an administrator of `app`.
    pub(crate) fn is_app_admin(&self, app: u64, user: &str) -> bool {
        self.admins.get(&app).is_some_and(|a| a.contains(user))
    }

    /// The administrators of `app`.
    pub(crate) fn admins(&self, app: u64) -> Vec<String> {
        self.admins
            .get(&app)
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The app's blocked words, folded.
    pub(crate) fn words(&self, app: u64) -> &[String] {
        self.words.get(&app).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The app's blocked words as the settings write them.
    pub(crate) fn written_words(&self, app: u64) -> Vec<String> {
        self.written.get(&app).cloned().unwrap_or_default()
    }

    /// The role of logged-in `user`, given whether it owns the room and is one of its admins.
    pub(crate) fn role(&self, app: u64, user: &str, owner: bool, admin: bool) -> Role {
        role_of(owner, self.is_app_admin(app, user), admin)
    }
}

/// The role of a logged-in user: owner above app administrator above admin above member.
pub(crate) fn role_of(owner: bool, app_admin: bool, admin: bool) -> Role {
    if owner {
        Role::Owner
    } else if app_admin {
        Role::AppAdmin
    } else if admin {
        Role::Admin
    } else {
        Role::Member
    }
}

/// The caller of a moderation request, as a room checks it under its lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moderator<'a> {
    /// The logged-in user (None: a guest).
    pub(crate) user: Option<&'a str>,
    /// Whether the settings make `user` an administrator of the app.
    pub(crate) app_admin: bool,
    /// The app's backend through the REST API (an app administrator there): it has the
    /// owner's rights in every room, as Tencent's REST API gives them.
    pub(crate) backend: bool,
    /// What it asks for.
    pub(crate) op: ModOp,
}

/// The member a mute, kick or ban is aimed at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// The member.
    pub(crate) user: &'a str,
    /// Whether the settings make it an administrator of the app.
    pub(crate) app_admin: bool,
}

/// A room's own rules, kept under the room's lock.
#[derive(Debug, Default)]
pub(crate) struct RoomRules {
    /// Appointed admins.
    admins: HashSet<String>,
    /// Muted members → end of the mute (unix seconds).
    mutes: HashMap<String, i64>,
    /// Banned members → end of the ban (`None`: for good).
    bans: HashMap<String, Option<i64>>,
    /// The room's blocked words, as written.
    words: BTreeSet<String>,
    /// The same, folded for matching.
    folded: Vec<String>,
    /// Mute-all and slow mode.
    settings: RoomSettings,
    /// When each member last sent (slow mode).
    last_sent: HashMap<String, Instant>,
}

impl RoomRules {
    /// The rules loaded from the store.
    pub(crate) fn from_stored(stored: StoredModeration) -> Self {
        let mut rules = Self {
            admins: stored.admins.into_iter().collect(),
            mutes: stored.mutes.into_iter().collect(),
            bans: stored.bans.into_iter().collect(),
            words: stored.words.into_iter().collect(),
            settings: stored.settings,
            ..Self::default()
        };
        rules.refold();
        rules
    }

    /// Takes the stored rules (another node changed them), keeping this node's slow-mode
    /// memory of who sent when.
    pub(crate) fn reload(&mut self, stored: StoredModeration) {
        let last_sent = std::mem::take(&mut self.last_sent);
        *self = Self {
            last_sent,
            ..Self::from_stored(stored)
        };
    }

    fn refold(&mut self) {
        self.folded = self.words.iter().map(|w| normalize(w)).collect();
    }

    /// The room's appointed admins.
    pub(crate) fn admins(&self) -> impl Iterator<Item = &String> {
        self.admins.iter()
    }

    /// Whether `user` is one of the room's appointed admins.
    pub(crate) fn is_admin(&self, user: &str) -> bool {
        self.admins.contains(user)
    }

    /// Mute-all and slow mode.
    pub(crate) fn settings(&self) -> RoomSettings {
        self.settings
    }

    /// The room's blocked words as written, sorted.
    pub(crate) fn words(&self) -> Vec<String> {
        self.words.iter().cloned().collect()
    }

    /// Checks that `by` may make its request in a room owned by `owner`: returns the
    /// moderator's userID and role, or 10007.
    pub(crate) fn authorize<'a>(
        &self,
        room: &str,
        owner: &str,
        by: &Moderator<'a>,
    ) -> Result<(&'a str, Role), ApiError> {
        let role = by.user.map_or(Role::Guest, |u| {
            role_of(owner == u || by.backend, by.app_admin, self.is_admin(u))
        });
        let needed = by.op.required_role();
        match by.user {
            Some(user) if role >= needed => Ok((user, role)),
            _ => {
                tracing::info!(room, op = by.op.as_str(), user = ?by.user, "moderation denied");
                let who = match needed {
                    Role::Owner => "the room owner",
                    Role::AppAdmin => "the room owner or an app administrator",
                    Role::Admin | Role::Member | Role::Guest => {
                        "the room owner, its admins or an app administrator"
                    }
                };
                Err(denied(&format!(
                    "only {who} may {}",
                    by.op.as_str().replace('_', " ")
                )))
            }
        }
    }

    /// Refuses acting (as `role`) on the owner, or on someone of equal or higher standing.
    pub(crate) fn check_target(
        &self,
        owner: &str,
        role: Role,
        target: &Target<'_>,
    ) -> Result<(), ApiError> {
        let theirs = role_of(
            owner == target.user,
            target.app_admin,
            self.is_admin(target.user),
        );
        if theirs == Role::Owner {
            return Err(denied("the room owner cannot be muted, kicked or banned"));
        }
        if theirs >= role {
            return Err(denied(&format!(
                "'{}' is a moderator of this room too: only someone above them may do this",
                target.user
            )));
        }
        Ok(())
    }

    /// Mutes `user` until `until` (unix seconds).
    pub(crate) fn mute(&mut self, user: &str, until: i64) {
        self.mutes.insert(user.to_owned(), until);
    }

    /// Lifts `user`'s mute.
    pub(crate) fn unmute(&mut self, user: &str) {
        self.mutes.remove(user);
    }

    /// Bans `user` until `until` (`None`: for good).
    pub(crate) fn ban(&mut self, user: &str, until: Option<i64>) {
        self.bans.insert(user.to_owned(), until);
    }

    /// Lifts `user`'s ban.
    pub(crate) fn unban(&mut self, user: &str) {
        self.bans.remove(user);
    }

    /// Appoints (`admin`) or removes an admin.
    pub(crate) fn set_admin(&mut self, user: &str, admin: bool) {
        if admin {
            self.admins.insert(user.to_owned());
        } else {
            self.admins.remove(user);
        }
    }

    /// Whether `word` is one of the room's blocked words, as written.
    pub(crate) fn has_word(&self, word: &str) -> bool {
        self.words.contains(word)
    }

    /// How many blocked words the room has.
    pub(crate) fn word_count(&self) -> usize {
        self.words.len()
    }

    /// Adds (`add`) or removes a blocked word.
    pub(crate) fn set_word(&mut self, word: &str, add: bool) {
        if add {
            self.words.insert(word.to_owned());
        } else {
            self.words.remove(word);
        }
        self.refold();
    }

    /// Sets mute-all and slow mode.
    pub(crate) fn set_settings(&mut self, settings: RoomSettings) {
        self.settings = settings;
    }

    /// Admins, and the mutes and bans in force at `now` (expired ones are dropped), sorted.
    pub(crate) fn restrictions(&mut self, now: i64) -> Restrictions {
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
    pub(crate) fn muted_until(&mut self, user: &str, now: i64) -> Option<i64> {
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
    pub(crate) fn banned(&mut self, user: &str, now: i64) -> Option<Option<i64>> {
        match self.bans.get(user).copied() {
            Some(Some(until)) if until <= now => {
                self.bans.remove(user);
                None
            }
            other => other,
        }
    }

    /// Mute, mute-all, blocked words and slow mode for one send by `user`; `exempt` (owner,
    /// admins, app administrators) skips mute-all and slow mode. A send let through is
    /// counted for slow mode.
    pub(crate) fn check_send(
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

/// 10007 with `what`.
pub(crate) fn denied(what: &str) -> ApiError {
    ApiError::new(code::NO_PERMISSION, what.to_owned())
}

/// The refusal (10007) of a user banned from room `room_id` until `until` (`None`: for good).
pub(crate) fn banned_from(room_id: &str, until: Option<i64>) -> ApiError {
    match until {
        None => denied(&format!("you are banned from room '{room_id}' for good")),
        Some(until) => denied(&format!(
            "you are banned from room '{room_id}' until {} ({until})",
            iso_time(until)
        )),
    }
}

/// `2026-11-26T12:00:00Z` for unix seconds `t`.
pub(crate) fn iso_time(t: i64) -> String {
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
        let mut m = RoomRules::default();
        let text = |t: &str| Body::Text(liveroom_proto::TextPayload { text: t.into() });
        let now = liveroom_usersig::now_secs();
        m.mute("u", now + 60);
        let e = m.check_send("r", "u", false, &text("hi"), &[]).unwrap_err();
        assert_eq!(e.code, code::MUTED);
        assert!(e.message.contains("until"));
        m.unmute("u");
        m.set_word("Bad", true);
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

    #[test]
    fn who_may_moderate_whom() {
        let mut m = RoomRules::default();
        m.set_admin("a", true);
        let by = |user, app_admin, op| Moderator {
            backend: false,
            user,
            app_admin,
            op,
        };
        let member = |user| Target {
            user,
            app_admin: false,
        };
        // Members and guests moderate nothing; admins do not dismiss or appoint.
        for (user, op) in [
            (Some("m"), ModOp::MuteMember),
            (None, ModOp::GetAuditLog),
            (Some("a"), ModOp::DismissRoom),
            (Some("a"), ModOp::SetAdmin),
        ] {
            let e = m.authorize("r", "o", &by(user, false, op)).unwrap_err();
            assert_eq!(e.code, code::NO_PERMISSION, "{user:?} {op:?}");
        }
        let (_, admin) = m
            .authorize("r", "o", &by(Some("a"), false, ModOp::KickMember))
            .unwrap();
        assert_eq!(admin, Role::Admin);
        let (_, app) = m
            .authorize("r", "o", &by(Some("x"), true, ModOp::SetAdmin))
            .unwrap();
        assert_eq!(app, Role::AppAdmin);
        assert!(m
            .authorize("r", "o", &by(Some("o"), false, ModOp::DismissRoom))
            .is_ok());
        // Nobody acts on the owner; admins not on admins or app administrators.
        assert!(m.check_target("o", Role::AppAdmin, &member("o")).is_err());
        assert!(m.check_target("o", Role::Admin, &member("a")).is_err());
        let app_admin = Target {
            user: "x",
            app_admin: true,
        };
        assert!(m.check_target("o", Role::Admin, &app_admin).is_err());
        assert!(m.check_target("o", Role::Owner, &app_admin).is_ok());
        assert!(m.check_target("o", Role::Admin, &member("m")).is_ok());
    }
}
