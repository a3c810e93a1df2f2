//! Hostile pictures and uploads (issue 11, item 6 and the upload part of item 4): canvases
//! that cost their weight in memory whatever the file's size, many heavy decodes at once,
//! sizes past `u32` arithmetic, and upload bodies that stall or trickle. Each test runs the
//! real server binary and watches its memory, open files and temporary folder.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use liveroom_testkit::ServerProcess;
use liveroom_tests::{sig, APP, KEY};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const MIB: u64 = 1024 * 1024;
/// No upload may take longer than this to be answered.
const ANSWER_WITHIN: Duration = Duration::from_secs(40);

fn start(extra: &[&str]) -> ServerProcess {
    ServerProcess::start(APP, KEY, extra)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Logs `user` in over a raw socket and returns its upload token with the socket (the
/// session lives as long as it is open).
async fn upload_token(addr: SocketAddr, user: &str) -> (String, Ws) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("websocket connect");
    let mut reply = None;
    for frame in [
        json!({"id": 1, "op": "hello", "sdk_app_id": APP}),
        json!({"id": 2, "op": "login", "user_id": user, "user_sig": sig(user)}),
    ] {
        ws.send(WsMessage::Text(frame.to_string().into()))
            .await
            .expect("send");
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("server answers")
                .expect("socket open")
                .expect("frame");
            if let WsMessage::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                if v["id"] == frame["id"] {
                    assert_eq!(v["t"], "reply", "{v}");
                    reply = Some(v);
                    break;
                }
            }
        }
    }
    let token = reply.expect("login reply")["data"]["upload_token"]
        .as_str()
        .expect("upload token")
        .to_owned();
    (token, ws)
}

/// POSTs `body` as a picture; the status and the JSON answer.
async fn upload(addr: SocketAddr, token: &str, body: Vec<u8>) -> (u16, Value) {
    let request = reqwest::Client::new()
        .post(format!("http://{addr}/upload"))
        .bearer_auth(token)
        .body(body)
        .send();
    let r = tokio::time::timeout(ANSWER_WITHIN, request)
        .await
        .expect("every upload is answered")
        .expect("upload request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Posts every body at once; their answers in order.
async fn upload_all(addr: SocketAddr, token: &str, bodies: Vec<Vec<u8>>) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let token = token.to_owned();
            tokio::spawn(async move { upload(addr, &token, body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("upload task"));
    }
    answers
}

/// Resets the server's peak resident memory (`VmHWM`) to its current one, so that
/// [`peak_rss`] reports the peak of what follows.
fn reset_peak(server: &ServerProcess) {
    let pid = server.pid().expect("running");
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset VmHWM");
}

/// The server's peak resident memory since [`reset_peak`], in bytes.
fn peak_rss(server: &ServerProcess) -> u64 {
    let pid = server.pid().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}

fn tmp_files(server: &ServerProcess) -> usize {
    std::fs::read_dir(server.data_dir().join("images/tmp"))
        .expect("images/tmp exists")
        .count()
}

/// Waits up to 3 s for `what` to hold.
async fn eventually(what: impl Fn() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    what()
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A real, complete RGBA PNG of `width`×`height` transparent pixels (it compresses about a
/// thousand to one: 7000×7000 is ~190 KB for a 196 MB canvas), with a text chunk `tag` so
/// that pictures differing only by it are stored apart.
fn png_canvas(width: u32, height: u32, tag: &str) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8 bits, RGBA, deflate, no filter, no interlace
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"tEXt", format!("Comment\0{tag}").as_bytes());
    let row = vec![0u8; 1 + 4 * width as usize]; // filter byte + pixels
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    for _ in 0..height {
        z.write_all(&row).expect("compress");
    }
    png_chunk(&mut out, b"IDAT", &z.finish().expect("compress"));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// Just a PNG signature and IHDR declaring `width`×`height` (no pixel data).
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A 62-byte GIF: a `width`×`height` logical screen holding a single 1×1 frame. Decoding it
/// means filling the whole canvas.
fn gif_canvas(width: u16, height: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0]); // global palette of 2 colours
    out.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    out.extend_from_slice(&[0x21, 0xF9, 4, 0, 0, 0, 0, 0]); // graphic control extension
    out.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]); // 1×1 frame at 0,0
    out.extend_from_slice(&[2, 2, 0x44, 0x01, 0]); // LZW: min code 2, one pixel
    out.push(0x3B);
    out
}

#[test]
fn the_hostile_pictures_are_what_they_claim() {
    let gif = gif_canvas(7000, 7000);
    assert!(gif.len() <= 62, "{}", gif.len());
    let d = image::ImageReader::new(std::io::Cursor::new(&gif))
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap();
    assert_eq!(d, (7000, 7000));
    let one = image::load_from_memory(&gif_canvas(1, 1)).expect("the GIF's frame decodes");
    assert_eq!((one.width(), one.height()), (1, 1));
    let png = png_canvas(64, 32, "x");
    let img = image::load_from_memory(&png).expect("the canvas PNG decodes");
    assert_eq!((img.width(), img.height()), (64, 32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canvases_of_49_megapixels_are_refused_from_their_headers() {
    let server = start(&[]);
    let (token, _session) = upload_token(server.addr(), "bomber").await;
    let gif = gif_canvas(7000, 7000);
    let png = png_canvas(7000, 7000, "bomb");
    assert!(png.len() < 400_000, "{}", png.len());
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|i| if i % 2 == 0 { gif.clone() } else { png.clone() })
        .collect();

    let before = server.rss_bytes();
    reset_peak(&server);
    let answers = upload_all(server.addr(), &token, bodies).await;
    let growth = peak_rss(&server).saturating_sub(before);
    eprintln!(
        "8 canvas headers refused; peak growth {} KiB",
        growth / 1024
    );

    for (status, v) in &answers {
        assert_eq!((*status, v["code"].clone()), (415, json!(2252)), "{v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("7000x7000"),
            "names the declared size: {v}"
        );
    }
    // Refusing from the header needs a few KB per upload; one decode of such a canvas would
    // take 196 MB (8 at once took 1.46 GiB). 64 MiB leaves room for the eight requests'
    // buffers and the blocking threads that read the headers, and none for a canvas.
    assert!(
        growth < 64 * MIB,
        "the server grew by {} MiB refusing 8 headers",
        growth / MIB
    );
    assert_eq!(tmp_files(&server), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_largest_canvases_are_decoded_two_at_a_time() {
    // The largest accepted canvas: 5000×5000 = 25 megapixels, RGBA, so one decoded buffer of
    // 100 MB (95.4 MiB). The server decodes 2 at a time by default.
    const UPLOADS: usize = 6;
    let server = start(&[]);
    let (token, _session) = upload_token(server.addr(), "heavy").await;
    let bodies: Vec<Vec<u8>> = (0..UPLOADS)
        .map(|i| png_canvas(5000, 5000, &format!("picture {i}")))
        .collect();

    let before = server.rss_bytes();
    reset_peak(&server);
    let started = Instant::now();
    let answers = upload_all(server.addr(), &token, bodies).await;
    let took = started.elapsed();
    let growth = peak_rss(&server).saturating_sub(before);
    eprintln!(
        "{UPLOADS} uploads of 25 MP: peak growth {} MiB, answered in {took:?}",
        growth / MIB
    );

    let mut stored = 0;
    for (status, v) in &answers {
        match v["code"].as_u64() {
            Some(0) => {
                stored += 1;
                let original = &v["data"]["imageInfoArray"][0];
                assert_eq!(
                    (original["width"].clone(), original["height"].clone()),
                    (json!(5000), json!(5000))
                );
            }
            Some(10023) => assert_eq!(*status, 503, "{v}"),
            _ => panic!("neither stored nor refused as busy: {status} {v}"),
        }
    }
    assert!(stored >= 2, "{answers:?}");
    // Two decodes at once: 2 × 95.4 MiB of decoded pixels, plus 64 MiB for the thumbnails,
    // the decoders' own buffers and the requests. Six at once (the old behaviour) would take
    // 572 MiB.
    let bound = 2 * 100_000_000 + 64 * MIB;
    assert!(
        growth < bound,
        "{UPLOADS} uploads of 25 MP grew the server by {} MiB (bound {} MiB) in {took:?}",
        growth / MIB,
        bound / MIB
    );
    assert!(eventually(|| tmp_files(&server) == 0).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_past_the_decode_wait_are_refused_as_busy() {
    // No wait at all for a decode turn: of 6 heavy uploads arriving together, those that
    // find both turns taken are refused at once with 10023, the others stored.
    let server = start(&["--decode-wait", "0"]);
    let (token, _session) = upload_token(server.addr(), "impatient").await;
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| png_canvas(5000, 5000, &format!("picture {i}")))
        .collect();
    let answers = upload_all(server.addr(), &token, bodies).await;
    let codes: Vec<u64> = answers
        .iter()
        .map(|(_, v)| v["code"].as_u64().expect("a coded answer"))
        .collect();
    assert!(codes.contains(&0), "{answers:?}");
    let busy: Vec<_> = answers.iter().filter(|(_, v)| v["code"] == 10023).collect();
    assert!(!busy.is_empty(), "{answers:?}");
    for (status, v) in busy {
        assert_eq!(*status, 503);
        assert!(v["message"].as_str().unwrap().contains("busy"), "{v}");
    }
    assert!(codes.iter().all(|c| *c == 0 || *c == 10023), "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_2_pow_31_wide_is_refused_with_its_real_size() {
    let server = start(&[]);
    let (token, _session) = upload_token(server.addr(), "wide").await;
    let (status, v) = upload(server.addr(), &token, png_header(1 << 31, 1)).await;
    assert_eq!((status, v["code"].clone()), (415, json!(2252)), "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("2147483648x1"), "{message}");
}

/// Sends an upload's head announcing `declared` bytes, then what `body` writes; returns the
/// server's whole answer (read until it closes) and how long after the head it came.
async fn raw_upload(
    addr: SocketAddr,
    token: &str,
    declared: usize,
    body: impl AsyncFnOnce(&mut tokio::net::tcp::OwnedWriteHalf),
) -> (String, Duration) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {declared}\r\n\r\n"
    );
    write.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut answer = Vec::new();
        // Until the server closes the connection (EOF) or resets it.
        let _ = read.read_to_end(&mut answer).await;
        (answer, started.elapsed())
    });
    let mut reader = std::pin::pin!(tokio::time::timeout(Duration::from_secs(15), reader));
    // The body stops being sent once the server has answered and closed.
    let done = tokio::select! {
        done = &mut reader => done,
        () = body(&mut write) => (&mut reader).await,
    };
    let (answer, took) = done.expect("the server answers and closes").unwrap();
    (String::from_utf8_lossy(&answer).into_owned(), took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_answered_closed_and_cleaned_up() {
    let server = start(&["--upload-idle-timeout", "1"]);
    let (token, _session) = upload_token(server.addr(), "staller").await;
    let fds = server.open_fds();
    let mut in_flight = 0;
    let (answer, took) = raw_upload(server.addr(), &token, 100_000, async |w| {
        w.write_all(&png_canvas(100, 100, "stall")[..100])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        in_flight = tmp_files(&server);
        // Then nothing more, with the socket open: the server must not wait for the rest.
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    assert_eq!(
        in_flight, 1,
        "the upload was being written to a temporary file"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":2801"), "{answer}");
    assert!(answer.contains("stalled"), "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "answered and closed after {took:?}"
    );
    assert!(
        eventually(|| tmp_files(&server) == 0).await,
        "the temporary file is removed"
    );
    assert!(
        eventually(|| server.open_fds() <= fds).await,
        "open files back to {fds}: {}",
        server.open_fds()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_upload_ends_at_the_upload_deadline() {
    let server = start(&["--upload-idle-timeout", "2", "--upload-timeout", "3"]);
    let (token, _session) = upload_token(server.addr(), "trickler").await;
    let fds = server.open_fds();
    let (answer, took) = raw_upload(server.addr(), &token, 100_000, async |w| {
        // A byte every 200 ms never trips the idle timeout, for ever if it could.
        for b in png_canvas(100, 100, "trickle")
            .into_iter()
            .cycle()
            .take(100)
        {
            if w.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":2801"), "{answer}");
    assert!(answer.contains("longer than 3 s"), "{answer}");
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(6),
        "answered and closed after {took:?}"
    );
    assert!(eventually(|| tmp_files(&server) == 0).await);
    assert!(eventually(|| server.open_fds() <= fds).await);
}
