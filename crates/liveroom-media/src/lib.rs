//! Pictures for Liveroom rooms: checked by decoding (never by name), made into the three sizes
//! TIM shapes (original, large 720 px, small 198 px), and stored by content.
//!
//! Files live in one folder, named `<sha256>.<size>.<ext>`, with `<sha256>.json` holding the
//! metadata; the JSON is written last, so a picture is either complete or absent. Names from
//! clients only ever select among those patterns ([`MediaStore::file`]): no client text reaches
//! a filesystem path.

use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use liveroom_proto::{code, ApiError, ImageInfo, ImagePayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Longest side of the large thumbnail.
pub const LARGE_SIDE: u32 = 720;
/// Longest side of the small thumbnail.
pub const SMALL_SIDE: u32 = 198;
/// Largest side accepted, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest picture accepted, in pixels (width × height), checked from the header before
/// anything is decoded. 25 megapixels keeps every phone photo (12 MP, 4032×3024) and the
/// common camera size (24 MP, 6000×4000) while refusing canvases like 7000×7000 (49 MP)
/// that cost their weight in memory whatever the file's size: at 4 bytes a pixel (RGBA) one
/// decode of the largest accepted picture takes at most [`MAX_DECODED_BYTES`].
pub const MAX_PIXELS: u64 = 25_000_000;
/// Largest decoded buffer accepted, in bytes: [`MAX_PIXELS`] at 4 bytes a pixel. Pictures
/// with 16 bits a channel (PNG) take up to 8 bytes a pixel, so fewer of their pixels fit.
pub const MAX_DECODED_BYTES: u64 = 4 * MAX_PIXELS;
/// What a decoder may allocate besides the picture's own buffer (a GIF frame smaller than its
/// canvas, a PNG's text chunks).
const DECODER_WORKING_MAX: u64 = 64 << 20;
/// Largest picture accepted, in bytes (SPEC §5).
pub const MAX_BYTES: u64 = liveroom_proto::limits::IMAGE_MAX;
/// Pictures decoded at once when the store is opened without
/// [`MediaStore::with_max_decodes`].
pub const DEFAULT_MAX_DECODES: usize = 2;

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
    /// Over [`MAX_PIXELS`] or [`MAX_SIDE`], as its header declares: a decompression bomb or
    /// simply too big.
    #[error(
        "picture is {width}x{height} pixels; at most {MAX_SIDE} px a side and 25 megapixels \
         ({MAX_PIXELS} pixels) are accepted"
    )]
    TooManyPixels {
        /// Declared width.
        width: u64,
        /// Declared height.
        height: u64,
    },
    /// Within [`MAX_PIXELS`] but with so many bytes a pixel (16 bits a channel) that its
    /// decoded buffer would exceed [`MAX_DECODED_BYTES`].
    #[error(
        "picture is {width}x{height} pixels at {bytes_per_pixel} bytes a pixel: decoded it \
         would take {bytes} bytes, at most {MAX_DECODED_BYTES} are accepted (save it with 8 \
         bits a channel)"
    )]
    DecodedTooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes a decoded pixel takes.
        bytes_per_pixel: u8,
        /// Bytes the decoded buffer would take.
        bytes: u64,
    },
    /// Every decode slot stayed taken for as long as the caller was willing to wait.
    #[error(
        "the server is busy with other pictures (it decodes {max_decodes} at once); try again \
         in a few seconds"
    )]
    Busy {
        /// Pictures the store decodes at once.
        max_decodes: usize,
    },
    /// The store's folder failed.
    #[error("picture store: {0}")]
    Io(#[from] io::Error),
}

impl MediaError {
    /// SPEC §5 code: 2252 not a picture (or too many pixels), 2253 too large, 10023 busy
    /// (the server-wide decode budget; try again), 5000 storage failure.
    pub fn code(&self) -> u32 {
        match self {
            Self::NotAPicture(_) | Self::TooManyPixels { .. } | Self::DecodedTooLarge { .. } => {
                code::IMAGE_TYPE
            }
            Self::TooLarge(_) => code::IMAGE_TOO_LARGE,
            Self::Busy { .. } => code::RATE_LIMITED,
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

/// The picture folder, and the limit on how many pictures are decoded at once (each decode
/// holds up to [`MAX_DECODED_BYTES`] of memory).
#[derive(Debug)]
pub struct MediaStore {
    dir: PathBuf,
    tmp: PathBuf,
    next_tmp: AtomicU64,
    decodes: Arc<Semaphore>,
    max_decodes: usize,
}

/// A file that passed the cheap checks (size, format by content) and is not stored yet.
struct Pending {
    upload: TempUpload,
    uuid: String,
    format: PictureFormat,
    bytes: u64,
}

/// What the cheap checks found.
enum Checked {
    /// The same bytes are stored already.
    Stored(StoredImage),
    /// To be decoded.
    New(Pending),
}

impl MediaStore {
    /// Opens (creating) the store in `dir`, and clears half-finished uploads left by a crash.
    /// It decodes [`DEFAULT_MAX_DECODES`] pictures at once.
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
            decodes: Arc::new(Semaphore::new(DEFAULT_MAX_DECODES)),
            max_decodes: DEFAULT_MAX_DECODES,
        })
    }

    /// Decodes at most `n` pictures at once (at least 1): memory for decoding is bounded by
    /// `n` × [`MAX_DECODED_BYTES`] plus the decoders' working memory.
    pub fn with_max_decodes(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.decodes = Arc::new(Semaphore::new(n));
        self.max_decodes = n;
        self
    }

    /// How many pictures are decoded at once.
    pub fn max_decodes(&self) -> usize {
        self.max_decodes
    }

    /// A fresh path for an upload in progress; [`TempUpload`] deletes it unless ingested.
    pub fn temp_upload(&self) -> TempUpload {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        TempUpload {
            path: self.tmp.join(format!("upload-{}-{n}", std::process::id())),
        }
    }

    /// Checks, thumbnails and stores an uploaded file, on tokio's blocking threads. A picture
    /// is decoded only once one of the store's decode slots is free: it waits up to `wait`
    /// for one, then is refused with [`MediaError::Busy`]. Pictures already stored, and those
    /// refused by their size, format or header, take no slot. The temporary file is removed
    /// whatever happens; a decode already running finishes (and keeps its slot) even if the
    /// caller stops waiting.
    pub async fn ingest_upload(
        self: Arc<Self>,
        upload: TempUpload,
        wait: Duration,
    ) -> Result<StoredImage, MediaError> {
        let store = self.clone();
        let pending = match blocking(move || store.check(upload)).await? {
            Checked::Stored(stored) => return Ok(stored),
            Checked::New(pending) => pending,
        };
        let permit = tokio::time::timeout(wait, self.decodes.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(MediaError::Busy {
                max_decodes: self.max_decodes,
            })?;
        blocking(move || self.decode_and_store(pending, permit)).await
    }

    /// Checks, thumbnails and stores a picture given as bytes. Blocking; refused with
    /// [`MediaError::Busy`] at once when every decode slot is taken.
    pub fn ingest_bytes(&self, bytes: &[u8]) -> Result<StoredImage, MediaError> {
        if bytes.len() as u64 > MAX_BYTES {
            return Err(MediaError::TooLarge(bytes.len() as u64));
        }
        let upload = self.temp_upload();
        fs::write(upload.path(), bytes)?;
        let pending = match self.check(upload)? {
            Checked::Stored(stored) => return Ok(stored),
            Checked::New(pending) => pending,
        };
        let permit = self
            .decodes
            .clone()
            .try_acquire_owned()
            .map_err(|_| MediaError::Busy {
                max_decodes: self.max_decodes,
            })?;
        self.decode_and_store(pending, permit)
    }

    /// The checks that need no decoding, so no decode slot: size, format by content, the
    /// pixel limits against the size the header declares, and whether these bytes are stored
    /// already (by their SHA-256, read in one streaming pass).
    fn check(&self, upload: TempUpload) -> Result<Checked, MediaError> {
        let mut file = fs::File::open(upload.path())?;
        let bytes = file.metadata()?.len();
        if bytes > MAX_BYTES {
            return Err(MediaError::TooLarge(bytes));
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut format = None;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if format.is_none() {
                format = Some(
                    image::guess_format(&buf[..n])
                        .ok()
                        .and_then(PictureFormat::from_image),
                );
            }
            hasher.update(&buf[..n]);
        }
        let format = format.flatten().ok_or_else(|| {
            MediaError::NotAPicture(
                "not a JPG, PNG, GIF or BMP picture (checked by content, not by name)".into(),
            )
        })?;
        if let Some(refusal) = over_limits(upload.path(), format) {
            return Err(refusal);
        }
        let uuid = hex(&hasher.finalize());
        if let Some(stored) = self.lookup(&uuid) {
            return Ok(Checked::Stored(stored));
        }
        Ok(Checked::New(Pending {
            upload,
            uuid,
            format,
            bytes,
        }))
    }

    /// Decodes (holding `_permit`, one decode slot, until done), makes the thumbnails, and
    /// stores the three sizes and the metadata, the metadata last.
    fn decode_and_store(
        &self,
        pending: Pending,
        _permit: OwnedSemaphorePermit,
    ) -> Result<StoredImage, MediaError> {
        let Pending {
            upload,
            uuid,
            format,
            bytes,
        } = pending;
        let thumbs = thumbnails(upload.path(), format)?;
        let original = Variant {
            size_type: 1,
            bytes,
            width: thumbs.width,
            height: thumbs.height,
            file: format!("{uuid}.orig.{}", format.ext()),
        };
        // The upload becomes the original: synced, then renamed into place (same folder tree).
        fs::OpenOptions::new()
            .write(true)
            .open(upload.path())?
            .sync_data()?;
        fs::rename(upload.path(), self.dir.join(&original.file))?;
        drop(upload);
        let large = self.write_thumbnail(&uuid, 2, "large", &thumbs.large)?;
        let small = self.write_thumbnail(&uuid, 3, "small", &thumbs.small)?;
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

/// Runs blocking store work on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, MediaError> + Send + 'static,
) -> Result<T, MediaError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| MediaError::Io(io::Error::other(e.to_string())))?
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

/// A decoded picture's oriented size and its two thumbnails (EXIF orientation applied).
struct Thumbnails {
    width: u32,
    height: u32,
    large: DynamicImage,
    small: DynamicImage,
}

/// Decodes the file with limits checked from its header first, and makes the thumbnails
/// holding one full-size buffer at most: the EXIF orientation is applied to the thumbnails,
/// not to the full picture, and the full picture is dropped once the large thumbnail is made.
fn thumbnails(path: &Path, format: PictureFormat) -> Result<Thumbnails, MediaError> {
    let bad = |e: image::ImageError| {
        MediaError::NotAPicture(format!("picture could not be decoded: {e}"))
    };
    let file = BufReader::new(fs::File::open(path)?);
    let mut reader = ImageReader::with_format(file, format.image_format());
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(DECODER_WORKING_MAX);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| header_refusal(e, path, format))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, decoder.color_type().bytes_per_pixel())?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let full = DynamicImage::from_decoder(decoder).map_err(bad)?;
    let large = match fit(&full, LARGE_SIDE) {
        Some(large) => {
            drop(full);
            large
        }
        None => full,
    };
    let mut small = fit(&large, SMALL_SIDE).unwrap_or_else(|| large.clone());
    let mut large = large;
    large.apply_orientation(orientation);
    small.apply_orientation(orientation);
    let (width, height) = match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        Orientation::NoTransforms
        | Orientation::Rotate180
        | Orientation::FlipHorizontal
        | Orientation::FlipVertical => (width, height),
    };
    Ok(Thumbnails {
        width,
        height,
        large,
        small,
    })
}

/// The limits read from a header: at least one pixel, at most [`MAX_SIDE`] a side and
/// [`MAX_PIXELS`], and a decoded buffer within [`MAX_DECODED_BYTES`].
fn check_size(width: u32, height: u32, bytes_per_pixel: u8) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::NotAPicture("picture has no pixels".into()));
    }
    let pixels = u64::from(width) * u64::from(height);
    if width > MAX_SIDE || height > MAX_SIDE || pixels > MAX_PIXELS {
        return Err(MediaError::TooManyPixels {
            width: width.into(),
            height: height.into(),
        });
    }
    let bytes = pixels * u64::from(bytes_per_pixel);
    if bytes > MAX_DECODED_BYTES {
        return Err(MediaError::DecodedTooLarge {
            width,
            height,
            bytes_per_pixel,
            bytes,
        });
    }
    Ok(())
}

/// Maps a decoder's refusal of a header: when the header declares more than the limits
/// (whether the decoder said so or refused the size as invalid), the refusal names the
/// declared size; otherwise the picture "could not be decoded".
fn header_refusal(e: image::ImageError, path: &Path, format: PictureFormat) -> MediaError {
    over_limits(path, format)
        .unwrap_or_else(|| MediaError::NotAPicture(format!("picture could not be decoded: {e}")))
}

/// [`MediaError::TooManyPixels`] when the size the header declares (read with `imagesize`,
/// without decoding) is over [`MAX_SIDE`] or [`MAX_PIXELS`]. `None` when it is within them
/// or cannot be read: the decoder, which reads the header again, then decides.
fn over_limits(path: &Path, format: PictureFormat) -> Option<MediaError> {
    let (width, height) = declared_size(path, format)?;
    let over = width > u64::from(MAX_SIDE)
        || height > u64::from(MAX_SIDE)
        || width.saturating_mul(height) > MAX_PIXELS;
    over.then_some(MediaError::TooManyPixels { width, height })
}

/// How much of a file is read for its declared size: the PNG, GIF and BMP headers sit at its
/// start; a JPEG's frame header follows its metadata segments, usually within a few tens of KB.
/// A header not found within it is left to the decoder (under a decode slot); bounding it
/// bounds the work a crafted run of tiny segments can cause before any slot is taken.
const HEADER_PREFIX: u64 = 256 * 1024;

/// The width and height a header declares, without decoding. BMP heights are signed (a
/// negative one means top-down rows), and old OS/2 BMP headers hold 16-bit sizes.
fn declared_size(path: &Path, format: PictureFormat) -> Option<(u64, u64)> {
    let mut head = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(HEADER_PREFIX)
        .read_to_end(&mut head)
        .ok()?;
    if format == PictureFormat::Bmp {
        let u16_at = |i: usize| -> Option<u64> {
            Some(u16::from_le_bytes(head.get(i..i + 2)?.try_into().ok()?).into())
        };
        let i32_at = |i: usize| -> Option<i32> {
            Some(i32::from_le_bytes(head.get(i..i + 4)?.try_into().ok()?))
        };
        return if i32_at(14)? == 12 {
            Some((u16_at(18)?, u16_at(20)?))
        } else {
            Some((
                i32_at(18)?.unsigned_abs().into(),
                i32_at(22)?.unsigned_abs().into(),
            ))
        };
    }
    let size = imagesize::blob_size(&head).ok()?;
    Some((
        u64::try_from(size.width).ok()?,
        u64::try_from(size.height).ok()?,
    ))
}

/// A copy scaled down so the longest side is `side`, or `None` when it already fits (never
/// scales up).
fn fit(image: &DynamicImage, side: u32) -> Option<DynamicImage> {
    let (w, h) = (image.width(), image.height());
    let longest = w.max(h);
    if longest <= side {
        return None;
    }
    let scale = f64::from(side) / f64::from(longest);
    let nw = ((f64::from(w) * scale).round() as u32).clamp(1, side);
    let nh = ((f64::from(h) * scale).round() as u32).clamp(1, side);
    Some(image.thumbnail_exact(nw, nh))
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
