use super::*;
use image::{ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};
use std::io::Cursor;

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

/// A PNG signature and IHDR declaring `w`×`h` at `bit_depth` and `color_type`, then an
/// empty IDAT: a header that decoders read in full, with no pixels behind it.
fn png_header(w: u32, h: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    for chunk in [&ihdr[..], b"IDAT", b"IEND"] {
        png.extend_from_slice(&(chunk.len() as u32 - 4).to_be_bytes());
        png.extend_from_slice(chunk);
        png.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    png
}

#[test]
fn the_pixel_limit_is_25_megapixels_and_100_mb_decoded() {
    assert!(check_size(5000, 5000, 4).is_ok());
    assert!(check_size(16_384, 1525, 4).is_ok());
    assert!(
        check_size(3535, 3535, 8).is_ok(),
        "16-bit RGBA up to 12.5 MP"
    );
    for (w, h) in [(5001, 5000), (7000, 7000), (16_385, 1), (1, 16_385)] {
        let err = check_size(w, h, 4).unwrap_err();
        assert!(
            matches!(err, MediaError::TooManyPixels { .. }),
            "{w}x{h}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("{w}x{h}")), "{err}");
        assert!(err.to_string().contains("25 megapixels"), "{err}");
    }
    let err = check_size(4000, 4000, 8).unwrap_err();
    assert!(matches!(err, MediaError::DecodedTooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("128000000 bytes"), "{err}");
    assert_eq!(err.code(), 2252);
    assert!(matches!(
        check_size(0, 10, 4),
        Err(MediaError::NotAPicture(_))
    ));
}

#[test]
fn headers_over_the_limits_are_refused_naming_their_declared_size() {
    let (_d, store) = store();
    let mut gif = picture(1, 1, ImageFormat::Gif);
    gif[6..10].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let mut bmp = picture(1, 1, ImageFormat::Bmp);
    bmp[18..22].copy_from_slice(&20_000i32.to_le_bytes());
    bmp[22..26].copy_from_slice(&(-100i32).to_le_bytes()); // top-down rows
    let mut jpeg = picture(16, 16, ImageFormat::Jpeg);
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&5000u16.to_be_bytes()); // height
    jpeg[sof + 7..sof + 9].copy_from_slice(&6000u16.to_be_bytes()); // width
    let cases = [
        (jpeg, "6000x5000"),
        (png_header(5001, 5000, 8, 2), "5001x5000"),
        (png_header(7000, 7000, 8, 6), "7000x7000"),
        (png_header(1 << 31, 1, 8, 2), "2147483648x1"),
        (
            png_header(u32::MAX, u32::MAX, 8, 2),
            "4294967295x4294967295",
        ),
        (gif, "65535x65535"),
        (bmp, "20000x100"),
    ];
    for (bytes, size) in cases {
        let err = store.ingest_bytes(&bytes).unwrap_err();
        assert!(
            matches!(err, MediaError::TooManyPixels { .. }),
            "{size}: {err:?}"
        );
        assert_eq!(err.code(), 2252);
        assert!(err.to_string().contains(size), "{size}: {err}");
    }
    let err = store
        .ingest_bytes(&png_header(4000, 4000, 16, 6))
        .unwrap_err();
    assert!(matches!(err, MediaError::DecodedTooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("8 bytes a pixel"), "{err}");
}

/// A 1600×800 JPEG, left half red and right half blue, whose EXIF says `orientation`.
fn oriented_jpeg(orientation: u8) -> Vec<u8> {
    let exif: Vec<u8> = vec![
        b'I',
        b'I',
        42,
        0,
        8,
        0,
        0,
        0, // TIFF header, IFD at 8
        1,
        0, // one entry
        0x12,
        0x01,
        3,
        0,
        1,
        0,
        0,
        0,
        orientation,
        0,
        0,
        0, // Orientation, SHORT, 1
        0,
        0,
        0,
        0, // no next IFD
    ];
    let img = RgbImage::from_fn(1600, 800, |x, _| {
        if x < 800 {
            Rgb([230, 20, 20])
        } else {
            Rgb([20, 20, 230])
        }
    });
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 90);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(img.as_raw(), 1600, 800, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn is_red(p: &Rgb<u8>) -> bool {
    p[0] > 150 && p[2] < 100
}

fn is_blue(p: &Rgb<u8>) -> bool {
    p[2] > 150 && p[0] < 100
}

#[test]
fn thumbnails_come_out_oriented() {
    let (_d, store) = store();
    // 6: rotate 90° clockwise, so the left (red) half ends on top.
    let stored = store.ingest_bytes(&oriented_jpeg(6)).unwrap();
    let sizes: Vec<_> = stored.sizes.iter().map(dims).collect();
    assert_eq!(sizes, [(800, 1600), (360, 720), (99, 198)]);
    for v in &stored.sizes[1..] {
        let (path, _) = store.file(&v.file).unwrap();
        let img = image::open(path).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        assert!(
            is_red(img.get_pixel(w / 2, h / 10)),
            "{}: top is red",
            v.file
        );
        assert!(
            is_blue(img.get_pixel(w / 2, h * 9 / 10)),
            "{}: bottom is blue",
            v.file
        );
    }
    // 3: rotate 180°, so red ends on the right.
    let stored = store.ingest_bytes(&oriented_jpeg(3)).unwrap();
    let sizes: Vec<_> = stored.sizes.iter().map(dims).collect();
    assert_eq!(sizes, [(1600, 800), (720, 360), (198, 99)]);
    for v in &stored.sizes[1..] {
        let (path, _) = store.file(&v.file).unwrap();
        let img = image::open(path).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        assert!(
            is_blue(img.get_pixel(w / 10, h / 2)),
            "{}: left is blue",
            v.file
        );
        assert!(
            is_red(img.get_pixel(w * 9 / 10, h / 2)),
            "{}: right is red",
            v.file
        );
    }
}

#[tokio::test]
async fn decodes_wait_for_a_free_slot_then_are_refused_as_busy() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        MediaStore::open(dir.path().join("images"))
            .unwrap()
            .with_max_decodes(1),
    );
    let known = picture(64, 64, ImageFormat::Png);
    store.ingest_bytes(&known).unwrap();

    let held = store.decodes.clone().try_acquire_owned().unwrap();
    let err = store
        .ingest_bytes(&picture(32, 32, ImageFormat::Png))
        .unwrap_err();
    assert!(
        matches!(err, MediaError::Busy { max_decodes: 1 }),
        "{err:?}"
    );
    assert_eq!(err.code(), 10023);
    assert!(err.to_string().contains("busy"), "{err}");
    // A picture stored already needs no decode, so no slot.
    assert!(store.ingest_bytes(&known).is_ok());

    let upload = |bytes: Vec<u8>| {
        let up = store.temp_upload();
        fs::write(up.path(), bytes).unwrap();
        up
    };
    let started = std::time::Instant::now();
    let err = store
        .clone()
        .ingest_upload(
            upload(picture(32, 32, ImageFormat::Png)),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::Busy { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Headers over the limits are refused without a slot, at once.
    let err = store
        .clone()
        .ingest_upload(
            upload(png_header(7000, 7000, 8, 6)),
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::TooManyPixels { .. }), "{err:?}");

    // Freed while waiting: the upload goes through.
    let waiting = tokio::spawn(store.clone().ingest_upload(
        upload(picture(32, 32, ImageFormat::Png)),
        Duration::from_secs(10),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);
    let stored = waiting.await.unwrap().unwrap();
    assert_eq!(dims(&stored.sizes[0]), (32, 32));
    assert_eq!(
        fs::read_dir(dir.path().join("images/tmp")).unwrap().count(),
        0
    );
}
