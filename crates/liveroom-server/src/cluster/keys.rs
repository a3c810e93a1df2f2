//! The Redis key layout of cluster mode, in one place (ARCHITECTURE.md draws it).
//!
//! Every key of a room carries the hash tag `{APP:ROOM}`, so a room's keys live in one slot
//! and one Lua script may touch them all (as Redis Cluster requires).

/// The keys of one room.
#[derive(Debug, Clone)]
pub(crate) struct RoomKeys {
    /// `lr:{APP:ROOM}:`
    prefix: String,
}

impl RoomKeys {
    /// The keys of room `room` of SDKAppID `app`.
    pub(crate) fn new(app: u64, room: &str) -> Self {
        Self {
            prefix: format!("lr:{{{app}:{room}}}:"),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// String: the room's profile (`RoomInfo` JSON). Its existence is the room's.
    pub(crate) fn info(&self) -> String {
        self.key("info")
    }

    /// String: the highest sequence ever assigned.
    pub(crate) fn seq(&self) -> String {
        self.key("seq")
    }

    /// Sorted set: the kept history, score = sequence, member = the message's JSON; the
    /// newest `history` kept.
    pub(crate) fn history(&self) -> String {
        self.key("history")
    }

    /// String: the newest sequence that fell out of the history by its cap (a gap from
    /// before it cannot be filled whole).
    pub(crate) fn trimmed(&self) -> String {
        self.key("trimmed")
    }

    /// Hash `tokens`, `at_ms`: the room's send budget bucket.
    pub(crate) fn budget(&self) -> String {
        self.key("budget")
    }

    /// Set: appointed admins.
    pub(crate) fn admins(&self) -> String {
        self.key("admins")
    }

    /// Hash user → end of the mute (unix seconds).
    pub(crate) fn mutes(&self) -> String {
        self.key("mutes")
    }

    /// Hash user → end of the ban as JSON (`null`: for good).
    pub(crate) fn bans(&self) -> String {
        self.key("bans")
    }

    /// Set: blocked words, as written.
    pub(crate) fn words(&self) -> String {
        self.key("words")
    }

    /// String: mute-all and slow mode (`RoomSettings` JSON).
    pub(crate) fn settings(&self) -> String {
        self.key("settings")
    }

    /// List of `[seq, "message ID"]` JSON: recent deletions, oldest first, the newest
    /// `DELETIONS_KEPT`.
    pub(crate) fn deleted(&self) -> String {
        self.key("deleted")
    }

    /// List of `AuditEntry` JSON, newest first, capped (see `AUDIT_KEPT`); kept when the
    /// room is dismissed.
    pub(crate) fn audit(&self) -> String {
        self.key("audit")
    }

    /// String: the audit log's row counter (its entries' IDs).
    pub(crate) fn audit_id(&self) -> String {
        self.key("audit_id")
    }

    /// Pub/sub channel: everything published to the room, in order (see `wire`).
    pub(crate) fn channel(&self) -> String {
        self.key("ch")
    }

    /// String: the version of the room's rules, raised by every change of its state; a send
    /// checked against an older version is refused untouched and checked again.
    pub(crate) fn version(&self) -> String {
        self.key("version")
    }

    /// String: the moderation lock (a random token, with an expiry).
    pub(crate) fn lock(&self) -> String {
        self.key("lock")
    }

    /// Hash node → members on that node: the room's presence.
    pub(crate) fn online(&self) -> String {
        self.key("online")
    }

    /// Hash user → connections of `node` in the room as that user.
    pub(crate) fn users(&self, node: &str) -> String {
        self.key(&format!("users:{node}"))
    }

    /// Hash `messages`, `likes`, `gifts`, `peak`: the room's statistics' totals (counted by
    /// the send script; `peak` by the online samples).
    pub(crate) fn stats(&self) -> String {
        self.key("stats")
    }

    /// Hash minute (its first second) → messages accepted in it; the newest day.
    pub(crate) fn stats_minutes(&self) -> String {
        self.key("stats:minutes")
    }

    /// Hash minute (its first second) → the highest online count sampled in it; the
    /// newest day.
    pub(crate) fn stats_online(&self) -> String {
        self.key("stats:online")
    }

    /// Sorted set: gifter → gifts, at most `stats::GIFTERS_KEPT` (a new gifter takes the
    /// place of the one with the fewest).
    pub(crate) fn stats_gifters(&self) -> String {
        self.key("stats:gifters")
    }

    /// Every key a dismissal deletes (all but the audit log and its counter).
    pub(crate) fn room_state(&self) -> Vec<String> {
        vec![
            self.info(),
            self.seq(),
            self.history(),
            self.trimmed(),
            self.budget(),
            self.admins(),
            self.mutes(),
            self.bans(),
            self.words(),
            self.settings(),
            self.deleted(),
            self.version(),
            self.stats(),
            self.stats_minutes(),
            self.stats_online(),
            self.stats_gifters(),
        ]
    }
}

/// String: `owner`'s profile (`Profile` JSON).
pub(crate) fn profile(app: u64, user: &str) -> String {
    format!("lr:{{{app}}}:profile:{user}")
}

/// String: unix seconds; `user`'s UserSigs issued at or before it are refused (the REST
/// API's kick).
pub(crate) fn revoked(app: u64, user: &str) -> String {
    format!("lr:{{{app}}}:revoked:{user}")
}

/// Sorted set: the app's room IDs, each scored by its creation number (see
/// [`rooms_created`]): `get_appid_group_list` pages through it.
pub(crate) fn rooms(app: u64) -> String {
    format!("lr:{{{app}}}:rooms")
}

/// String: the app's rooms created so far (the next creation number is one more).
pub(crate) fn rooms_created(app: u64) -> String {
    format!("lr:{{{app}}}:rooms_created")
}

/// Set: the room IDs `owner` owns.
pub(crate) fn owned(app: u64, owner: &str) -> String {
    format!("lr:{{{app}}}:owned:{owner}")
}

/// String `NODE conn`: where `user` is logged in.
pub(crate) fn session(app: u64, user: &str) -> String {
    format!("lr:{{{app}}}:session:{user}")
}

/// String `APP user`: whose session an upload token is.
pub(crate) fn upload(token: &str) -> String {
    format!("lr:upload:{token}")
}

/// String with an expiry: the node is alive while it exists.
pub(crate) fn node_alive(node: &str) -> String {
    format!("lr:node:{node}")
}

/// Pub/sub channel: signals to the connections of `node` (kicks, removals).
pub(crate) fn node_channel(node: &str) -> String {
    format!("lr:node:{node}:ch")
}
