//! Pictures: upload with progress, server-made thumbnails, serving, and every refusal.

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use liveroom_engine::proto::{CreateRoomOptions, Priority};
use liveroom_engine::ImageSource;
use liveroom_tests::{sig, Server, APP};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{assert_no_event, messages, RawClient};

fn picture(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 251) as u8, (y % 241) as u8, 128]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

async fn room_with_viewer(server: &Server) -> (liveroom_engine::Im, liveroom_engine::Im) {
    let host = server.login("host").await;
    host.create_room(CreateRoomOptions {
        name: "pics".into(),
        room_id: Some("pics".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room("pics").await.unwrap();
    let viewer = server.engine();
    viewer.enter_room("pics").await.unwrap();
    (host, viewer)
}

/// Logs in over a raw socket to get an upload token, for requests an engine would not make.
async fn upload_token(server: &Server, user: &str) -> String {
    let mut c = RawClient::connect(server).await;
    c.request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    let r = c
        .request(json!({"id": 2, "op": "login", "user_id": user, "user_sig": sig(user)}))
        .await;
    // Keep the session alive for the test's duration.
    let token = r["data"]["upload_token"]
        .as_str()
        .expect("upload token")
        .to_owned();
    std::mem::forget(c);
    token
}

async fn raw_upload(server: &Server, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/upload", server.http_url()))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("upload request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn stored_files(server: &Server) -> usize {
    std::fs::read_dir(server.data_dir().join("images"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_round_trips_with_three_decodable_sizes() {
    let server = Server::start();
    let (host, viewer) = room_with_viewer(&server).await;
    let mut rx = viewer.events();
    let http = reqwest::Client::new();
    for (format, number) in [
        (ImageFormat::Jpeg, 1),
        (ImageFormat::Gif, 2),
        (ImageFormat::Png, 3),
        (ImageFormat::Bmp, 4),
    ] {
        let bytes = picture(1600, 1000, format);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let sent = host
            .send_image_message(
                "pics",
                ImageSource::Bytes(bytes.clone()),
                Priority::Normal,
                Some(Box::new(move |f| s.lock().unwrap().push(f))),
            )
            .await
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let progress = seen.lock().unwrap().clone();
        assert!(
            progress.windows(2).all(|w| w[0] < w[1]),
            "progress increases: {progress:?}"
        );
        assert_eq!(progress.last(), Some(&1.0));

        let got = messages(&mut rx, "t_image_message_received", 1).await;
        let m = &got[0];
        assert_eq!(m["ID"], sent.id.as_str());
        assert_eq!(m["type"], "TIMImageElem");
        assert_eq!(m["payload"]["imageFormat"], number, "{format:?}");
        let infos = m["payload"]["imageInfoArray"].as_array().unwrap();
        let sizes: Vec<(u64, u64, u64)> = infos
            .iter()
            .map(|i| {
                (
                    i["sizeType"].as_u64().unwrap(),
                    i["width"].as_u64().unwrap(),
                    i["height"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            sizes,
            [(1, 1600, 1000), (2, 720, 450), (3, 198, 124)],
            "{format:?}"
        );
        assert_eq!(infos[0]["size"].as_u64().unwrap(), bytes.len() as u64);
        for info in infos {
            let url = info["url"].as_str().unwrap();
            assert!(url.starts_with(&server.http_url()), "{url}");
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(ct.starts_with("image/"), "{ct}");
            assert!(r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age"));
            let etag = r.headers()["etag"].to_str().unwrap().to_owned();
            let body = r.bytes().await.unwrap();
            assert_eq!(body.len() as u64, info["size"].as_u64().unwrap());
            let img = image::load_from_memory(&body).expect("downloaded size decodes");
            assert_eq!(u64::from(img.width()), info["width"].as_u64().unwrap());
            let again = http
                .get(url)
                .header("if-none-match", etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_checks_by_content_and_limits() {
    let server = Server::start();
    let token = upload_token(&server, "up").await;
    let before = stored_files(&server);

    let (status, v) = raw_upload(
        &server,
        &token,
        b"just text, though the file was called cat.png".to_vec(),
    )
    .await;
    assert_eq!(v["code"], 2252, "{status} {v}");

    let mut big = picture(10, 10, ImageFormat::Png);
    big.resize(20 * 1024 * 1024 + 1, 0);
    let (status, v) = raw_upload(&server, &token, big).await;
    assert_eq!((status, v["code"].clone()), (413, json!(2253)), "{v}");

    let png = picture(400, 400, ImageFormat::Png);
    let (_, v) = raw_upload(&server, &token, png[..png.len() / 2].to_vec()).await;
    assert_eq!(v["code"], 2252, "truncated: {v}");

    let mut bomb = picture(1, 1, ImageFormat::Png);
    bomb[16..20].copy_from_slice(&200_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&200_000u32.to_be_bytes());
    let (_, v) = raw_upload(&server, &token, bomb).await;
    assert_eq!(v["code"], 2252, "bomb: {v}");
    assert!(
        v["message"].as_str().unwrap().contains("pixels")
            || v["message"].as_str().unwrap().contains("decoded"),
        "{v}"
    );

    assert_eq!(stored_files(&server), before, "nothing refused was stored");
    let tmp = std::fs::read_dir(server.data_dir().join("images/tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "no half-finished upload is left");

    // No token, no upload.
    let (status, v) = raw_upload(&server, "", picture(4, 4, ImageFormat::Png)).await;
    assert_eq!((status, v["code"].clone()), (401, json!(2999)));

    // The same picture twice is stored once.
    let png = picture(64, 48, ImageFormat::Png);
    let (_, a) = raw_upload(&server, &token, png.clone()).await;
    let n = stored_files(&server);
    let (_, b) = raw_upload(&server, &token, png).await;
    assert_eq!(a["data"]["uuid"], b["data"]["uuid"]);
    assert_eq!(stored_files(&server), n);

    // Names that are not stored pictures get 404, and no path reaches the filesystem.
    for name in [
        "nope.png",
        "..%2F..%2Fliveroom.db",
        "..%2fimages%2ftmp",
        &format!("{}.orig.png", "a".repeat(64)),
    ] {
        let r = reqwest::get(format!("{}/images/{name}", server.http_url()))
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_upload_is_refused_before_its_body() {
    let server = Server::start();
    let token = upload_token(&server, "big").await;
    let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        200u64 * 1024 * 1024
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[0u8; 1024]).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answer without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("2253"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_call_stops_the_upload() {
    let server = Server::start();
    let (host, viewer) = room_with_viewer(&server).await;
    let mut rx = viewer.events();
    // A large, incompressible picture: many chunks to send.
    let img = RgbImage::from_fn(3000, 2000, |x, y| {
        Rgb([((x * 7) ^ (y * 13)) as u8, (x * y) as u8, (x + y * 3) as u8])
    });
    let mut bmp = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut bmp, ImageFormat::Bmp)
        .unwrap();
    let (tx, started) = tokio::sync::oneshot::channel::<()>();
    let tx = Mutex::new(Some(tx));
    let task = tokio::spawn(async move {
        host.send_image_message(
            "pics",
            ImageSource::Bytes(bmp.into_inner()),
            Priority::Normal,
            Some(Box::new(move |f| {
                if f > 0.0 {
                    if let Some(tx) = tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                    // A slow uplink: the upload is still going when the call is cancelled.
                    std::thread::sleep(Duration::from_millis(20));
                }
            })),
        )
        .await
    });
    started.await.expect("upload started");
    task.abort();
    assert_no_event(
        &mut rx,
        "t_image_message_received",
        Duration::from_millis(1500),
    )
    .await;
    let originals = std::fs::read_dir(server.data_dir().join("images"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".orig."))
        .count();
    assert_eq!(originals, 0, "a cancelled upload stores nothing");
}
