use super::*;
use image::{ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

fn store() -> (tempfile::TempDir, MediaStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = MediaStore::open(dir.path().join("images")).unwrap();
    (dir, store)
}

fn picture(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

fn dims(v: &Variant) -> (u32, u32) {
    (v.width, v.height)
}

#[test]
fn every_format_gets_three_sizes_that_decode() {
    let (_d, store) = store();
    for (format, number) in [
        (ImageFormat::Jpeg, 1),
        (ImageFormat::Gif, 2),
        (ImageFormat::Png, 3),
        (ImageFormat::Bmp, 4),
    ] {
        let stored = store.ingest_bytes(&picture(1600, 900, format)).unwrap();
        assert_eq!(stored.format as u8, number, "{format:?}");
        let s: Vec<_> = stored.sizes.iter().map(dims).collect();
        assert_eq!(s, [(1600, 900), (720, 405), (198, 111)], "{format:?}");
        for v in &stored.sizes {
            let (path, _) = store.file(&v.file).expect("served");
            let bytes = fs::read(path).unwrap();
            assert_eq!(bytes.len() as u64, v.bytes);
            let img = image::load_from_memory(&bytes).unwrap();
            assert_eq!((img.width(), img.height()), dims(v));
        }
        let payload = stored.payload("http://h:1/");
        assert_eq!(payload.image_info_array.len(), 3);
        assert_eq!(payload.image_info_array[1].size_type, 2);
        assert!(payload.image_info_array[2]
            .url
            .starts_with("http://h:1/images/"));
    }
}

#[test]
fn small_pictures_are_never_upscaled() {
    let (_d, store) = store();
    let stored = store
        .ingest_bytes(&picture(300, 100, ImageFormat::Png))
        .unwrap();
    let s: Vec<_> = stored.sizes.iter().map(dims).collect();
    assert_eq!(s, [(300, 100), (300, 100), (198, 66)]);
}

#[test]
fn transparency_keeps_png_thumbnails() {
    let (_d, store) = store();
    let img = RgbaImage::from_pixel(800, 800, Rgba([255, 0, 0, 40]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgba8(img)
        .write_to(&mut out, ImageFormat::Png)
        .unwrap();
    let stored = store.ingest_bytes(&out.into_inner()).unwrap();
    assert!(stored.sizes[1].file.ends_with(".large.png"));
}

#[test]
fn exif_orientation_is_applied_and_not_copied() {
    // A 1600x800 JPEG whose EXIF says "rotate 90° clockwise": shown as 800x1600.
    let exif: Vec<u8> = vec![
        b'I', b'I', 42, 0, 8, 0, 0, 0, // TIFF header, IFD at 8
        1, 0, // one entry
        0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, // Orientation, SHORT, 1, value 6
        0, 0, 0, 0, // no next IFD
    ];
    let img = RgbImage::from_pixel(1600, 800, Rgb([10, 200, 30]));
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 90);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(img.as_raw(), 1600, 800, image::ExtendedColorType::Rgb8)
        .unwrap();
    assert!(out.windows(4).any(|w| w == b"Exif"));

    let (_d, store) = store();
    let stored = store.ingest_bytes(&out).unwrap();
    assert_eq!(dims(&stored.sizes[0]), (800, 1600));
    assert_eq!(dims(&stored.sizes[1]), (360, 720));
    let (large, _) = store.file(&stored.sizes[1].file).unwrap();
    let large = fs::read(large).unwrap();
    assert!(
        !large.windows(4).any(|w| w == b"Exif"),
        "thumbnails carry no metadata"
    );
}

#[test]
fn text_named_png_is_refused_by_content() {
    let (_d, store) = store();
    let err = store
        .ingest_bytes(b"hello, I am text in a file called photo.png")
        .unwrap_err();
    assert_eq!(err.code(), 2252);
}

#[test]
fn over_20_mb_is_refused() {
    let (_d, store) = store();
    let mut big = picture(10, 10, ImageFormat::Png);
    big.resize((MAX_BYTES + 1) as usize, 0);
    assert_eq!(store.ingest_bytes(&big).unwrap_err().code(), 2253);
}

#[test]
fn truncated_png_is_refused_and_nothing_is_stored() {
    let (dir, store) = store();
    let png = picture(500, 500, ImageFormat::Png);
    let err = store.ingest_bytes(&png[..png.len() / 2]).unwrap_err();
    assert_eq!(err.code(), 2252, "{err}");
    assert!(err.to_string().contains("decoded"), "{err}");
    let files: Vec<_> = fs::read_dir(dir.path().join("images"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn decompression_bomb_is_refused_from_its_header() {
    // A valid PNG header declaring 100000 x 100000 pixels, with a tiny body.
    let mut png = picture(1, 1, ImageFormat::Png);
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    // Fix the IHDR CRC so that the decoder reads the header as valid.
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let (_d, store) = store();
    let err = store.ingest_bytes(&png).unwrap_err();
    assert!(matches!(err, MediaError::TooManyPixels { .. }), "{err:?}");
    assert_eq!(err.code(), 2252);
    assert!(err.to_string().contains("100000x100000"), "{err}");
}

#[test]
fn same_picture_is_stored_once() {
    let (dir, store) = store();
    let png = picture(64, 64, ImageFormat::Png);
    let a = store.ingest_bytes(&png).unwrap();
    let b = store.ingest_bytes(&png).unwrap();
    assert_eq!(a, b);
    let count = fs::read_dir(dir.path().join("images")).unwrap().count();
    assert_eq!(count, 5, "3 sizes + metadata + tmp folder");
}

#[test]
fn only_our_names_reach_the_filesystem() {
    let (_d, store) = store();
    let stored = store
        .ingest_bytes(&picture(10, 10, ImageFormat::Png))
        .unwrap();
    assert!(store.file(&stored.sizes[0].file).is_some());
    for name in [
        "../etc/passwd",
        "x.orig.png",
        &format!("{}.orig.exe", stored.uuid),
        &format!("{}.json", stored.uuid),
        &format!("{}.large.png/../../x", stored.uuid),
        &format!("{}.orig.jpg", "0".repeat(64)),
    ] {
        assert!(store.file(name).is_none(), "{name}");
    }
    assert!(store.lookup("../../x").is_none());
}

#[test]
fn abandoned_uploads_leave_nothing() {
    let (dir, store) = store();
    let up = store.temp_upload();
    fs::write(up.path(), b"half an upload").unwrap();
    drop(up);
    assert_eq!(
        fs::read_dir(dir.path().join("images/tmp")).unwrap().count(),
        0
    );
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
