//! Chat logs on disk, opt-in (like Chatterino's): every room message the engine delivers, and
//! the user's own sends, written to `FOLDER/SERVER/ROOM/YYYY-MM-DD.log` (plain text) and
//! `.jsonl` (one JSON object per message) beside it.
//!
//! The event forwarder hands each message event to a [`Sink`], which never blocks: it puts
//! the event's messages on a bounded queue to one writer thread, and when the queue is full
//! it drops them and counts (a warning at most every 10 s). The writer keeps each room's
//! current day open, buffered, flushes at least every second and when it stops (settings
//! changed, app exit), and skips a message it already wrote (by ID, remembered per room and
//! read back from the room's newest files after a restart: entering a room replays history).
//! Memory is bounded: the queue, [`MAX_ROOMS`] open rooms, [`RECENT`] IDs per room. A write
//! that fails is logged and shown to the user once (not per message), until the setting is
//! saved again.
//!
//! - [`record`]: what a line holds, its two formats, the layout and safe folder names.
//! - [`search`]: the query and a bounded scan of a room's JSON lines.

pub mod record;
pub mod search;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{Local, NaiveDate};
use liveroom_engine::proto::Message;
use liveroom_engine::{Event, EventName};
use serde::{Deserialize, Serialize};

use record::{day_files, jsonl_date, room_dir, Record};
use search::{Found, Query};

/// The settings' file in the app's data folder (beside `embedded-app.json`).
pub const SETTINGS_FILE: &str = "chat-logs.json";

/// The webview event that tells the user, once, that logs could not be written.
pub const ERROR_EVENT: &str = "liveroom://chat-log-error";

/// Event batches waiting for the writer before new ones are dropped (an event weighs at most
/// 16 KiB: a few MiB at worst).
const QUEUE: usize = 256;
/// The writer flushes its files at least this often.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Rooms whose files are kept open (and IDs remembered); the least recently written closes.
pub const MAX_ROOMS: usize = 32;
/// Message IDs remembered per room, to skip what was written already.
pub const RECENT: usize = 1024;
/// How much of a room's newest files is read back, for the IDs already written.
const SEED_BYTES: u64 = 256 * 1024;
/// Day files read back for those IDs (today and the day before).
const SEED_FILES: usize = 2;
/// Buffer of each open file.
const BUFFER: usize = 16 * 1024;
/// A dropped-messages warning at most this often.
const DROP_WARN_EVERY: Duration = Duration::from_secs(10);

/// The user's choice: on or off, and where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Whether messages are written.
    #[serde(default)]
    pub enabled: bool,
    /// The folder the logs go in (absolute); kept while off.
    #[serde(default)]
    pub folder: String,
}

/// Why the settings could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The folder is missing, relative or not writable.
    #[error("{0}")]
    Folder(String),
    /// The settings file could not be written.
    #[error("could not save the chat log settings: {0}")]
    Save(#[from] std::io::Error),
    /// Not connected to a server (search needs to know whose logs).
    #[error("not connected to a server")]
    NotConnected,
}

/// The chat logger, shared by the commands and the event forwarder (a handle: clones share).
#[derive(Clone, Default)]
pub struct ChatLog {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Read by every [`Sink::offer`] before anything else: off costs one load.
    enabled: AtomicBool,
    state: Mutex<State>,
    queue: Mutex<Option<SyncSender<Job>>>,
    /// The server the engine is bound to now (its folder key).
    server: Mutex<Option<Arc<str>>>,
    dropped: AtomicU64,
    drop_warned: Mutex<Option<Instant>>,
    problem: Mutex<Problem>,
    notify: OnceLock<Notify>,
}

type Notify = Box<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
struct State {
    loaded: bool,
    path: Option<PathBuf>,
    settings: Settings,
    writer: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Problem {
    last: Option<String>,
    reported: bool,
}

/// What the writer thread is asked to do.
enum Job {
    /// Messages of one event (or one own send), with the server they came from.
    Messages {
        server: Arc<str>,
        messages: Vec<Message>,
    },
    /// The stream's end as a viewer hears it (`t_push_stopped`: no message, a postscript).
    End {
        server: Arc<str>,
        room: String,
        postscript: String,
        at: i64,
    },
    /// Flush now and say so.
    Flush(mpsc::Sender<()>),
}

/// A snapshot for the settings dialog.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Whether messages are written.
    pub enabled: bool,
    /// The chosen folder ("" before any).
    pub folder: String,
    /// The last write error, if any since the setting was saved.
    pub last_error: Option<String>,
    /// Messages dropped because the writer fell behind, since the app started.
    pub dropped: u64,
    /// The server's folder under `folder` for the current connection, if connected.
    pub server_folder: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChatLog {
    /// Reads the settings from the app's data folder once (later calls do nothing) and starts
    /// the writer if logging is on. `notify` tells the user of a write error.
    pub fn load(&self, data_dir: &Path, notify: Notify) {
        let mut st = lock(&self.inner.state);
        if st.loaded {
            return;
        }
        st.loaded = true;
        let _ = self.inner.notify.set(notify);
        let path = data_dir.join(SETTINGS_FILE);
        st.settings = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "unreadable chat log settings: logging stays off");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        };
        st.path = Some(path);
        self.apply(&mut st);
    }

    /// The settings and how logging goes.
    pub fn status(&self) -> Status {
        let settings = lock(&self.inner.state).settings.clone();
        let server_folder = lock(&self.inner.server).as_deref().map(record::safe_name);
        Status {
            enabled: settings.enabled,
            folder: settings.folder,
            last_error: lock(&self.inner.problem).last.clone(),
            dropped: self.inner.dropped.load(Ordering::Relaxed),
            server_folder,
        }
    }

    /// Checks, saves and applies new settings: turning logging on needs an absolute folder
    /// that can be made and written to.
    pub fn set(&self, mut settings: Settings) -> Result<Status, LogError> {
        settings.folder = settings.folder.trim().to_owned();
        if settings.enabled {
            check_folder(Path::new(&settings.folder))?;
        }
        {
            let mut st = lock(&self.inner.state);
            if let Some(path) = &st.path {
                save(path, &settings)?;
            }
            st.settings = settings;
            self.apply(&mut st);
            // A new start: the next write error is news again.
            *lock(&self.inner.problem) = Problem::default();
        }
        Ok(self.status())
    }

    /// Stops the writer (flushing) and starts one for the settings in `st`.
    fn apply(&self, st: &mut State) {
        self.stop_writer(st);
        let on = st.settings.enabled && !st.settings.folder.is_empty();
        if on {
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let folder = PathBuf::from(&st.settings.folder);
            let inner = Arc::clone(&self.inner);
            match std::thread::Builder::new()
                .name("chat-log".into())
                .spawn(move || run(Disk::new(folder), rx, &inner))
            {
                Ok(handle) => {
                    st.writer = Some(handle);
                    *lock(&self.inner.queue) = Some(tx);
                }
                Err(e) => self
                    .inner
                    .problem(format!("could not start the chat log writer: {e}")),
            }
        }
        self.inner
            .enabled
            .store(on && st.writer.is_some(), Ordering::Relaxed);
    }

    /// Ends the writer: its queue closes, it writes what is queued, flushes and returns.
    fn stop_writer(&self, st: &mut State) {
        self.inner.enabled.store(false, Ordering::Relaxed);
        drop(lock(&self.inner.queue).take());
        if let Some(handle) = st.writer.take() {
            if handle.join().is_err() {
                tracing::error!("the chat log writer panicked");
            }
        }
    }

    /// Writes what is queued and stops (app exit).
    pub fn shutdown(&self) {
        let mut st = lock(&self.inner.state);
        self.stop_writer(&mut st);
    }

    /// The engine is now bound to this server (its folder key, [`record::server_key`]): the
    /// sink for its events.
    pub fn connected(&self, server: String) -> Sink {
        let server: Arc<str> = server.into();
        *lock(&self.inner.server) = Some(Arc::clone(&server));
        Sink {
            inner: Arc::clone(&self.inner),
            server,
        }
    }

    /// The engine was dropped.
    pub fn disconnected(&self) {
        *lock(&self.inner.server) = None;
    }

    /// Logs one of the user's own messages (the engine does not deliver them back).
    pub fn own(&self, message: &Message) {
        if !self.inner.enabled.load(Ordering::Relaxed) {
            return;
        }
        let Some(server) = lock(&self.inner.server).clone() else {
            return;
        };
        self.inner.send(Job::Messages {
            server,
            messages: vec![message.clone()],
        });
    }

    /// Asks the writer to flush and waits for it (at most `timeout`), so that a search sees
    /// what just arrived.
    pub fn flush(&self, timeout: Duration) {
        let (tx, rx) = mpsc::channel();
        let queued = lock(&self.inner.queue)
            .as_ref()
            .is_some_and(|q| q.try_send(Job::Flush(tx)).is_ok());
        if queued {
            let _ = rx.recv_timeout(timeout);
        }
    }

    /// Searches the room's logs on the current server (blocking: call it off the async
    /// runtime). Nothing is found before a folder was chosen.
    pub fn search(&self, room: &str, query: &str, limit: usize) -> Result<Found, LogError> {
        let folder = lock(&self.inner.state).settings.folder.clone();
        let server = lock(&self.inner.server)
            .clone()
            .ok_or(LogError::NotConnected)?;
        if folder.is_empty() {
            return Ok(Found {
                complete: true,
                ..Found::default()
            });
        }
        self.flush(Duration::from_millis(500));
        let dir = room_dir(Path::new(&folder), &server, room);
        search::search(&dir, &Query::parse(query), limit)
            .map_err(|e| LogError::Folder(format!("could not read the logs: {e}")))
    }
}

/// The settings file, written whole (a temporary file renamed over it).
fn save(path: &Path, settings: &Settings) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(settings)?)?;
    std::fs::rename(&tmp, path)
}

/// The folder must be absolute, and made and written to now (not at the first message).
fn check_folder(folder: &Path) -> Result<(), LogError> {
    if folder.as_os_str().is_empty() {
        return Err(LogError::Folder("choose a folder for the logs".into()));
    }
    if !folder.is_absolute() {
        return Err(LogError::Folder(format!(
            "{}: the folder must be a full path",
            folder.display()
        )));
    }
    let probe = folder.join(".liveroom-write-test");
    std::fs::create_dir_all(folder)
        .and_then(|_| std::fs::write(&probe, b""))
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| LogError::Folder(format!("{}: cannot write there: {e}", folder.display())))
}

impl Inner {
    /// Queues a job without waiting; a full queue drops it (counted, warned about).
    fn send(&self, job: Job) {
        let n = match &job {
            Job::Messages { messages, .. } => messages.len() as u64,
            Job::End { .. } => 1,
            Job::Flush(_) => 0,
        };
        let full = match lock(&self.queue).as_ref().map(|q| q.try_send(job)) {
            Some(Err(TrySendError::Full(_))) => true,
            Some(Ok(())) | Some(Err(TrySendError::Disconnected(_))) | None => false,
        };
        if full {
            let total = self.dropped.fetch_add(n, Ordering::Relaxed) + n;
            let mut warned = lock(&self.drop_warned);
            if warned.is_none_or(|at| at.elapsed() >= DROP_WARN_EVERY) {
                *warned = Some(Instant::now());
                tracing::warn!(
                    dropped = total,
                    "chat log: the writer fell behind; messages were dropped from the log"
                );
            }
        }
    }

    /// A write failed: the first since the settings were saved is logged and shown.
    fn problem(&self, what: String) {
        let mut p = lock(&self.problem);
        p.last = Some(what.clone());
        if p.reported {
            return;
        }
        p.reported = true;
        drop(p);
        tracing::warn!(error = %what, "chat log: could not write (not reported again until the setting is saved)");
        if let Some(notify) = self.notify.get() {
            notify(&what);
        }
    }
}

/// What the event forwarder hands engine events to: never blocks.
#[derive(Clone)]
pub struct Sink {
    inner: Arc<Inner>,
    server: Arc<str>,
}

impl Sink {
    /// Queues the messages of a message event, or the stream's end, for the writer.
    pub fn offer(&self, ev: &Event) {
        if !self.inner.enabled.load(Ordering::Relaxed) {
            return;
        }
        let server = Arc::clone(&self.server);
        if ev.name.is_message_event() {
            let messages = ev.messages();
            if !messages.is_empty() {
                self.inner.send(Job::Messages {
                    server,
                    messages: messages.to_vec(),
                });
            }
        } else if ev.name == EventName::PushStopped {
            if let Some(room) = &ev.room_id {
                self.inner.send(Job::End {
                    server,
                    room: room.clone(),
                    postscript: ev.text().unwrap_or("").to_owned(),
                    at: Local::now().timestamp(),
                });
            }
        }
    }
}

/// The writer thread: jobs until the queue closes, a flush at least every [`FLUSH_EVERY`].
fn run(mut disk: Disk, rx: Receiver<Job>, inner: &Inner) {
    let mut flushed = Instant::now();
    loop {
        let wait = FLUSH_EVERY.saturating_sub(flushed.elapsed());
        let result = match rx.recv_timeout(wait) {
            Ok(Job::Messages { server, messages }) => messages
                .iter()
                .try_for_each(|m| disk.write(&Record::of_message(&server, m))),
            Ok(Job::End {
                server,
                room,
                postscript,
                at,
            }) => disk.write(&Record::end(
                &server,
                &room,
                &postscript,
                &record::local_time(at),
            )),
            Ok(Job::Flush(done)) => {
                let r = disk.flush();
                flushed = Instant::now();
                let _ = done.send(());
                r
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(e) = disk.flush() {
                    inner.problem(e);
                }
                return;
            }
        };
        if let Err(e) = result {
            inner.problem(e);
        }
        if flushed.elapsed() >= FLUSH_EVERY {
            if let Err(e) = disk.flush() {
                inner.problem(e);
            }
            flushed = Instant::now();
        }
    }
}

/// The open rooms' files, under one folder.
struct Disk {
    folder: PathBuf,
    rooms: HashMap<(Arc<str>, String), Room>,
    tick: u64,
}

/// One room: its folder, its open day, the message keys written lately.
struct Room {
    dir: PathBuf,
    day: Option<Day>,
    recent: Recent,
    used: u64,
}

struct Day {
    date: NaiveDate,
    log: BufWriter<File>,
    jsonl: BufWriter<File>,
}

/// The last [`RECENT`] keys, in order.
#[derive(Default)]
struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Recent {
    fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, key: String) {
        if key.is_empty() || !self.set.insert(key.clone()) {
            return;
        }
        self.order.push_back(key);
        if self.order.len() > RECENT {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

/// A write error, as the user reads it (which file, what happened).
type WriteResult = Result<(), String>;

impl Disk {
    fn new(folder: PathBuf) -> Disk {
        Disk {
            folder,
            rooms: HashMap::new(),
            tick: 0,
        }
    }

    /// Appends one record to its room's day files, unless it was written already.
    fn write(&mut self, r: &Record) -> WriteResult {
        self.tick += 1;
        let tick = self.tick;
        let key = (Arc::<str>::from(r.server.as_str()), r.room.clone());
        if !self.rooms.contains_key(&key) {
            if self.rooms.len() >= MAX_ROOMS {
                self.close_least_used()?;
            }
            let dir = room_dir(&self.folder, &r.server, &r.room);
            let recent = written_lately(&dir);
            self.rooms.insert(
                key.clone(),
                Room {
                    dir,
                    day: None,
                    recent,
                    used: tick,
                },
            );
        }
        let Some(room) = self.rooms.get_mut(&key) else {
            return Ok(());
        };
        room.used = tick;
        let id = r.key();
        if room.recent.contains(&id) {
            return Ok(());
        }
        let date = r.date().unwrap_or_else(|| Local::now().date_naive());
        if room.day.as_ref().map(|d| d.date) != Some(date) {
            if let Some(mut old) = room.day.take() {
                old.flush()?;
            }
            room.day = Some(Day::open(&room.dir, date)?);
        }
        let Some(day) = room.day.as_mut() else {
            return Ok(());
        };
        day.append(r)?;
        room.recent.insert(id);
        Ok(())
    }

    fn flush(&mut self) -> WriteResult {
        let mut first = Ok(());
        for room in self.rooms.values_mut() {
            if let Some(day) = room.day.as_mut() {
                let r = day.flush();
                if first.is_ok() {
                    first = r;
                }
            }
        }
        first
    }

    fn close_least_used(&mut self) -> WriteResult {
        let Some(key) = self
            .rooms
            .iter()
            .min_by_key(|(_, r)| r.used)
            .map(|(k, _)| k.clone())
        else {
            return Ok(());
        };
        match self.rooms.remove(&key).and_then(|r| r.day) {
            Some(mut day) => day.flush(),
            None => Ok(()),
        }
    }
}

impl Day {
    fn open(dir: &Path, date: NaiveDate) -> Result<Day, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (log, jsonl) = day_files(dir, date);
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map(|f| BufWriter::with_capacity(BUFFER, f))
                .map_err(|e| format!("{}: {e}", p.display()))
        };
        Ok(Day {
            date,
            log: open(&log)?,
            jsonl: open(&jsonl)?,
        })
    }

    fn append(&mut self, r: &Record) -> WriteResult {
        let json = serde_json::to_string(r).map_err(|e| e.to_string())?;
        writeln!(self.log, "{}", r.text_line())
            .and_then(|_| writeln!(self.jsonl, "{json}"))
            .map_err(|e| format!("writing the chat log: {e}"))
    }

    fn flush(&mut self) -> WriteResult {
        self.log
            .flush()
            .and_then(|_| self.jsonl.flush())
            .map_err(|e| format!("writing the chat log: {e}"))
    }
}

/// The keys of the records at the end of the room's newest day files: what an earlier run
/// wrote, so that history replayed on entering the room is not written twice.
fn written_lately(dir: &Path) -> Recent {
    let mut days: Vec<(NaiveDate, PathBuf)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| jsonl_date(e.file_name().to_str()?).map(|d| (d, e.path())))
                .collect()
        })
        .unwrap_or_default();
    days.sort_by_key(|d| std::cmp::Reverse(d.0));
    let mut keys = Vec::new();
    for (_, path) in days.iter().take(SEED_FILES) {
        let _ = search::lines_backwards(path, SEED_BYTES, |line| {
            if let Ok(r) = serde_json::from_slice::<Record>(line) {
                keys.push(r.key());
            }
            keys.len() < RECENT
        });
    }
    let mut recent = Recent::default();
    for key in keys.into_iter().rev() {
        recent.insert(key);
    }
    recent
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_engine::EventData;

    fn message(room: &str, seq: u64, text: &str) -> Message {
        serde_json::from_value(serde_json::json!({
            "ID": format!("GROUP{room}-{seq}-5"), "type": "TIMTextElem", "payload": {"text": text},
            "to": room, "from": "ann", "nick": "Ann", "time": Local::now().timestamp(), "sequence": seq,
        }))
        .unwrap()
    }

    fn event(room: &str, messages: Vec<Message>) -> Event {
        Event::in_room(
            EventName::TextMessageReceived,
            room,
            EventData::Messages(messages),
        )
    }

    fn today(dir: &Path, server: &str, room: &str) -> (String, String) {
        let (log, jsonl) = day_files(&room_dir(dir, server, room), Local::now().date_naive());
        (
            std::fs::read_to_string(log).unwrap_or_default(),
            std::fs::read_to_string(jsonl).unwrap_or_default(),
        )
    }

    fn logger(data: &Path, folder: &Path) -> ChatLog {
        let log = ChatLog::default();
        log.load(data, Box::new(|_| {}));
        log.set(Settings {
            enabled: true,
            folder: folder.display().to_string(),
        })
        .unwrap();
        log
    }

    #[test]
    fn off_by_default_and_settings_survive_a_restart() {
        let data = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let log = ChatLog::default();
        log.load(data.path(), Box::new(|_| {}));
        assert!(!log.status().enabled);
        let sink = log.connected("srv".into());
        sink.offer(&event("r", vec![message("r", 1, "not logged")]));
        log.shutdown();
        assert!(
            std::fs::read_dir(logs.path()).unwrap().next().is_none(),
            "off writes nothing"
        );

        let relative = log.set(Settings {
            enabled: true,
            folder: "logs".into(),
        });
        assert!(matches!(relative, Err(LogError::Folder(_))));
        assert!(log
            .set(Settings {
                enabled: true,
                folder: String::new()
            })
            .is_err());
        let folder = logs.path().join("new/sub");
        let s = log
            .set(Settings {
                enabled: true,
                folder: folder.display().to_string(),
            })
            .unwrap();
        assert!(
            s.enabled && folder.is_dir(),
            "the folder is made when logging is turned on"
        );
        log.shutdown();

        let again = ChatLog::default();
        again.load(data.path(), Box::new(|_| {}));
        assert!(again.status().enabled);
        assert_eq!(again.status().folder, folder.display().to_string());
        again.shutdown();
    }

    #[test]
    fn events_and_own_sends_are_written_once_and_appended_after_a_restart() {
        let data = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let log = logger(data.path(), logs.path());
        let sink = log.connected("this-computer-1".into());
        sink.offer(&event(
            "r",
            vec![message("r", 1, "one"), message("r", 2, "two")],
        ));
        log.own(&message("r", 3, "mine"));
        sink.offer(&event("r", vec![message("r", 2, "two")]));
        sink.offer(&Event::in_room(
            EventName::PushStopped,
            "r",
            EventData::Text("bye".into()),
        ));
        sink.offer(&Event::new(
            EventName::NetStateChange,
            EventData::Text("connected".into()),
        ));
        log.flush(Duration::from_secs(5));
        let (text, jsonl) = today(logs.path(), "this-computer-1", "r");
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].ends_with("] Ann (ann): one") && lines[0].starts_with('['),
            "{text}"
        );
        assert!(lines[2].ends_with("] Ann (ann): mine"));
        assert!(lines[3].ends_with("] * the stream ended: bye"));
        let records: Vec<Record> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            records.iter().map(|r| r.sequence).collect::<Vec<_>>(),
            [1, 2, 3, 0]
        );
        log.shutdown();

        // A new run: entering the room replays history (1..=3) and the end; then news.
        let log = logger(data.path(), logs.path());
        let sink = log.connected("this-computer-1".into());
        sink.offer(&event(
            "r",
            (1..=4).map(|i| message("r", i, &format!("m{i}"))).collect(),
        ));
        sink.offer(&Event::in_room(
            EventName::PushStopped,
            "r",
            EventData::Text("bye".into()),
        ));
        log.shutdown();
        let (text, _) = today(logs.path(), "this-computer-1", "r");
        assert_eq!(
            text.lines().count(),
            5,
            "only the new message was appended: {text}"
        );
        assert!(text.lines().last().unwrap().ends_with("Ann (ann): m4"));
    }

    #[test]
    fn search_finds_what_was_just_written() {
        let data = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let log = logger(data.path(), logs.path());
        assert!(matches!(
            log.search("r", "x", 10),
            Err(LogError::NotConnected)
        ));
        let sink = log.connected("srv-1".into());
        sink.offer(&event(
            "r",
            vec![message("r", 1, "needle one"), message("r", 2, "hay")],
        ));
        sink.offer(&event(
            "other",
            vec![message("other", 1, "needle elsewhere")],
        ));
        let found = log.search("r", "needle", 10).unwrap();
        assert_eq!(found.results.len(), 1, "{found:?}");
        assert_eq!(found.results[0].text.as_deref(), Some("needle one"));
        log.shutdown();
    }

    #[test]
    fn a_write_error_is_reported_once() {
        let data = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let reports = Arc::new(AtomicU64::new(0));
        let log = ChatLog::default();
        let counter = Arc::clone(&reports);
        log.load(
            data.path(),
            Box::new(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
            }),
        );
        log.set(Settings {
            enabled: true,
            folder: logs.path().display().to_string(),
        })
        .unwrap();
        // The server's folder is taken by a file: no room folder can be made under it.
        std::fs::write(logs.path().join("srv"), b"").unwrap();
        let sink = log.connected("srv".into());
        for i in 0..20 {
            sink.offer(&event("r", vec![message("r", i, "x")]));
        }
        log.flush(Duration::from_secs(5));
        assert_eq!(reports.load(Ordering::Relaxed), 1);
        assert!(log.status().last_error.is_some());
        log.shutdown();
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let inner = Inner::default();
        let (tx, _rx) = mpsc::sync_channel(1);
        *lock(&inner.queue) = Some(tx);
        let m = || Job::Messages {
            server: "s".into(),
            messages: vec![message("r", 1, "x"); 3],
        };
        inner.send(m());
        inner.send(m());
        inner.send(m());
        assert_eq!(inner.dropped.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn open_rooms_are_bounded() {
        let logs = tempfile::tempdir().unwrap();
        let mut disk = Disk::new(logs.path().to_owned());
        for i in 0..(MAX_ROOMS + 10) {
            let room = format!("room{i}");
            disk.write(&Record::of_message("s", &message(&room, 1, "x")))
                .unwrap();
        }
        assert_eq!(disk.rooms.len(), MAX_ROOMS);
        disk.flush().unwrap();
        let (text, _) = today(logs.path(), "s", "room0");
        assert_eq!(text.lines().count(), 1, "a closed room's file was flushed");
        let mut recent = Recent::default();
        for i in 0..(RECENT + 5) {
            recent.insert(i.to_string());
        }
        assert!(!recent.contains("0") && recent.contains(&(RECENT + 4).to_string()));
        assert_eq!(recent.set.len(), RECENT);
    }
}
