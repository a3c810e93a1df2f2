//! What each command does, over the engine.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use liveroom_engine::proto::WordsAction;
use liveroom_engine::proto::{code, ApiError, CreateRoomOptions, CustomPayload, Priority};
use liveroom_engine::{EditRoomOptions, Event, EventName, Im, ImageSource, TlsConfig};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use crate::cli::{AdminCommand, Command, Connect, WordsCmd};
use crate::output::{escape_text, json_line};

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The engine or the server refused: `error CODE: message`.
    Api(ApiError),
    /// Stdout was closed by the reader: not a failure.
    BrokenPipe,
    /// Anything else.
    Other(String),
}

/// One line for stderr; the message (often the server's, quoting what users wrote) has its
/// control characters escaped.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(e) => write!(f, "error {}: {}", e.code, escape_text(&e.message)),
            Self::BrokenPipe => f.write_str("broken pipe"),
            Self::Other(message) => write!(f, "error: {}", escape_text(message)),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Self::BrokenPipe
        } else {
            Self::Other(e.to_string())
        }
    }
}

/// Prints one JSON value as a line (terminal-safe: see [`crate::output`]) and flushes (tail
/// readers see each line at once).
fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let line =
        json_line(value).map_err(|e| Failure::Other(format!("cannot encode the output: {e}")))?;
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Runs one command.
pub async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Usersig {
            app,
            key,
            user,
            expire,
        } => {
            liveroom_engine::proto::limits::check_user_id(&user)?;
            if app == 0 {
                return Err(ApiError::invalid("SDKAppID is required (not 0)").into());
            }
            let sig = liveroom_usersig::gen_usersig(app, &key, &user, expire);
            let mut out = io::stdout().lock();
            writeln!(out, "{sig}")?;
            out.flush()?;
            Ok(())
        }
        Command::CreateRoom {
            conn,
            name,
            room_id,
            notification,
            introduction,
            avatar,
        } => {
            let im = logged_in(&conn).await?;
            let room = im
                .create_room(CreateRoomOptions {
                    name,
                    room_id,
                    notification,
                    introduction,
                    avatar,
                })
                .await;
            finish(&im, room).await
        }
        Command::Send {
            conn,
            room,
            text,
            priority,
        } => {
            let im = in_room(&conn, &room).await?;
            let sent = im.send_text_message(&room, &text, priority).await;
            finish(&im, sent).await
        }
        Command::SendCustom {
            conn,
            room,
            data,
            description,
            extension,
            priority,
        } => {
            let im = in_room(&conn, &room).await?;
            let payload = CustomPayload {
                data,
                description,
                extension,
            };
            let sent = im.send_custom_message(&room, payload, priority).await;
            finish(&im, sent).await
        }
        Command::SendImage {
            conn,
            room,
            file,
            priority,
        } => send_image(&conn, &room, file, priority).await,
        Command::StopPush {
            conn,
            room,
            postscript,
        } => {
            let im = in_room(&conn, &room).await?;
            let sent = im.stop_push(&room, &postscript).await;
            finish(&im, sent).await
        }
        Command::Profile { conn, nick, avatar } => {
            let im = logged_in(&conn).await?;
            let profile = if nick.is_some() || avatar.is_some() {
                im.set_my_profile(nick, avatar).await
            } else {
                im.get_my_profile().await
            };
            finish(&im, profile).await
        }
        Command::Tail {
            conn,
            room,
            count,
            timeout,
        } => tail(&conn, &room, count, timeout).await,
        Command::Admin {
            command: AdminCommand::Call(args),
        } => {
            let answer = crate::admin::call(args).await?;
            print_json(&answer)?;
            crate::admin::verdict(&answer)
        }
        other => moderate(other).await,
    }
}

/// The moderation commands: log in, act, print the reply.
async fn moderate(command: Command) -> Result<(), Failure> {
    match command {
        Command::Mute {
            conn,
            room,
            member: user,
            seconds,
            reason,
        } => {
            let im = logged_in(&conn).await?;
            let r = im.mute_member(&room, &user, seconds, &reason).await;
            finish(&im, r).await
        }
        Command::Unmute {
            conn,
            room,
            member: user,
        } => {
            let im = logged_in(&conn).await?;
            let r = im.unmute_member(&room, &user).await;
            finish(&im, r).await
        }
        Command::MuteAll { conn, room, state } => {
            let im = logged_in(&conn).await?;
            let r = im.set_mute_all(&room, state.on()).await;
            finish(&im, r).await
        }
        Command::Kick {
            conn,
            room,
            member: user,
            reason,
        } => {
            let im = logged_in(&conn).await?;
            let r = im.kick_member(&room, &user, &reason).await;
            finish(&im, r).await
        }
        Command::Ban {
            conn,
            room,
            member: user,
            seconds,
            reason,
        } => {
            let im = logged_in(&conn).await?;
            let r = im.ban_member(&room, &user, seconds, &reason).await;
            finish(&im, r).await
        }
        Command::Unban {
            conn,
            room,
            member: user,
        } => {
            let im = logged_in(&conn).await?;
            let r = im.unban_member(&room, &user).await;
            finish(&im, r).await
        }
        Command::Delete {
            conn,
            room,
            message_id,
            reason,
        } => {
            let im = logged_in(&conn).await?;
            let r = im.delete_message(&room, &message_id, &reason).await;
            finish(&im, r).await
        }
        Command::SlowMode {
            conn,
            room,
            seconds,
        } => {
            let im = logged_in(&conn).await?;
            let r = im.set_slow_mode(&room, seconds).await;
            finish(&im, r).await
        }
        Command::SetAdmin {
            conn,
            room,
            member: user,
            state,
        } => {
            let im = logged_in(&conn).await?;
            let r = im.set_admin(&room, &user, state.on()).await;
            finish(&im, r).await
        }
        Command::BlockedWords {
            conn,
            room,
            action,
            word,
        } => {
            let action = match action {
                WordsCmd::Add => WordsAction::Add,
                WordsCmd::Remove => WordsAction::Remove,
                WordsCmd::List => WordsAction::List,
            };
            let im = logged_in(&conn).await?;
            let r = im.blocked_words(&room, action, word.as_deref()).await;
            finish(&im, r).await
        }
        Command::EditRoom {
            conn,
            room,
            name,
            notification,
            introduction,
            avatar,
        } => {
            let im = logged_in(&conn).await?;
            let options = EditRoomOptions {
                name,
                notification,
                introduction,
                avatar,
            };
            let r = im.edit_room(&room, options).await;
            finish(&im, r).await
        }
        Command::Dismiss { conn, room } => {
            let im = logged_in(&conn).await?;
            let r = im
                .dismiss_room(&room)
                .await
                .map(|()| serde_json::json!({ "groupID": room }));
            finish(&im, r).await
        }
        Command::Audit { conn, room, limit } => {
            let im = logged_in(&conn).await?;
            let r = im.get_audit_log(&room, limit).await;
            finish(&im, r).await
        }
        Command::Member { conn, room, member } => {
            let im = logged_in(&conn).await?;
            let r = im.get_member(&room, &member).await;
            finish(&im, r).await
        }
        Command::Restrictions { conn, room } => {
            let im = logged_in(&conn).await?;
            let r = im.get_restrictions(&room).await;
            finish(&im, r).await
        }
        Command::RoomStats { conn, room } => {
            let im = logged_in(&conn).await?;
            let r = im.get_room_stats(&room).await;
            finish(&im, r).await
        }
        _ => Err(Failure::Other("not a moderation command".into())),
    }
}

/// Prints the result (or returns its error) and closes the connection.
async fn finish<T: Serialize>(im: &Im, result: Result<T, ApiError>) -> Result<(), Failure> {
    im.shutdown().await;
    print_json(&result?)
}

/// An engine for `conn` (not connected yet), trusting `--ca-file`'s roots if given.
fn engine(conn: &Connect) -> Result<Im, Failure> {
    let tls = match &conn.ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| ApiError::invalid(format!("--ca-file {}: {e}", path.display())))?;
            TlsConfig::with_root_certificates_pem(&pem)?
        }
        None => TlsConfig::default(),
    };
    Ok(Im::with_tls(conn.app, &conn.server, tls)?)
}

/// An engine for `conn`, logged in if `--user` is given.
async fn connect(conn: &Connect) -> Result<Im, Failure> {
    let im = engine(conn)?;
    im.set_log_level(2);
    if let Some(user) = &conn.user {
        let Some(sig) = &conn.sig else {
            return Err(ApiError::new(
                code::USERSIG_MALFORMED,
                "--sig (or LIVEROOM_SIG) is required with --user",
            )
            .into());
        };
        if let Err(e) = im.login(user, sig).await {
            im.shutdown().await;
            return Err(e.into());
        }
    }
    Ok(im)
}

/// An engine logged in as `--user`.
async fn logged_in(conn: &Connect) -> Result<Im, Failure> {
    if conn.user.is_none() {
        return Err(ApiError::new(
            code::NOT_LOGGED_IN,
            "not logged in: --user and --sig (or LIVEROOM_USER and LIVEROOM_SIG) are required",
        )
        .into());
    }
    connect(conn).await
}

/// An engine logged in as `--user`, in `room`.
async fn in_room(conn: &Connect, room: &str) -> Result<Im, Failure> {
    let im = logged_in(conn).await?;
    if let Err(e) = im.enter_room(room).await {
        im.shutdown().await;
        return Err(e.into());
    }
    Ok(im)
}

async fn send_image(
    conn: &Connect,
    room: &str,
    file: std::path::PathBuf,
    priority: Priority,
) -> Result<(), Failure> {
    let im = in_room(conn, room).await?;
    let progress: liveroom_engine::ProgressFn = Box::new(|fraction: f64| {
        // Progress is for the person at the terminal; stdout stays pure JSON.
        let end = if fraction >= 1.0 { "\n" } else { "" };
        eprint!("\rupload {:3.0}%{end}", fraction * 100.0);
    });
    let sent = im
        .send_image_message(room, ImageSource::Path(file), priority, Some(progress))
        .await;
    finish(&im, sent).await
}

/// Whether an event counts toward `tail --count`, and how many messages it carries.
fn counted_messages(event: &Event) -> u64 {
    match event.name {
        EventName::TextMessageReceived
        | EventName::CustomMessageReceived
        | EventName::ImageMessageReceived => event.messages().len() as u64,
        EventName::PushStopped => 1,
        _ => 0,
    }
}

async fn tail(
    conn: &Connect,
    room: &str,
    count: Option<u64>,
    timeout: Option<f64>,
) -> Result<(), Failure> {
    let deadline = match timeout {
        Some(secs) if secs.is_finite() && secs >= 0.0 => {
            Some(tokio::time::Instant::now() + Duration::from_secs_f64(secs))
        }
        Some(_) => return Err(ApiError::invalid("--timeout must be a number of seconds").into()),
        None => None,
    };
    let im = engine(conn)?;
    im.set_log_level(2);
    // Subscribe first: the login, the enter and the history are events too.
    let mut events = im.events();
    if let Some(user) = &conn.user {
        let sig = conn.sig.as_deref().ok_or_else(|| {
            ApiError::new(
                code::USERSIG_MALFORMED,
                "--sig (or LIVEROOM_SIG) is required with --user",
            )
        })?;
        im.login(user, sig).await?;
    }
    if let Err(e) = im.enter_room(room).await {
        im.shutdown().await;
        return Err(e.into());
    }
    let result = tail_loop(&mut events, count, deadline).await;
    im.shutdown().await;
    result
}

async fn tail_loop(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    count: Option<u64>,
    deadline: Option<tokio::time::Instant>,
) -> Result<(), Failure> {
    let mut seen = 0u64;
    if count == Some(0) {
        return Ok(());
    }
    loop {
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(next) => next,
                Err(_) => return Ok(()),
            },
            None => events.recv().await,
        };
        let event = match next {
            Ok(event) => event,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("the terminal fell behind: {n} events skipped");
                continue;
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        print_json(&event)?;
        if event.name == EventName::KickedOut {
            return Err(Failure::Other(format!(
                "kicked out: {}",
                event.text().unwrap_or("")
            )));
        }
        seen += counted_messages(&event);
        if count.is_some_and(|n| seen >= n) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_engine::EventData;

    #[test]
    fn counts_messages_not_frames_nor_tips() {
        let batch = Event::new(EventName::TextMessageReceived, EventData::Messages(vec![]));
        assert_eq!(counted_messages(&batch), 0);
        let stopped = Event::new(EventName::PushStopped, EventData::Text("bye".into()));
        assert_eq!(counted_messages(&stopped), 1);
        let state = Event::new(
            EventName::NetStateChange,
            EventData::Text("connected".into()),
        );
        assert_eq!(counted_messages(&state), 0);
    }

    #[test]
    fn failures_print_code_and_message() {
        let f = Failure::from(ApiError::new(70009, "UserSig signature does not match"));
        assert_eq!(
            f.to_string(),
            "error 70009: UserSig signature does not match"
        );
        let f = Failure::from(ApiError::new(80001, "word 'a\u{1b}[2J\nerror 0: ok'"));
        assert_eq!(
            f.to_string(),
            "error 80001: word 'a\\u{001b}[2J\\nerror 0: ok'"
        );
        let f = Failure::Other("kicked out: \u{9b}31m".into());
        assert_eq!(f.to_string(), "error: kicked out: \\u{009b}31m");
    }
}
