//! Pictures: upload throughput of a 10 MB picture through the engine and the real server on
//! loopback, and the time to check and thumbnail a 4000×3000 JPEG (both thumbnails) with the
//! media library the server uses.

use std::io::Cursor;
use std::time::Instant;

use std::sync::{Arc, Mutex};

use image::{DynamicImage, ImageFormat, RgbImage};
use liveroom_engine::proto::{CreateRoomOptions, Priority};
use liveroom_engine::{Im, ImageSource};
use liveroom_media::MediaStore;

use crate::server::{BenchServer, APP};

/// Flags of `liveroom-bench images`.
#[derive(clap::Args)]
pub struct Args {
    /// Pictures to process (each different, so none is deduplicated).
    #[arg(long, default_value_t = 5)]
    count: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let upload = upload_throughput().await?;
    let dir = tempfile::tempdir()?;
    let store = MediaStore::open(dir.path())?;
    let mut times = Vec::new();
    let mut size = 0;
    for i in 0..args.count {
        let img = RgbImage::from_fn(4000, 3000, |x, y| {
            image::Rgb([
                ((x + i) % 256) as u8,
                (y % 256) as u8,
                ((x ^ y) % 256) as u8,
            ])
        });
        let mut jpeg = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img).write_to(&mut jpeg, ImageFormat::Jpeg)?;
        let jpeg = jpeg.into_inner();
        size = jpeg.len();
        let t = Instant::now();
        let stored = tokio::task::spawn_blocking({
            let store_dir = dir.path().to_owned();
            move || {
                MediaStore::open(store_dir)
                    .and_then(|s| s.ingest_bytes(&jpeg).map_err(std::io::Error::other))
            }
        })
        .await??;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        debug_assert_eq!(stored.sizes.len(), 3);
    }
    drop(store);
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    if args.json {
        println!("{upload}");
        println!(
            "{}",
            serde_json::json!({"scenario": "thumbnails", "jpeg_bytes": size, "count": args.count, "median_ms": median, "min_ms": times[0]})
        );
    } else {
        let f = |k: &str| upload[k].as_f64().unwrap_or(0.0);
        println!(
            "upload: {} bytes streamed in {:.1} ms = {:.0} MB/s; {:.1} ms until the image message was sent (upload + decode + thumbnails + store + send)",
            upload["bytes"], f("upload_ms"), f("mb_per_s"), f("total_ms")
        );
        println!(
            "thumbnails: 4000x3000 JPEG ({size} bytes): decode + check + large and small thumbnails + store, median {median:.0} ms, min {:.0} ms over {}",
            times[0], args.count
        );
    }
    Ok(())
}

/// Sends a 10 MB (incompressible BMP) picture through the engine; times the upload phase (from
/// the first progress report to 1.0) and the whole call.
async fn upload_throughput() -> anyhow::Result<serde_json::Value> {
    let server = BenchServer::start(None, &[])?;
    let im = Im::new(APP, &server.url).map_err(anyhow::Error::msg)?;
    im.login("uploader", &server.sig("uploader"))
        .await
        .map_err(anyhow::Error::msg)?;
    let room = im
        .create_room(CreateRoomOptions {
            name: "pictures".into(),
            ..Default::default()
        })
        .await
        .map_err(anyhow::Error::msg)?
        .group_id;
    im.enter_room(&room).await.map_err(anyhow::Error::msg)?;
    let img = RgbImage::from_fn(1870, 1870, |x, y| {
        let h = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).rotate_left(x % 13);
        image::Rgb([h as u8, (h >> 8) as u8, (h >> 16) as u8])
    });
    let mut bmp = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img).write_to(&mut bmp, ImageFormat::Bmp)?;
    let bmp = bmp.into_inner();
    let bytes = bmp.len();
    let marks: Arc<Mutex<(Option<Instant>, Option<Instant>)>> = Arc::default();
    let m = marks.clone();
    let start = Instant::now();
    im.send_image_message(
        &room,
        ImageSource::Bytes(bmp),
        Priority::Normal,
        Some(Box::new(move |f| {
            if let Ok(mut m) = m.lock() {
                if f > 0.0 && m.0.is_none() {
                    m.0 = Some(Instant::now());
                }
                if f >= 1.0 {
                    m.1 = Some(Instant::now());
                }
            }
        })),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let total = start.elapsed();
    let (first, last) = *marks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let upload = match (first, last) {
        (Some(_), Some(b)) => b.duration_since(start),
        _ => total,
    };
    let secs = upload.as_secs_f64().max(1e-6);
    Ok(serde_json::json!({
        "scenario": "upload",
        "bytes": bytes,
        "upload_ms": secs * 1000.0,
        "mb_per_s": bytes as f64 / 1e6 / secs,
        "total_ms": total.as_secs_f64() * 1000.0,
    }))
}
