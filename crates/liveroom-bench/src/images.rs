//! Pictures: the time to check and thumbnail a 4000×3000 JPEG (both thumbnails), measured on
//! the media library the server uses.

use std::io::Cursor;
use std::time::Instant;

use image::{DynamicImage, ImageFormat, RgbImage};
use liveroom_media::MediaStore;

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
        println!(
            "{}",
            serde_json::json!({"scenario": "thumbnails", "jpeg_bytes": size, "count": args.count, "median_ms": median, "min_ms": times[0]})
        );
    } else {
        println!(
            "thumbnails: 4000x3000 JPEG ({size} bytes): decode + check + large and small thumbnails + store, median {median:.0} ms, min {:.0} ms over {}",
            times[0], args.count
        );
    }
    Ok(())
}
