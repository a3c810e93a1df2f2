//! The picture checks, on any bytes a client can upload: format by content, the limits read
//! from the header before decoding (size, pixels), the decode, the EXIF orientation and both
//! thumbnails, through `MediaStore::ingest_bytes` as the server's upload route calls it, with
//! its limits in force (a bomb must be refused from its header, not decoded into memory).
//!
//! Each input gets a fresh store (in /dev/shm when there is one, so the store's fsyncs cost
//! nothing), removed after: the result never depends on an earlier input.

#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use liveroom_media::{MediaError, MediaStore, LARGE_SIDE, MAX_PIXELS, MAX_SIDE, SMALL_SIDE};
use liveroom_proto::{code, ApiError};

fuzz_target!(|data: &[u8]| {
    let dir = fresh_dir();
    let store = MediaStore::open(&dir).expect("the store opens");
    match store.ingest_bytes(data) {
        Ok(stored) => {
            assert_eq!(stored.sizes.len(), 3, "original, large, small");
            let (orig, large, small) = (&stored.sizes[0], &stored.sizes[1], &stored.sizes[2]);
            assert_eq!(orig.bytes, data.len() as u64);
            for v in &stored.sizes {
                assert!(v.width >= 1 && v.height >= 1, "no empty picture: {v:?}");
                assert!(v.width <= MAX_SIDE && v.height <= MAX_SIDE, "{v:?}");
                assert!(
                    u64::from(v.width) * u64::from(v.height) <= MAX_PIXELS,
                    "{v:?}"
                );
                assert!(store.file(&v.file).is_some(), "{} was stored", v.file);
            }
            assert!(large.width.max(large.height) <= LARGE_SIDE, "{large:?}");
            assert!(small.width.max(small.height) <= SMALL_SIDE, "{small:?}");
            assert_eq!(store.lookup(&stored.uuid).as_ref(), Some(&stored));
            let _ = stored.payload("http://127.0.0.1:9000");
        }
        Err(e) => {
            match &e {
                MediaError::Io(io) => panic!("a refused picture is not a storage failure: {io}"),
                // The size reported is the one that broke a limit (never "0x0 pixels").
                MediaError::TooManyPixels { width, height } => {
                    let (w, h) = (*width, *height);
                    let side = u64::from(MAX_SIDE);
                    assert!(
                        w > side || h > side || w.saturating_mul(h) > MAX_PIXELS,
                        "refused as too many pixels at {w}x{h}"
                    );
                }
                _ => {}
            }
            let api = ApiError::from(e);
            assert!(
                [code::IMAGE_TYPE, code::IMAGE_TOO_LARGE].contains(&api.code),
                "{api:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
});

/// A new, empty folder for one input's store (removed after the input, so a run leaves
/// nothing behind unless it stops on a finding).
fn fresh_dir() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let root = ROOT.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        }
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    root.join(format!("liveroom-fuzz-picture-{}-{n}", std::process::id()))
}
