//! What a chat log holds and where: one [`Record`] per message, its line of plain text, its
//! JSON line, and the layout `FOLDER/SERVER/ROOM/YYYY-MM-DD.{log,jsonl}` with names made safe
//! for any file system.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, NaiveDate, SecondsFormat, TimeZone};
use liveroom_engine::proto::message::{Body, GroupTipPayload, Message, PUSH_STOPPED};
use serde::{Deserialize, Serialize};

/// Custom-message `data` of a like (the app's and the seed's) and of a gift, as the UI reads
/// them (ui/room.js).
const LIKE_DATA: [&str; 2] = ["like", "dianzan"];
const GIFT_DATA: &str = "gift";

/// A folder name is cut to this many bytes (then marked by its hash).
const NAME_MAX: usize = 64;

/// What kind of line a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A text message.
    Text,
    /// A picture (its original's URL).
    Picture,
    /// A gift (custom data `gift`: the gift's id and count).
    Gift,
    /// A like (custom data `like` or `dianzan`).
    Like,
    /// Any other custom message.
    Custom,
    /// Someone entered the room.
    Join,
    /// Someone left the room.
    Leave,
    /// A notice from the app's backend.
    Notice,
    /// The stream ended (the host's postscript).
    End,
}

/// One logged message: the JSON line as written, and what a search reads back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Local time of the message, RFC 3339 with the zone's offset (`2026-12-01T20:15:03+08:00`).
    pub time: String,
    /// The same instant in unix seconds.
    pub unix: i64,
    /// The server's folder key ([`server_key`]).
    #[serde(default)]
    pub server: String,
    /// The room ID.
    pub room: String,
    /// The room's sequence (0 for join/leave and the stream's end as the viewers see it).
    #[serde(default)]
    pub sequence: u64,
    /// The message ID (empty for the stream's end as the viewers see it).
    #[serde(rename = "ID", default)]
    pub id: String,
    /// What it is.
    pub kind: Kind,
    /// TIM's element type (`TIMTextElem`, ...).
    #[serde(rename = "type", default)]
    pub msg_type: String,
    /// The sender's userID.
    #[serde(default)]
    pub from: String,
    /// The sender's nick at send time.
    #[serde(default)]
    pub nick: String,
    /// Text, notice or postscript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A gift's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gift: Option<String>,
    /// A gift's count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// A picture's URL (its original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// A picture's size in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// A picture's size in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A custom message's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// A custom message's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A custom message's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Who joined or left (a tip's user list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
}

/// The local time of a message sent at `unix` (now, if it cannot be one).
pub fn local_time(unix: i64) -> DateTime<Local> {
    Local
        .timestamp_opt(unix, 0)
        .single()
        .unwrap_or_else(Local::now)
}

impl Record {
    fn base(server: &str, room: &str, at: &DateTime<Local>, kind: Kind) -> Record {
        Record {
            time: at.to_rfc3339_opts(SecondsFormat::Secs, false),
            unix: at.timestamp(),
            server: server.to_owned(),
            room: room.to_owned(),
            sequence: 0,
            id: String::new(),
            kind,
            msg_type: String::new(),
            from: String::new(),
            nick: String::new(),
            text: None,
            gift: None,
            count: None,
            picture: None,
            width: None,
            height: None,
            data: None,
            description: None,
            extension: None,
            users: None,
        }
    }

    /// The record of a room message, dated by the server's time of the send.
    pub fn of_message(server: &str, m: &Message) -> Record {
        let at = local_time(m.time);
        let (kind, msg_type) = match &m.body {
            Body::Text(_) => (Kind::Text, "TIMTextElem"),
            Body::Image(_) => (Kind::Picture, "TIMImageElem"),
            Body::Custom(c) if c.data == PUSH_STOPPED => (Kind::End, "TIMCustomElem"),
            Body::Custom(c) if c.data == GIFT_DATA => (Kind::Gift, "TIMCustomElem"),
            Body::Custom(c) if LIKE_DATA.contains(&c.data.as_str()) => {
                (Kind::Like, "TIMCustomElem")
            }
            Body::Custom(_) => (Kind::Custom, "TIMCustomElem"),
            Body::GroupTip(t) if t.operation_type == GroupTipPayload::QUIT => {
                (Kind::Leave, "TIMGroupTipElem")
            }
            Body::GroupTip(_) => (Kind::Join, "TIMGroupTipElem"),
            Body::GroupSystemNotice(_) => (Kind::Notice, "TIMGroupSystemNoticeElem"),
        };
        let mut r = Record::base(server, &m.to, &at, kind);
        r.sequence = m.sequence;
        r.id = m.id.clone();
        r.msg_type = msg_type.to_owned();
        r.from = m.from.clone();
        r.nick = m.nick.clone();
        match &m.body {
            Body::Text(t) => r.text = Some(t.text.clone()),
            Body::Image(i) => {
                let original = i
                    .image_info_array
                    .iter()
                    .find(|x| x.size_type == 1)
                    .or_else(|| i.image_info_array.first());
                if let Some(o) = original {
                    r.picture = Some(o.url.clone());
                    r.width = Some(o.width);
                    r.height = Some(o.height);
                }
            }
            Body::Custom(c) => match kind {
                Kind::End => r.text = Some(c.description.clone()),
                Kind::Gift => {
                    r.gift = Some(c.description.clone());
                    r.count = Some(gift_count(&c.extension));
                }
                Kind::Like => {}
                _ => {
                    r.data = Some(c.data.clone());
                    r.description = Some(c.description.clone());
                    r.extension = Some(c.extension.clone());
                }
            },
            Body::GroupTip(t) => r.users = Some(t.user_id_list.clone()),
            Body::GroupSystemNotice(n) => r.text = Some(n.user_defined_field.clone()),
        }
        r
    }

    /// The stream's end as a viewer's engine reports it (`t_push_stopped`: the postscript
    /// only), at `at`.
    pub fn end(server: &str, room: &str, postscript: &str, at: &DateTime<Local>) -> Record {
        let mut r = Record::base(server, room, at, Kind::End);
        r.msg_type = "TIMCustomElem".to_owned();
        r.text = Some(postscript.to_owned());
        r
    }

    /// What makes a record the same message as another: its ID; the stream's end, which a
    /// viewer gets without one, by its postscript (a room ends once).
    pub fn key(&self) -> String {
        match self.kind {
            Kind::End => format!("end:{}", self.text.as_deref().unwrap_or("")),
            _ => self.id.clone(),
        }
    }

    /// The local date, from `time`, for the file it goes in.
    pub fn date(&self) -> Option<NaiveDate> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.date_naive())
    }

    /// The plain-text line (without its line break): `[HH:MM:SS] nick (userID): text`. Line
    /// breaks in user text go on indented lines (so every line that starts with `[` starts a
    /// message), other control characters become U+FFFD (a log shown in a terminal cannot
    /// be made to move the cursor or change colours).
    pub fn text_line(&self) -> String {
        let clock = self
            .time
            .get(11..19)
            .filter(|c| c.len() == 8)
            .unwrap_or("--:--:--");
        let who = who(&self.nick, &self.from);
        let body = match self.kind {
            Kind::Text => format!("{who}: {}", multiline(self.text.as_deref().unwrap_or(""))),
            Kind::Picture => format!(
                "{who}: [picture] {}",
                one_line(self.picture.as_deref().unwrap_or(""))
            ),
            Kind::Gift => {
                let count = self.count.unwrap_or(1);
                let gift = one_line(self.gift.as_deref().unwrap_or(""));
                if count > 1 {
                    format!("{who} sent gift {gift} x{count}")
                } else {
                    format!("{who} sent gift {gift}")
                }
            }
            Kind::Like => format!("{who} liked"),
            Kind::Custom => {
                let parts: Vec<&str> = [&self.data, &self.description, &self.extension]
                    .into_iter()
                    .filter_map(|p| p.as_deref())
                    .filter(|p| !p.is_empty())
                    .collect();
                format!("{who}: [custom] {}", multiline(&parts.join(" · ")))
            }
            Kind::Join | Kind::Leave => {
                let verb = if self.kind == Kind::Join {
                    "joined"
                } else {
                    "left"
                };
                let users = self.users.as_deref().unwrap_or(&[]);
                let name = match (users.first(), self.nick.is_empty()) {
                    (Some(u), true) => one_line(u),
                    _ => who,
                };
                format!("* {name} {verb}")
            }
            Kind::Notice => format!("[notice] {}", multiline(self.text.as_deref().unwrap_or(""))),
            Kind::End => {
                let ps = self.text.as_deref().unwrap_or("");
                if ps.is_empty() {
                    "* the stream ended".to_owned()
                } else {
                    format!("* the stream ended: {}", multiline(ps))
                }
            }
        };
        format!("[{clock}] {body}")
    }
}

/// `nick (userID)`, or the userID alone when there is no nick.
fn who(nick: &str, from: &str) -> String {
    if nick.is_empty() || nick == from {
        one_line(from)
    } else {
        format!("{} ({})", one_line(nick), one_line(from))
    }
}

/// User text on one line: breaks become spaces, control characters U+FFFD.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// User text over several lines: each break starts an indented line.
fn multiline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut lines = s.split('\n').peekable();
    while let Some(line) = lines.next() {
        out.push_str(&one_line(line.strip_suffix('\r').unwrap_or(line)));
        if lines.peek().is_some() {
            out.push_str("\n    ");
        }
    }
    out
}

/// A gift's count from its extension (`{"count": N}`), 1 when absent, clamped to 1..=9999
/// (the server's rule for the room's stats).
pub fn gift_count(extension: &str) -> u32 {
    serde_json::from_str::<serde_json::Value>(extension)
        .ok()
        .and_then(|v| v.get("count").and_then(|c| c.as_f64()))
        .map(|c| c.clamp(1.0, 9999.0) as u32)
        .unwrap_or(1)
}

/// The folder key of the server the engine talks to: `this-computer-APPID` for the app's
/// own embedded server (its port may change between runs, its app does not), otherwise the
/// first node's `host_port-APPID`. Made safe as a folder name by [`safe_name`].
pub fn server_key(server: &str, sdk_app_id: u64, embedded: bool) -> String {
    if embedded {
        return format!("this-computer-{sdk_app_id}");
    }
    let first = server.split(',').next().unwrap_or("").trim();
    let rest = first.split_once("://").map_or(first, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    format!("{}-{sdk_app_id}", host.replace(':', "_"))
}

/// `name` as one folder name on any system: ASCII letters, digits, `-`, `_`, `@` and inner
/// dots (never a leading dot, never `..`) kept, anything else `_`, at most [`NAME_MAX`]
/// bytes, Windows' reserved device names avoided. A name that had to change gets `-` and 8
/// hex digits of its hash, so two names that change alike stay apart.
pub fn safe_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(NAME_MAX));
    let mut prev = '.';
    for c in name.chars() {
        let keep =
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '@') || (c == '.' && prev != '.');
        let c = if keep { c } else { '_' };
        out.push(c);
        prev = c;
    }
    while out.ends_with('.') {
        out.pop();
        out.push('_');
    }
    out.truncate(NAME_MAX);
    if out.is_empty() {
        out.push('_');
    }
    let stem = out.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if out == name && !reserved {
        return out;
    }
    format!("{out}-{:08x}", fnv1a(name.as_bytes()) as u32)
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust versions (folder names must).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The folder of one room's logs: `FOLDER/SERVER/ROOM`.
pub fn room_dir(folder: &Path, server: &str, room: &str) -> PathBuf {
    folder.join(safe_name(server)).join(safe_name(room))
}

/// The two files of one day: `YYYY-MM-DD.log` and `YYYY-MM-DD.jsonl`.
pub fn day_files(dir: &Path, day: NaiveDate) -> (PathBuf, PathBuf) {
    let stem = day.format("%Y-%m-%d").to_string();
    (
        dir.join(format!("{stem}.log")),
        dir.join(format!("{stem}.jsonl")),
    )
}

/// The date of a `YYYY-MM-DD.jsonl` file name, if it is one.
pub fn jsonl_date(file_name: &str) -> Option<NaiveDate> {
    let stem = file_name.strip_suffix(".jsonl")?;
    NaiveDate::parse_from_str(stem, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_engine::proto::{
        CustomPayload, GroupSystemNoticePayload, ImageInfo, ImagePayload, TextPayload,
    };

    pub(crate) fn msg(body: Body) -> Message {
        serde_json::from_value::<Message>(serde_json::json!({
            "ID": "GROUPr1-7-99", "type": "TIMTextElem", "payload": {"text": ""},
            "to": "r1", "from": "ann", "nick": "Ann 安", "time": 1_764_600_003, "sequence": 7,
        }))
        .map(|mut m| {
            m.body = body;
            m
        })
        .unwrap()
    }

    fn text(t: &str) -> Body {
        Body::Text(TextPayload { text: t.into() })
    }

    fn custom(data: &str, description: &str, extension: &str) -> Body {
        Body::Custom(CustomPayload {
            data: data.into(),
            description: description.into(),
            extension: extension.into(),
        })
    }

    /// `[HH:MM:SS] ` of the test message's time, in this machine's zone.
    fn clock() -> String {
        local_time(1_764_600_003).format("[%H:%M:%S] ").to_string()
    }

    #[test]
    fn text_lines_read_as_people_expect() {
        let c = clock();
        let line = |b| Record::of_message("s", &msg(b)).text_line();
        assert_eq!(
            line(text("hello 你好")),
            format!("{c}Ann 安 (ann): hello 你好")
        );
        assert_eq!(
            line(custom("gift", "rocket", r#"{"count":3}"#)),
            format!("{c}Ann 安 (ann) sent gift rocket x3")
        );
        assert_eq!(
            line(custom("gift", "rose", "")),
            format!("{c}Ann 安 (ann) sent gift rose")
        );
        assert_eq!(
            line(custom("dianzan", "", "")),
            format!("{c}Ann 安 (ann) liked")
        );
        assert_eq!(
            line(custom("poll", "yes", "")),
            format!("{c}Ann 安 (ann): [custom] poll · yes")
        );
        let pic = Body::Image(ImagePayload {
            image_format: 3,
            uuid: "u".into(),
            image_info_array: vec![
                ImageInfo {
                    size_type: 1,
                    size: 9,
                    width: 1200,
                    height: 800,
                    url: "http://h/images/big.png".into(),
                },
                ImageInfo {
                    size_type: 3,
                    size: 1,
                    width: 198,
                    height: 132,
                    url: "http://h/images/small.png".into(),
                },
            ],
        });
        assert_eq!(
            line(pic),
            format!("{c}Ann 安 (ann): [picture] http://h/images/big.png")
        );
        let notice = Body::GroupSystemNotice(GroupSystemNoticePayload {
            operation_type: 255,
            user_defined_field: "maintenance at 10".into(),
            operator_id: "boss".into(),
        });
        assert_eq!(line(notice), format!("{c}[notice] maintenance at 10"));
        assert_eq!(
            line(custom(PUSH_STOPPED, "bye all", "")),
            format!("{c}* the stream ended: bye all")
        );
        let mut join = msg(Body::GroupTip(GroupTipPayload {
            operation_type: 1,
            user_id_list: vec!["bob".into()],
        }));
        join.nick = String::new();
        join.from = "bob".into();
        assert_eq!(
            Record::of_message("s", &join).text_line(),
            format!("{c}* bob joined")
        );
        let mut leave = join.clone();
        leave.body = Body::GroupTip(GroupTipPayload {
            operation_type: 2,
            user_id_list: vec!["bob".into()],
        });
        assert_eq!(
            Record::of_message("s", &leave).text_line(),
            format!("{c}* bob left")
        );
    }

    #[test]
    fn user_text_cannot_forge_lines_or_move_the_terminal() {
        let c = clock();
        let mut m = msg(text(
            "one\n[00:00:00] boss (boss): fake\r\nthree \u{1b}[31mred",
        ));
        m.nick = "evil\nnick".into();
        let line = Record::of_message("s", &m).text_line();
        assert_eq!(
            line,
            format!("{c}evil nick (ann): one\n    [00:00:00] boss (boss): fake\n    three \u{fffd}[31mred")
        );
        assert!(line.lines().skip(1).all(|l| l.starts_with("    ")));
    }

    #[test]
    fn json_lines_carry_the_fields_and_the_zone() {
        let r = Record::of_message(
            "this-computer-1",
            &msg(custom("gift", "rocket", r#"{"count":99999}"#)),
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["ID"], "GROUPr1-7-99");
        assert_eq!(v["room"], "r1");
        assert_eq!(v["sequence"], 7);
        assert_eq!(v["kind"], "gift");
        assert_eq!(v["type"], "TIMCustomElem");
        assert_eq!(v["from"], "ann");
        assert_eq!(v["nick"], "Ann 安");
        assert_eq!(v["gift"], "rocket");
        assert_eq!(v["count"], 9999, "clamped like the server's stats");
        assert_eq!(v["unix"], 1_764_600_003);
        assert!(v.get("text").is_none(), "absent fields are left out: {v}");
        let time = DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).unwrap();
        assert_eq!(time.timestamp(), 1_764_600_003);
        assert_eq!(
            time.offset().local_minus_utc(),
            local_time(1_764_600_003).offset().local_minus_utc()
        );
        let back: Record = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn safe_names_keep_plain_ids_and_mark_changed_ones() {
        assert_eq!(safe_name("room-1_A@b.c"), "room-1_A@b.c");
        for bad in [
            "..",
            ".",
            "../etc",
            "a/b",
            "a\\b",
            "",
            "a..b",
            "CON",
            "com1",
            "nul.txt",
            "x.",
            "with space",
            "房间",
        ] {
            let s = safe_name(bad);
            assert_ne!(s, bad);
            assert!(
                !s.contains(['/', '\\', ' ']) && !s.starts_with('.') && !s.contains(".."),
                "{bad:?} → {s:?}"
            );
            assert!(
                s.len() > 9 && s.as_bytes()[s.len() - 9] == b'-',
                "{bad:?} → {s:?}: a hash suffix"
            );
            assert_eq!(s, safe_name(bad), "the same name every time");
        }
        assert_ne!(
            safe_name("a/b"),
            safe_name("a b"),
            "names that change alike stay apart"
        );
        let long = "x".repeat(200);
        assert!(safe_name(&long).len() <= NAME_MAX + 9);
        assert_eq!(safe_name("COM"), "COM", "only COM1..COM9 are reserved");
    }

    #[test]
    fn layout_is_folder_server_room_day() {
        let key = server_key(
            "wss://live.example.org:8443/ws?x=1,ws://b:1",
            1400000000,
            false,
        );
        assert_eq!(key, "live.example.org_8443-1400000000");
        assert_eq!(
            server_key("http://127.0.0.1:43117", 1400000123, true),
            "this-computer-1400000123"
        );
        assert_eq!(server_key("ws://u:p@h", 7, false), "h-7");
        let dir = room_dir(Path::new("/logs"), &key, "friday show");
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let (log, jsonl) = day_files(&dir, day);
        let room = safe_name("friday show");
        assert_eq!(
            log,
            PathBuf::from(format!(
                "/logs/live.example.org_8443-1400000000/{room}/2026-12-01.log"
            ))
        );
        assert_eq!(jsonl.file_name().unwrap(), "2026-12-01.jsonl");
        assert_eq!(jsonl_date("2026-12-01.jsonl"), Some(day));
        assert_eq!(jsonl_date("2026-12-01.log"), None);
        assert_eq!(jsonl_date("notes.jsonl"), None);
        assert_eq!(
            room_dir(Path::new("/logs"), "..", "..")
                .parent()
                .unwrap()
                .parent(),
            Some(Path::new("/logs"))
        );
    }

    #[test]
    fn the_end_without_an_id_is_keyed_by_its_postscript() {
        let at = local_time(1_764_600_003);
        let a = Record::end("s", "r", "bye", &at);
        let b = Record::of_message("s", &msg(custom(PUSH_STOPPED, "bye", "")));
        assert_eq!(a.key(), b.key());
        assert_eq!(a.date(), Some(at.date_naive()));
    }
}
