//! The command line, declared once with clap derive.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use liveroom_engine::proto::Priority;

/// Liveroom command-line client: sign a UserSig, create rooms, send, tail a room.
#[derive(Debug, Parser)]
#[command(name = "liveroom", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a UserSig for USER (no server needed).
    Usersig {
        /// SDKAppID.
        #[arg(long, env = "LIVEROOM_APP")]
        app: u64,
        /// The app's secret key.
        #[arg(long, env = "LIVEROOM_KEY")]
        key: String,
        /// userID to sign for.
        #[arg(long, env = "LIVEROOM_USER")]
        user: String,
        /// Validity in seconds (default 180 days).
        #[arg(long, default_value_t = liveroom_usersig::DEFAULT_EXPIRE_SECS)]
        expire: i64,
    },
    /// Create a live room owned by --user; prints the room.
    CreateRoom {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room name.
        #[arg(long)]
        name: String,
        /// Custom room ID (otherwise the server picks one starting with @TGS#).
        #[arg(long)]
        room_id: Option<String>,
        /// Notice shown in the room header.
        #[arg(long, default_value = "")]
        notification: String,
        /// Introduction.
        #[arg(long, default_value = "")]
        introduction: String,
        /// Room avatar URL.
        #[arg(long, default_value = "")]
        avatar: String,
    },
    /// Enter ROOM and send a text; prints the sent message.
    Send {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The text.
        text: String,
        /// High, Normal, Low or Lowest.
        #[arg(long, default_value = "Normal")]
        priority: Priority,
    },
    /// Enter ROOM and send a custom message (likes, gifts...); prints the sent message.
    SendCustom {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// Custom data.
        #[arg(long, default_value = "")]
        data: String,
        /// Custom description.
        #[arg(long, default_value = "")]
        description: String,
        /// Custom extension.
        #[arg(long, default_value = "")]
        extension: String,
        /// High, Normal, Low or Lowest.
        #[arg(long, default_value = "Normal")]
        priority: Priority,
    },
    /// Enter ROOM and send a picture (JPG, PNG, GIF or BMP, at most 20 MB); progress goes to
    /// stderr, the sent message to stdout.
    SendImage {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The picture file.
        file: PathBuf,
        /// High, Normal, Low or Lowest.
        #[arg(long, default_value = "Normal")]
        priority: Priority,
    },
    /// Room owner: tell the viewers the stream has ended.
    StopPush {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// Shown to the viewers.
        #[arg(long, default_value = "")]
        postscript: String,
    },
    /// Set the profile (if --nick or --avatar is given), then print it.
    Profile {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// New nick.
        #[arg(long)]
        nick: Option<String>,
        /// New avatar URL.
        #[arg(long)]
        avatar: Option<String>,
    },
    /// Moderators: mute USER in ROOM for --seconds (1 to 1209600).
    Mute {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The member's userID.
        #[arg(value_name = "USER")]
        member: String,
        /// How long, in seconds.
        #[arg(long)]
        seconds: u64,
        /// Shown to the member, kept in the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Moderators: lift USER's mute in ROOM.
    Unmute {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The member's userID.
        #[arg(value_name = "USER")]
        member: String,
    },
    /// Moderators: only the owner and admins may speak in ROOM (on) or everyone (off).
    MuteAll {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// on or off.
        state: OnOff,
    },
    /// Moderators: remove USER from ROOM (they may come back).
    Kick {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The member's userID.
        #[arg(value_name = "USER")]
        member: String,
        /// Shown to the member.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Moderators: kick USER and refuse their return, for --seconds or for good.
    Ban {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The member's userID.
        #[arg(value_name = "USER")]
        member: String,
        /// How long; without it, for good.
        #[arg(long)]
        seconds: Option<u64>,
        /// Shown to the member.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Moderators: lift USER's ban in ROOM.
    Unban {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The member's userID.
        #[arg(value_name = "USER")]
        member: String,
    },
    /// Moderators: delete a message from ROOM's history and every client's view.
    Delete {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The message's ID.
        message_id: String,
        /// Kept in the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Moderators: at least SECONDS between one member's messages (0: off).
    SlowMode {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// Seconds, 0 to 86400.
        seconds: u32,
    },
    /// Room owner: make USER an admin of ROOM (on) or not (off).
    SetAdmin {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The member's userID.
        #[arg(value_name = "USER")]
        member: String,
        /// on or off.
        state: OnOff,
    },
    /// Moderators: add, remove or list ROOM's blocked words.
    BlockedWords {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// add, remove or list.
        action: WordsCmd,
        /// The word (add, remove).
        word: Option<String>,
    },
    /// Moderators: change ROOM's profile; every client in it is told.
    EditRoom {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New notification.
        #[arg(long)]
        notification: Option<String>,
        /// New introduction.
        #[arg(long)]
        introduction: Option<String>,
        /// New avatar URL.
        #[arg(long)]
        avatar: Option<String>,
    },
    /// Room owner: dismiss ROOM; everyone is removed and the room is gone.
    Dismiss {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
    },
    /// Moderators: print ROOM's audit log (newest first) as a JSON array.
    Audit {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Moderators: print where USER stands in ROOM (role, in the room, mute, ban) as JSON.
    Member {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// The member to look up.
        #[arg(value_name = "USER")]
        member: String,
    },
    /// Moderators: print ROOM's admins and the members muted or banned now, as JSON.
    Restrictions {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
    },
    /// Moderators: print ROOM's statistics since its creation (online now and its peak,
    /// one entry per minute, messages, likes, gifts, top gifters) as JSON.
    RoomStats {
        /// Server and identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
    },
    /// Enter ROOM (as a guest without --user) and print every event as a JSON line.
    ///
    /// Exits 0 after --count messages (text, custom, image and stop-push; join/leave tips
    /// are printed but not counted) or when --timeout seconds have passed.
    Tail {
        /// Server and (optional) identity.
        #[command(flatten)]
        conn: Connect,
        /// Room ID.
        room: String,
        /// Exit after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Exit after this many seconds.
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// App administrators: the server's REST API (Tencent IM's server API).
    Admin {
        /// What to do.
        #[command(subcommand)]
        command: AdminCommand,
    },
}

/// The `admin` commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// POST one REST API command as an app administrator; prints the answer's JSON.
    ///
    /// Signs as --user/--sig (LIVEROOM_USER/LIVEROOM_SIG), which must be an app administrator
    /// of --app (the server's --admin APP:USER), and posts BODY to
    /// /v4/SERVICE/COMMAND?sdkappid=&identifier=&usersig=&random=&contenttype=json on the
    /// server's HTTP address (ws:// becomes http://, wss:// https://; with a list, the first
    /// node that accepts the connection). Prints the answer (Tencent's envelope
    /// {ActionStatus, ErrorCode, ErrorInfo, ...}) on stdout as it came, also when it failed;
    /// ActionStatus FAIL exits 1 with `error ErrorCode: ErrorInfo` on stderr. A body that is
    /// not a JSON object is refused before anything is sent.
    #[command(after_help = ADMIN_CALL_EXAMPLES)]
    Call(AdminCall),
}

/// Examples shown under `liveroom admin call --help`.
const ADMIN_CALL_EXAMPLES: &str = r#"Examples:
  export LIVEROOM_USER=boss LIVEROOM_SIG=$(liveroom usersig --key SECRET --user boss)
  liveroom admin call im_open_login_svc/account_import --json '{"UserID":"host","Nick":"Ann"}'
  liveroom admin call group_open_http_svc/create_group \
      --json '{"Owner_Account":"host","Type":"AVChatRoom","GroupId":"show-1","Name":"My show"}'
  liveroom admin call group_open_http_svc/send_group_msg --json @gift.json
  echo '{"GroupId":"show-1"}' | liveroom admin call group_open_http_svc/destroy_group --json -

The commands and their fields: the server README's REST API section."#;

/// `admin call`'s arguments.
#[derive(Debug, Args)]
pub struct AdminCall {
    /// Server and the administrator's identity.
    #[command(flatten)]
    pub conn: Connect,
    /// The command, e.g. group_open_http_svc/send_group_msg (a leading v4/ is accepted).
    #[arg(value_name = "SERVICE/COMMAND")]
    pub command: String,
    /// The request body: JSON text, @FILE to read it from FILE, or - (or @-) to read stdin.
    #[arg(long = "json", value_name = "BODY", default_value = "{}")]
    pub json: String,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

impl OnOff {
    /// Whether on.
    pub fn on(self) -> bool {
        self == Self::On
    }
}

/// What `blocked-words` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WordsCmd {
    /// Add WORD.
    Add,
    /// Remove WORD.
    Remove,
    /// List the room's and the app's words.
    List,
}

/// Where the server is and who we are.
#[derive(Debug, Clone, Args)]
pub struct Connect {
    /// Server address: ws://HOST:PORT or http://HOST:PORT (wss:// or https:// behind TLS).
    /// For a cluster, the nodes' addresses comma-separated (ws://10.0.0.1:9001,ws://10.0.0.2:9001):
    /// one is chosen at random, and a node that refuses the connection is skipped.
    #[arg(long, env = "LIVEROOM_SERVER", value_name = "ADDRESS[,ADDRESS...]")]
    pub server: String,
    /// PEM file of extra trusted root certificates for a wss:// or https:// server (a
    /// private CA or a self-signed certificate); the system's roots are always trusted.
    #[arg(long, env = "LIVEROOM_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// SDKAppID.
    #[arg(long, env = "LIVEROOM_APP")]
    pub app: u64,
    /// userID to log in as.
    #[arg(long, env = "LIVEROOM_USER")]
    pub user: Option<String>,
    /// The user's UserSig.
    #[arg(long, env = "LIVEROOM_SIG", hide_env_values = true)]
    pub sig: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Clap checks a command's arguments only when it is used: check every one here (a
    /// positional named like a flag of `Connect` once broke `liveroom member` at runtime).
    #[test]
    fn every_command_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
