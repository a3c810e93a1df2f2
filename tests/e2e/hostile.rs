//! Hostile clients against the real server binary (issue 11, items 1–5): one client must not
//! be able to flood a room past its rate, pin a connection by not reading, grow the server's
//! memory with pings or rooms, or hold sockets without speaking HTTP.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use liveroom_tests::{sig, Server, APP};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// A raw protocol client over a TCP socket made the way an attack needs it.
struct Ws {
    ws: WebSocketStream<TcpStream>,
    next_id: u64,
}

/// A TCP connection to the server, with a fixed receive buffer (so a client that never
/// reads is stalled quickly) and from a chosen loopback source address.
async fn tcp(server: &Server, recv_buffer: Option<u32>, from: Option<IpAddr>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    if let Some(bytes) = recv_buffer {
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
    }
    if let Some(ip) = from {
        socket.bind(SocketAddr::new(ip, 0)).expect("bind source");
    }
    socket.connect(server.addr()).await.expect("connect")
}

impl Ws {
    async fn connect(server: &Server) -> Self {
        Self::over(server, tcp(server, None, None).await).await
    }

    async fn over(server: &Server, tcp: TcpStream) -> Self {
        let (ws, _) = tokio_tungstenite::client_async(format!("{}/ws", server.url()), tcp)
            .await
            .expect("websocket handshake");
        Self { ws, next_id: 1 }
    }

    /// Sends a request and waits for its reply or error, skipping pushes.
    async fn req(&mut self, op: &str, fields: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = fields;
        frame["id"] = json!(id);
        frame["op"] = json!(op);
        self.ws
            .send(WsMessage::Text(frame.to_string().into()))
            .await
            .expect("send");
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {op} within 10 s"))
                .expect("connection open")
                .expect("frame");
            if let WsMessage::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                if v["id"] == id {
                    return v;
                }
            }
        }
    }

    async fn ok(&mut self, op: &str, fields: Value) -> Value {
        let r = self.req(op, fields).await;
        assert_eq!(r["t"], "reply", "{op}: {r}");
        r["data"].clone()
    }

    async fn login(server: &Server, user: &str) -> Self {
        Self::login_over(server, tcp(server, None, None).await, user).await
    }

    async fn login_over(server: &Server, tcp: TcpStream, user: &str) -> Self {
        let mut ws = Self::over(server, tcp).await;
        ws.ok("hello", json!({"sdk_app_id": APP})).await;
        ws.relogin(user).await;
        ws
    }

    async fn relogin(&mut self, user: &str) {
        self.ok("login", json!({"user_id": user, "user_sig": sig(user)}))
            .await;
    }

    async fn enter(&mut self, room: &str) {
        self.ok("enter_room", json!({"room_id": room})).await;
    }

    async fn create(&mut self, room: &str) -> Value {
        self.req("create_room", json!({"name": room, "room_id": room}))
            .await
    }
}

/// Waits until `check` holds, up to `within`; returns how long it took.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if check() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_no_more_than_its_rate_however_it_logs_in_again() {
    // Default rules: the room takes 40 msg/s, a user 10/s with a burst of 20.
    let server = Server::start();
    let mut host = Ws::login(&server, "host").await;
    assert_eq!(host.create("flood").await["t"], "reply");

    let honest = {
        let mut viewer = Ws::login(&server, "honest").await;
        viewer.enter("flood").await;
        tokio::spawn(async move {
            let mut refused = Vec::new();
            for i in 0..15 {
                let r = viewer
                    .req(
                        "send_text",
                        json!({"room_id": "flood", "text": format!("hi {i}")}),
                    )
                    .await;
                if r["t"] != "reply" {
                    refused.push(r);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            refused
        })
    };

    // The attacker sends High, logs in again every 20 sends and reconnects every 60.
    let started = Instant::now();
    let mut attacker = Ws::login(&server, "spammer").await;
    attacker.enter("flood").await;
    let (mut accepted, mut sent) = (0u32, 0u32);
    while started.elapsed() < Duration::from_secs(3) {
        let r = attacker
            .req(
                "send_custom",
                json!({"room_id": "flood", "data": "x", "description": "", "extension": "",
                       "priority": "High"}),
            )
            .await;
        sent += 1;
        if r["t"] == "reply" {
            accepted += 1;
        } else {
            assert_eq!(r["code"], 10023, "{r}");
        }
        if sent % 60 == 0 {
            attacker = Ws::login(&server, "spammer").await;
            attacker.enter("flood").await;
        } else if sent % 20 == 0 {
            attacker.ok("logout", json!({})).await;
            attacker.relogin("spammer").await;
            attacker.enter("flood").await;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = 20.0 + 10.0 * elapsed + 2.0;
    assert!(
        f64::from(accepted) <= allowed,
        "{accepted} of {sent} accepted in {elapsed:.1} s, at most {allowed:.0} allowed"
    );
    assert!(sent > 100, "the attack ran: {sent} sends");
    let refused = honest.await.unwrap();
    assert!(
        refused.is_empty(),
        "the honest member was refused while the attacker flooded: {refused:?}"
    );
}

/// Floods room `room` from `host` with large messages until at least `bytes` were accepted.
async fn flood(host: &mut Ws, room: &str, bytes: usize) {
    host.enter(room).await;
    let data = "x".repeat(8000);
    let mut sent = 0;
    while sent < bytes {
        let r = host
            .req(
                "send_custom",
                json!({"room_id": room, "data": data, "description": "", "extension": ""}),
            )
            .await;
        assert_eq!(r["t"], "reply", "{r}");
        sent += data.len();
    }
}

/// Whether `user` is in `room`, as a moderator's user card sees it.
async fn in_room(host: &mut Ws, room: &str, user: &str) -> bool {
    let m = host
        .ok("get_member", json!({"room_id": room, "user_id": user}))
        .await;
    m["inRoom"].as_bool().expect("inRoom")
}

/// Logs in `user` over a connection with a tiny receive buffer that never reads again.
async fn stalled_viewer(server: &Server, user: &str, room: &str) -> Ws {
    let mut viewer = Ws::login_over(server, tcp(server, Some(4096), None).await, user).await;
    viewer.enter(room).await;
    viewer
}

/// A stalled room: a server without send limits (plus `extra` flags), a host in room "stall",
/// and `viewer` in it over a connection that never reads, flooded with `bytes` so that the
/// server's writes to it wait. Also the server's open files from before the viewer came.
async fn stalled_room(extra: &[&str], viewer: &str, bytes: usize) -> (Server, Ws, Ws, usize) {
    let mut flags = vec!["--room-budget", "0", "--user-rate", "0"];
    flags.extend_from_slice(extra);
    let server = Server::start_with(&flags);
    let mut host = Ws::login(&server, "host").await;
    assert_eq!(host.create("stall").await["t"], "reply");
    let fds = server.process().open_fds();
    let stalled = stalled_viewer(&server, viewer, "stall").await;
    flood(&mut host, "stall", bytes).await;
    (server, host, stalled, fds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_reaches_a_member_whose_connection_is_stuck_in_a_write() {
    // A long write deadline: the member's connection is still stuck when the ban comes.
    let (_server, mut host, _lurker, _) =
        stalled_room(&["--write-timeout", "60"], "lurker", 12 << 20).await;
    assert!(in_room(&mut host, "stall", "lurker").await);
    let r = host
        .req(
            "ban_member",
            json!({"room_id": "stall", "user_id": "lurker"}),
        )
        .await;
    assert_eq!(r["t"], "reply", "{r}");
    let mut gone = false;
    for _ in 0..20 {
        if !in_room(&mut host, "stall", "lurker").await {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone,
        "the banned member is still in the room a second after the ban"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_never_reads_is_dropped_at_the_write_deadline() {
    let (server, mut host, _sleeper, fds) =
        stalled_room(&["--write-timeout", "2"], "sleeper", 12 << 20).await;
    let start = Instant::now();
    let mut left = false;
    while start.elapsed() < Duration::from_secs(6) {
        if !in_room(&mut host, "stall", "sleeper").await {
            left = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        left,
        "a viewer that never reads is still in the room {:?} after the flood",
        start.elapsed()
    );
    // Its socket is closed too (the client side still holds its end).
    let freed = eventually(Duration::from_secs(2), || {
        server.process().open_fds() <= fds
    })
    .await;
    assert!(freed.is_some(), "its file descriptor is still held");
}

/// Whether process `pid` has exited (gone, or a zombie waiting to be reaped).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_its_grace_period_whatever_clients_do() {
    let flags = ["--write-timeout", "30", "--shutdown-grace", "3"];
    let (server, _host, _sleeper, _) = stalled_room(&flags, "sleeper", 8 << 20).await;
    // And a socket that stalls in the middle of an HTTP request.
    let mut half = tcp(&server, None, None).await;
    half.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        .await
        .unwrap();

    let pid = server.process().pid().unwrap();
    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let took = eventually(Duration::from_secs(8), || exited(pid)).await;
    let took = took.unwrap_or_else(|| {
        panic!(
            "SIGTERM with a stalled client still running after {:?}",
            started.elapsed()
        )
    });
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} for a 3 s grace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_that_are_never_read_do_not_grow_the_server() {
    let server = Server::start();
    let mut ws = Ws::login_over(&server, tcp(&server, Some(4096), None).await, "pinger").await;
    // Let the server settle, then measure.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.process().rss_bytes();
    // 300,000 pings of 125 bytes (the most a ping carries; its pong echoes it), written raw:
    // the client never reads a pong. Unbounded, ~37 MB of pongs would queue in the server.
    let mut ping = vec![0x89u8, 0x80 | 125, 1, 2, 3, 4];
    ping.extend(std::iter::repeat_n(b'p', 125));
    let chunk: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    let stream = ws.ws.get_mut();
    let writing = async {
        for _ in 0..300 {
            stream.write_all(&chunk).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    // The server closes us (a ping flood) before all are written: fine.
    let _ = tokio::time::timeout(Duration::from_secs(20), writing).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = server.process().rss_bytes().saturating_sub(before);
    assert!(
        grown < 16 << 20,
        "300,000 unread pings grew the server by {} MiB",
        grown >> 20
    );
    assert!(
        closed_within(ws.ws.get_mut(), Duration::from_secs(5))
            .await
            .is_some(),
        "a client flooding pings is still connected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_occasional_ping_is_answered() {
    let server = Server::start();
    let mut ws = Ws::login(&server, "pinger").await;
    for i in 0..3u8 {
        ws.ws.send(WsMessage::Ping(vec![i].into())).await.unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(5), ws.ws.next())
            .await
            .expect("a pong")
            .expect("open")
            .expect("frame");
        assert_eq!(pong, WsMessage::Pong(vec![i].into()));
    }
    ws.ok("ping", json!({})).await;
}

/// Reads until the server closes the connection; the time it took, or None within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_never_finish_a_request_are_closed_by_the_deadline() {
    let server = Server::start_with(&["--handshake-timeout", "1"]);
    let fds_before = server.process().open_fds();
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(tcp(&server, None, None).await);
    }
    let mut slowloris = tcp(&server, None, None).await;
    slowloris.write_all(b"GET /ws HTTP/1.1\r\n").await.unwrap();
    let trickle = async {
        for _ in 0..40 {
            if slowloris.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        closed_within(&mut slowloris, Duration::from_secs(1)).await
    };
    assert!(
        trickle.await.is_some(),
        "a request head trickled a byte at a time was held past its deadline"
    );
    for (i, s) in silent.iter_mut().enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(3)).await.is_some(),
            "silent socket {i} still held"
        );
    }
    // An idle keep-alive connection is closed too once its next request is late.
    let mut keep = tcp(&server, None, None).await;
    keep.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut keep, Duration::from_secs(3))
        .await
        .is_some());
    drop(silent);
    let freed = eventually(Duration::from_secs(3), || {
        server.process().open_fds() <= fds_before
    })
    .await;
    assert!(
        freed.is_some(),
        "fds not freed: {} before, {} now",
        fds_before,
        server.process().open_fds()
    );
    // And the server still serves.
    let mut ws = Ws::connect(&server).await;
    ws.ok("hello", json!({"sdk_app_id": APP})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_its_cap_of_connections_and_others_are_still_served() {
    let server = Server::start_with(&["--max-connections-per-ip", "20"]);
    let me: IpAddr = "127.0.0.1".parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(Ws::over(&server, tcp(&server, None, Some(me)).await).await);
    }
    // The 21st is closed at once.
    let mut extra = tcp(&server, None, Some(me)).await;
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(2))
            .await
            .is_some(),
        "a 21st connection from one address was served"
    );
    // Another address is served.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let mut ws = Ws::over(&server, tcp(&server, None, Some(other)).await).await;
    ws.ok("hello", json!({"sdk_app_id": APP})).await;
    // Places come back when connections close.
    held.truncate(10);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = Ws::over(&server, tcp(&server, None, Some(me)).await).await;
    again.ok("hello", json!({"sdk_app_id": APP})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_503_at_once_and_takes_connections_again_when_some_close() {
    let server = Server::start_with(&["--max-connections", "5", "--max-connections-per-ip", "0"]);
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(Ws::connect(&server).await);
    }
    // The sixth is told at once, with the server's error shape: no hanging in the accept
    // queue, so a client with a list of nodes goes to the next one.
    let url = format!("{}/ws", server.url());
    let asked = Instant::now();
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 503);
            let body = String::from_utf8_lossy(r.body().as_deref().unwrap_or_default());
            let error: Value = serde_json::from_str(&body).expect("a JSON error");
            assert_eq!(error["code"], 10002, "{body}");
            assert!(
                error["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("most connections (5)"),
                "{body}"
            );
        }
        other => panic!("a sixth connection was not refused: {other:?}"),
    }
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    // Every connection counts, not only WebSockets: a plain request is refused too.
    let mut plain = tcp(&server, None, None).await;
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), plain.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // The ones held are served as before.
    for ws in &mut held {
        ws.ok("hello", json!({"sdk_app_id": APP})).await;
    }
    // Places come back when connections close.
    held.truncate(3);
    let mut again = Vec::new();
    for _ in 0..2 {
        let mut ws = None;
        for _ in 0..30 {
            if let Ok((socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await {
                ws = Some(socket);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        again.push(ws.expect("a place freed by a closed connection"));
    }
    assert!(
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .is_err(),
        "full again: 3 held and 2 new"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_address_is_capped() {
    let server = Server::start_with(&[
        "--max-connections-per-ip",
        "2",
        "--trusted-proxy",
        "127.0.0.1",
    ]);
    let upgrade = |client: &str| {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("{}/ws", server.url()),
            )
            .unwrap();
        request
            .headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        request
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let (ws, _) = tokio_tungstenite::connect_async(upgrade("203.0.113.7"))
            .await
            .expect("within the cap");
        held.push(ws);
    }
    match tokio_tungstenite::connect_async(upgrade("203.0.113.7")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 429);
            let body = String::from_utf8_lossy(r.body().as_deref().unwrap_or_default());
            assert!(body.contains("10023"), "{body}");
        }
        other => panic!("a third connection for one client was not refused: {other:?}"),
    }
    // Another client behind the same proxy is served: the proxy's own address (which now
    // carries 4 connections) is not capped.
    for _ in 0..2 {
        held.push(
            tokio_tungstenite::connect_async(upgrade("198.51.100.1"))
                .await
                .expect("another client")
                .0,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_creation_is_rate_and_count_limited() {
    let server = Server::start_with(&["--room-create-rate", "5", "--max-rooms-per-user", "0"]);
    let mut a = Ws::login(&server, "maker").await;
    for i in 0..5 {
        assert_eq!(a.create(&format!("r{i}")).await["t"], "reply");
    }
    let r = a.create("r5").await;
    assert_eq!(r["code"], 10006, "{r}");
    assert!(r["message"].as_str().unwrap().contains("per minute"), "{r}");
    // Reconnecting does not refill it.
    let mut a = Ws::login(&server, "maker").await;
    assert_eq!(a.create("r6").await["code"], 10006);
    // Another user has its own.
    let mut b = Ws::login(&server, "other").await;
    assert_eq!(b.create("b0").await["t"], "reply");

    let server = Server::start_with(&["--room-create-rate", "0", "--max-rooms-per-user", "3"]);
    let mut a = Ws::login(&server, "maker").await;
    for i in 0..3 {
        assert_eq!(a.create(&format!("q{i}")).await["t"], "reply");
    }
    let r = a.create("q3").await;
    assert_eq!(r["code"], 10036, "{r}");
    // Dismissing one makes room for another.
    a.ok("dismiss_room", json!({"room_id": "q0"})).await;
    assert_eq!(a.create("q3").await["t"], "reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_cost_memory_only_while_someone_is_in_them() {
    let server = Server::start_with(&["--room-create-rate", "0", "--max-rooms-per-user", "0"]);
    let mut a = Ws::login(&server, "maker").await;
    assert_eq!(a.create("warmup").await["t"], "reply");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.process().rss_bytes();
    for i in 0..1500 {
        assert_eq!(a.create(&format!("room-{i}")).await["t"], "reply");
    }
    let grown = server.process().rss_bytes().saturating_sub(before);
    // A ring is 1,024 slots (~64 KiB): 1,500 rings would be ~94 MiB.
    assert!(
        grown < 24 << 20,
        "1,500 empty rooms took {} MiB",
        grown >> 20
    );
    // Rooms still work: enter one and chat.
    let mut v = Ws::login(&server, "viewer").await;
    v.enter("room-7").await;
    a.enter("room-7").await;
    let r = a
        .req("send_text", json!({"room_id": "room-7", "text": "hello"}))
        .await;
    assert_eq!(r["t"], "reply", "{r}");
}
