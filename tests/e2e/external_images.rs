//! External pictures (avatar URLs) through the room server's proxy, `GET /external-image`,
//! against a small local HTTP server playing the picture's origin: a picture, a page, a
//! too-large file, a stalled one, redirects and a 404.

use std::collections::HashMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage};
use liveroom_tests::Server;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 251) as u8, (y % 241) as u8, 77]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// The picture's origin: counts the requests for each path.
struct Origin {
    addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Origin {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let counter = hits.clone();
        let picture = Arc::new(png(800, 600));
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let counter = counter.clone();
                let picture = picture.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    *counter.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let (status, kind, body): (&str, &str, Vec<u8>) = match path.as_str() {
                        "/pic.png" | "/pic2.png" | "/other.png" => {
                            ("200 OK", "image/png", picture.to_vec())
                        }
                        "/page" => ("200 OK", "image/png", b"<html><script>x</script>".to_vec()),
                        "/big" => ("200 OK", "image/png", vec![0x89; 300_000]),
                        "/big-unsized" => {
                            // No Content-Length: the limit must hold as bytes arrive.
                            let _ = tcp
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n")
                                .await;
                            for _ in 0..40 {
                                if tcp.write_all(&[0x89; 10_000]).await.is_err() {
                                    return;
                                }
                            }
                            return;
                        }
                        "/slow" => {
                            let _ = tcp
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n\x89PNG")
                                .await;
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        "/redirect" => {
                            let _ = tcp
                                .write_all(b"HTTP/1.1 302 Found\r\nLocation: /pic2.png\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                        "/loop" => {
                            let _ = tcp
                                .write_all(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                        _ => ("404 Not Found", "text/plain", b"no".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tcp.write_all(head.as_bytes()).await;
                    let _ = tcp.write_all(&body).await;
                });
            }
        });
        Self { addr, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// GET /external-image?url=...: status, headers, body.
async fn proxy(server: &Server, url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = reqwest::Client::new()
        .get(format!("{}/external-image", server.http_url()))
        .query(&[("url", url)])
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.expect("body").to_vec())
}

/// Fails clearly while the server's router lacks the route.
fn routed(status: u16) {
    assert_ne!(
        status, 404,
        "GET /external-image is not routed: http.rs's router needs \
         .route(\"/external-image\", get(external_images::serve))"
    );
}

/// A refusal's status and `{code, message}`.
async fn refusal(server: &Server, url: &str) -> (u16, u32, String) {
    let (status, _, body) = proxy(server, url).await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let code = v["code"].as_u64().unwrap_or_default() as u32;
    (
        status,
        code,
        v["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_picture_is_fetched_once_and_served_as_a_checked_thumbnail() {
    let origin = Origin::start().await;
    let mut server = Server::start_with(&["--external-image-allow-internal"]);
    let original = png(800, 600);

    let (status, headers, body) = proxy(&server, &origin.url("/pic.png")).await;
    routed(status);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let kind = headers[reqwest::header::CONTENT_TYPE].to_str().unwrap();
    assert!(kind == "image/jpeg" || kind == "image/png", "{kind}");
    assert_ne!(body, original, "re-encoded, never the origin's bytes");
    let thumb = image::load_from_memory(&body).expect("a decodable picture");
    let (w, h) = thumb.dimensions();
    assert_eq!(w.max(h), 198, "the small thumbnail, {w}x{h}");
    assert!(
        (148..=150).contains(&h),
        "the aspect ratio is kept: {w}x{h}"
    );

    // Asked again, and by many viewers at once for another picture: one fetch each.
    let (status, _, again) = proxy(&server, &origin.url("/pic.png")).await;
    assert_eq!((status, &again), (200, &body));
    let many: Vec<_> = (0..8)
        .map(|_| {
            let url = origin.url("/pic2.png");
            let base = server.http_url();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .get(format!("{base}/external-image"))
                    .query(&[("url", url)])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for task in many {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
    assert_eq!(origin.hits("/pic.png"), 1);
    assert_eq!(origin.hits("/pic2.png"), 1);

    // The engine shows avatars the same way: any http(s) URL through the proxy.
    let engine = server.engine();
    let shown = engine.fetch_image(&origin.url("/pic.png")).await.unwrap();
    assert_eq!(shown.bytes, body);
    let e = engine.fetch_image(&origin.url("/page")).await.unwrap_err();
    assert_eq!(e.code, 2252, "{e}");

    // Conditional requests are answered without a body.
    let etag = headers[reqwest::header::ETAG].clone();
    let r = reqwest::Client::new()
        .get(format!("{}/external-image", server.http_url()))
        .query(&[("url", origin.url("/pic.png"))])
        .header(reqwest::header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);

    // A redirect is followed (to a picture already cached under its own URL or not).
    let (status, _, _) = proxy(&server, &origin.url("/redirect")).await;
    assert_eq!(status, 200);

    // The cache is on disk: a restarted server does not ask the origin again.
    server.restart();
    let (status, _, after) = proxy(&server, &origin.url("/pic.png")).await;
    assert_eq!((status, &after), (200, &body));
    assert_eq!(origin.hits("/pic.png"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_small_picture_from_a_quick_origin_is_refused_with_clear_codes() {
    let origin = Origin::start().await;
    let server = Server::start_with(&[
        "--external-image-allow-internal",
        "--external-image-timeout",
        "2",
        "--external-image-max-bytes",
        "200000",
    ]);

    let (status, code, message) = refusal(&server, &origin.url("/page")).await;
    routed(status);
    assert_eq!((status, code), (415, 2252), "{message}");
    let (status, code, message) = refusal(&server, &origin.url("/big")).await;
    assert_eq!((status, code), (413, 2253), "{message}");
    assert!(message.contains("200000"), "{message}");
    let (status, code, message) = refusal(&server, &origin.url("/big-unsized")).await;
    assert_eq!((status, code), (413, 2253), "{message}");
    let (status, code, message) = refusal(&server, &origin.url("/missing")).await;
    assert_eq!((status, code), (502, 2800), "{message}");
    assert!(message.contains("404"), "{message}");
    let (status, code, message) = refusal(&server, &origin.url("/loop")).await;
    assert_eq!((status, code), (502, 2800), "{message}");
    assert!(message.contains("redirects"), "{message}");

    let started = Instant::now();
    let (status, code, message) = refusal(&server, &origin.url("/slow")).await;
    assert_eq!((status, code), (504, 2801), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Not URLs the proxy fetches at all.
    for bad in [
        "ftp://example.org/a.png".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("http://user:pw@{}/pic.png", origin.addr),
        format!("{}?{}", origin.url("/pic.png"), "a".repeat(100)),
    ] {
        let (status, code, message) = refusal(&server, &bad).await;
        assert_eq!((status, code), (400, 10004), "{bad}: {message}");
    }
    let r = reqwest::get(format!("{}/external-image", server.http_url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // Refusals are cached too: the origin is not asked again for a while.
    let (status, ..) = refusal(&server, &origin.url("/page")).await;
    assert_eq!(status, 415);
    assert_eq!(origin.hits("/page"), 1);
    assert_eq!(origin.hits("/slow"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_unless_the_setting_allows_them() {
    let origin = Origin::start().await;
    let server = Server::start();
    let port = origin.addr.port();
    for url in [
        origin.url("/pic.png"),
        format!("http://localhost:{port}/pic.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/pic.png"),
        format!("http://0x7f000001:{port}/pic.png"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let (status, code, message) = refusal(&server, &url).await;
        routed(status);
        assert_eq!((status, code), (403, 10007), "{url}: {message}");
        assert!(message.contains("internal address"), "{message}");
    }
    let e = server
        .engine()
        .fetch_image(&origin.url("/pic.png"))
        .await
        .unwrap_err();
    assert_eq!(e.code, 10007, "through the engine too: {e}");
    assert_eq!(origin.hits("/pic.png"), 0, "the origin was never asked");

    let off = Server::start_with(&["--external-image-fetches", "0"]);
    let (status, code, _) = refusal(&off, "https://example.org/a.png").await;
    assert_eq!((status, code), (403, 10007), "the proxy is off");
}
