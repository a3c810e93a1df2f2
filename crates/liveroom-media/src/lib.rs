//! Pictures for Liveroom rooms: checked by decoding (never by name), made into the three sizes
//! TIM shapes (original, large 720 px, small 198 px), and stored by content.
//!
//! Files live in one folder, named `<sha256>.<size>.<ext>`, with `<sha256>.json` holding the
//! metadata; the JSON is written last, so a picture is either complete or absent. Names from
//! clients only ever select among those patterns ([`MediaStore::file`]): no client text reaches
//! a filesystem path.

use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use liveroom_proto::{code, ApiError, ImageInfo, ImagePayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest side of the large thumbnail.
pub const LARGE_SIDE: u32 = 720;
/// Longest side of the small thumbnail.
pub const SMALL_SIDE: u32 = 198;
/// Largest side accepted, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest picture accepted, in pixels (width × height): bounds decode memory and time.
pub const MAX_PIXELS: u64 = 50_000_000;
/// Largest picture accepted, in bytes (SPEC §5).
pub const MAX_BYTES: u64 = liveroom_proto::limits::IMAGE_MAX;

/// Why a picture was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// Not a JPG, PNG, GIF or BMP picture, or one that does not decode.
    #[error("{0}")]
    NotAPicture(String),
    /// Over [`MAX_BYTES`].
    #[error("picture is {0} bytes, at most 20 MB (20971520 bytes) allowed")]
    TooLarge(u64),
    /// Over [`MAX_PIXELS`] or [`MAX_SIDE`]: a decompression bomb or simply too big.
    #[error("picture is {width}x{height} pixels; at most {MAX_SIDE} px a side and 50 megapixels are accepted")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The store's folder failed.
    #[error("picture store: {0}")]
    Io(#[from] io::Error),
}

impl MediaError {
    /// SPEC §5 code: 2252 not a picture, 2253 too large, 5000 storage failure.
    pub fn code(&self) -> u32 {
        match self {
            Self::NotAPicture(_) | Self::TooManyPixels { .. } => code::IMAGE_TYPE,
            Self::TooLarge(_) => code::IMAGE_TOO_LARGE,
            Self::Io(_) => code::INTERNAL,
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        let message = match &e {
            MediaError::Io(_) => "the server could not store the picture".to_owned(),
            other => other.to_string(),
        };
        ApiError::new(e.code(), message)
    }
}

/// The accepted formats, with TIM's `imageFormat` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PictureFormat {
    /// JPEG, `imageFormat` 1.
    Jpg = 1,
    /// GIF (animated stays animated in the original), 2.
    Gif = 2,
    /// PNG, 3.
    Png = 3,
    /// BMP, 4.
    Bmp = 4,
}

impl PictureFormat {
    fn from_image(f: ImageFormat) -> Option<Self> {
        match f {
            ImageFormat::Jpeg => Some(Self::Jpg),
            ImageFormat::Gif => Some(Self::Gif),
            ImageFormat::Png => Some(Self::Png),
            ImageFormat::Bmp => Some(Self::Bmp),
            _ => None,
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpg => ImageFormat::Jpeg,
            Self::Gif => ImageFormat::Gif,
            Self::Png => ImageFormat::Png,
            Self::Bmp => ImageFormat::Bmp,
        }
    }

    fn ext(self) -> &'static str {
        match self {
            Self::Jpg => "jpg",
            Self::Gif => "gif",
            Self::Png => "png",
            Self::Bmp => "bmp",
        }
    }
}

/// One stored size of a picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// 1 original, 2 large, 3 small.
    pub size_type: u8,
    /// File size in bytes.
    pub bytes: u64,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// File name inside the store.
    pub file: String,
}

/// A stored picture: its content hash and its three sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    /// Hex SHA-256 of the original bytes.
    pub uuid: String,
    /// Format of the original.
    pub format: PictureFormat,
    /// Original, large, small.
    pub sizes: Vec<Variant>,
}

impl StoredImage {
    /// The TIM image payload, with URLs under `base_url` (e.g. `http://127.0.0.1:9000`).
    pub fn payload(&self, base_url: &str) -> ImagePayload {
        let base = base_url.trim_end_matches('/');
        ImagePayload {
            image_format: self.format as u8,
            uuid: self.uuid.clone(),
            image_info_array: self
                .sizes
                .iter()
                .map(|v| ImageInfo {
                    size_type: v.size_type,
                    size: v.bytes,
                    width: v.width,
                    height: v.height,
                    url: format!("{base}/images/{}", v.file),
                })
                .collect(),
        }
    }
}

/// The picture folder.
#[derive(Debug)]
pub struct MediaStore {
    dir: PathBuf,
    tmp: PathBuf,
    next_tmp: AtomicU64,
}

impl MediaStore {
    /// Opens (creating) the store in `dir`, and clears half-finished uploads left by a crash.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        let tmp = dir.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        Ok(Self {
            dir,
            tmp,
            next_tmp: AtomicU64::new(0),
        })
    }

    /// A fresh path for an upload in progress; [`TempUpload`] deletes it unless ingested.
    pub fn temp_upload(&self) -> TempUpload {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        TempUpload {
            path: self.tmp.join(format!("upload-{}-{n}", std::process::id())),
        }
    }

    /// Checks, thumbnails and stores an uploaded file. Blocking (decodes): call it from a
    /// blocking thread. The temporary file is removed whatever happens.
    pub fn ingest(&self, upload: TempUpload) -> Result<StoredImage, MediaError> {
        let bytes = fs::read(&upload.path)?;
        drop(upload);
        self.ingest_bytes(&bytes)
    }

    /// Checks, thumbnails and stores a picture given as bytes. Blocking.
    pub fn ingest_bytes(&self, bytes: &[u8]) -> Result<StoredImage, MediaError> {
        if bytes.len() as u64 > MAX_BYTES {
            return Err(MediaError::TooLarge(bytes.len() as u64));
        }
        let format = image::guess_format(bytes)
            .ok()
            .and_then(PictureFormat::from_image)
            .ok_or_else(|| {
                MediaError::NotAPicture(
                    "not a JPG, PNG, GIF or BMP picture (checked by content, not by name)".into(),
                )
            })?;
        let uuid = hex(&Sha256::digest(bytes));
        if let Some(stored) = self.lookup(&uuid) {
            return Ok(stored);
        }
        let image = decode(bytes, format)?;
        let original = Variant {
            size_type: 1,
            bytes: bytes.len() as u64,
            width: image.width(),
            height: image.height(),
            file: format!("{uuid}.orig.{}", format.ext()),
        };
        write_atomic(&self.dir.join(&original.file), bytes)?;
        let large = fit(&image, LARGE_SIDE);
        let small = fit(&large, SMALL_SIDE);
        let large = self.write_thumbnail(&uuid, 2, "large", &large)?;
        let small = self.write_thumbnail(&uuid, 3, "small", &small)?;
        let stored = StoredImage {
            uuid: uuid.clone(),
            format,
            sizes: vec![original, large, small],
        };
        let meta = serde_json::to_vec(&stored).map_err(io::Error::other)?;
        write_atomic(&self.dir.join(format!("{uuid}.json")), &meta)?;
        tracing::debug!(%uuid, ?format, "picture stored");
        Ok(stored)
    }

    /// The stored picture with this uuid, if any.
    pub fn lookup(&self, uuid: &str) -> Option<StoredImage> {
        if !is_hex64(uuid) {
            return None;
        }
        let meta = fs::read(self.dir.join(format!("{uuid}.json"))).ok()?;
        serde_json::from_slice(&meta).ok()
    }

    /// The path and content type of a stored file, if `name` is one of ours and exists.
    pub fn file(&self, name: &str) -> Option<(PathBuf, &'static str)> {
        let (uuid, rest) = name.split_once('.')?;
        let (size, ext) = rest.split_once('.')?;
        if !is_hex64(uuid) || !matches!(size, "orig" | "large" | "small") {
            return None;
        }
        let content_type = match ext {
            "jpg" => "image/jpeg",
            "png" => "image/png",
            "gif" => "image/gif",
            "bmp" => "image/bmp",
            _ => return None,
        };
        let path = self.dir.join(name);
        path.is_file().then_some((path, content_type))
    }
}

/// An upload being written; its file is deleted when this is dropped.
#[derive(Debug)]
pub struct TempUpload {
    path: PathBuf,
}

impl TempUpload {
    /// Where to write the upload.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempUpload {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Decodes with limits checked from the header first, then applies the EXIF orientation.
fn decode(bytes: &[u8], format: PictureFormat) -> Result<DynamicImage, MediaError> {
    let bad = |e: image::ImageError| {
        MediaError::NotAPicture(format!("picture could not be decoded: {e}"))
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| limit_or(e, bytes, format))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(MediaError::NotAPicture("picture has no pixels".into()));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(MediaError::TooManyPixels { width, height });
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(bad)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Maps a decoder error to [`MediaError::TooManyPixels`] when it was a limit, reading the
/// declared size without limits (headers only), else to "could not be decoded".
fn limit_or(e: image::ImageError, bytes: &[u8], format: PictureFormat) -> MediaError {
    if let image::ImageError::Limits(_) = e {
        let dims = ImageReader::with_format(Cursor::new(bytes), format.image_format())
            .into_dimensions()
            .unwrap_or((0, 0));
        return MediaError::TooManyPixels {
            width: dims.0,
            height: dims.1,
        };
    }
    MediaError::NotAPicture(format!("picture could not be decoded: {e}"))
}

/// Scales down so the longest side is at most `side`; never scales up.
fn fit(image: &DynamicImage, side: u32) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let longest = w.max(h);
    if longest <= side {
        return image.clone();
    }
    let scale = f64::from(side) / f64::from(longest);
    let nw = ((f64::from(w) * scale).round() as u32).clamp(1, side);
    let nh = ((f64::from(h) * scale).round() as u32).clamp(1, side);
    image.thumbnail_exact(nw, nh)
}

impl MediaStore {
    /// Encodes a thumbnail (PNG when it has transparency, JPEG otherwise; no metadata).
    fn write_thumbnail(
        &self,
        uuid: &str,
        size_type: u8,
        size: &str,
        image: &DynamicImage,
    ) -> Result<Variant, MediaError> {
        let mut out = Vec::new();
        let ext = if image.color().has_alpha() {
            image
                .write_with_encoder(PngEncoder::new(&mut out))
                .map_err(|e| io::Error::other(e.to_string()))?;
            "png"
        } else {
            DynamicImage::ImageRgb8(image.to_rgb8())
                .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 85))
                .map_err(|e| io::Error::other(e.to_string()))?;
            "jpg"
        };
        let file = format!("{uuid}.{size}.{ext}");
        write_atomic(&self.dir.join(&file), &out)?;
        Ok(Variant {
            size_type,
            bytes: out.len() as u64,
            width: image.width(),
            height: image.height(),
            file,
        })
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("part");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    fs::rename(&tmp, path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests;
