//! Pictures: where they come from, the checks made before anything is sent, and the upload
//! that turns them into a `uuid` the `send_image` request refers to.
//!
//! The upload itself is a seam: the room server gets its HTTP upload route with the image
//! issue. Until then [`upload`] names the picture by a local content hash without any HTTP,
//! and the server answers the `send_image` with its own error, which the caller gets.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use liveroom_proto::limits::IMAGE_MAX;
use liveroom_proto::{code, ApiError};

/// A picture to send.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// A file on disk.
    Path(PathBuf),
    /// The picture's bytes (pasted, or made by the app).
    Bytes(Vec<u8>),
}

/// Upload progress callback: called with the fraction sent, 0.0 to 1.0.
pub type ProgressFn = Box<dyn Fn(f64) + Send + Sync + 'static>;

/// Reads the picture, refusing more than 20 MB (2253) before reading it all.
pub(crate) async fn load(source: ImageSource) -> Result<Vec<u8>, ApiError> {
    let bytes = match source {
        ImageSource::Bytes(bytes) => bytes,
        ImageSource::Path(path) => {
            let meta = tokio::fs::metadata(&path).await.map_err(|e| {
                ApiError::invalid(format!("file: cannot read {}: {e}", path.display()))
            })?;
            check_size(meta.len())?;
            tokio::fs::read(&path).await.map_err(|e| {
                ApiError::invalid(format!("file: cannot read {}: {e}", path.display()))
            })?
        }
    };
    check_size(bytes.len() as u64)?;
    Ok(bytes)
}

fn check_size(len: u64) -> Result<(), ApiError> {
    if len > IMAGE_MAX {
        return Err(ApiError::new(
            code::IMAGE_TOO_LARGE,
            format!("picture is {len} bytes, at most {IMAGE_MAX} allowed"),
        ));
    }
    if len == 0 {
        return Err(ApiError::new(code::IMAGE_TYPE, "picture is empty"));
    }
    Ok(())
}

/// The TIM `imageFormat` of a picture, by its content (JPG=1, GIF=2, PNG=3, BMP=4), or 2252.
/// The server decodes it for real; this only spares a useless upload.
pub(crate) fn sniff_format(bytes: &[u8]) -> Result<u8, ApiError> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(1)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Ok(2)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(3)
    } else if bytes.starts_with(b"BM") && bytes.len() > 26 {
        Ok(4)
    } else {
        Err(ApiError::new(
            code::IMAGE_TYPE,
            "not a JPG, PNG, GIF or BMP picture",
        ))
    }
}

/// Where and as whom to upload.
pub(crate) struct UploadTarget<'a> {
    /// The server's HTTP root.
    #[allow(dead_code)]
    pub(crate) http: &'a str,
    /// The upload path from `hello`.
    #[allow(dead_code)]
    pub(crate) path: &'a str,
    /// The session's bearer token.
    #[allow(dead_code)]
    pub(crate) token: &'a str,
}

/// Uploads the picture and returns its `uuid`. Seam (see the module doc): no HTTP yet.
pub(crate) async fn upload(
    _target: UploadTarget<'_>,
    bytes: &[u8],
    _progress: Option<&ProgressFn>,
) -> Result<String, ApiError> {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    Ok(format!("{:016x}", hasher.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff_format(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(1));
        assert_eq!(sniff_format(b"GIF89a...."), Ok(2));
        assert_eq!(sniff_format(b"\x89PNG\r\n\x1a\n...."), Ok(3));
        assert_eq!(
            sniff_format(&[
                b'B', b'M', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0
            ]),
            Ok(4)
        );
        assert_eq!(sniff_format(b"<svg/>").unwrap_err().code, code::IMAGE_TYPE);
    }

    #[tokio::test]
    async fn refuses_empty_and_missing() {
        assert_eq!(
            load(ImageSource::Bytes(vec![])).await.unwrap_err().code,
            code::IMAGE_TYPE
        );
        let missing = ImageSource::Path("/nonexistent/x.png".into());
        assert_eq!(
            load(missing).await.unwrap_err().code,
            code::INVALID_PARAMETER
        );
    }
}
