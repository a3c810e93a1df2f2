//! Attack 6: decode bombs. Small files declaring a 7000×7000 canvas (49 M pixels, just under
//! a 50 M pixel limit), uploaded several at once by one user: a GIF of a few dozen bytes, then
//! a PNG of compressed zeros. Each is distinct, so none is answered from the content-addressed
//! store without decoding.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::ImageEncoder;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{mib, rss, secs, start, Figures, Outcome, PeakRss, Scale};
use crate::conn::{source_ip, Conn};
use crate::server::Target;

/// The declared canvas side.
const SIDE: u16 = 7000;

/// Uploads at once.
pub fn count(scale: &Scale) -> usize {
    if scale.smoke {
        2
    } else {
        8
    }
}

/// A GIF whose logical screen is `SIDE`×`SIDE` and whose one frame is a single pixel: a
/// decoder composing frames onto the screen fills a full-size canvas for it. `variant` changes
/// a colour, so each variant is a different file.
pub fn gif(variant: u8) -> Vec<u8> {
    let side = SIDE.to_le_bytes();
    let mut g = b"GIF89a".to_vec();
    g.extend(side);
    g.extend(side);
    // A global colour table of two entries; background 0; no aspect ratio.
    g.extend([0x80, 0, 0]);
    g.extend([0, 0, 0, 255, 255, variant]);
    // The image descriptor: 1×1 at (0, 0), no local table, not interlaced.
    g.push(0x2C);
    g.extend([0, 0, 0, 0, 1, 0, 1, 0, 0]);
    // LZW, minimum code size 2: clear (4), index 0, end (5), in 3-bit codes.
    g.extend([2, 2, 0x44, 0x01, 0]);
    g.push(0x3B);
    g
}

/// An RGBA `SIDE`×`SIDE` PNG of zeros (196 MB once decoded), compressed hard; `variant`
/// gives each copy its own text chunk, so each is a different file with the same pixels.
pub fn png_variants(n: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let side = u32::from(SIDE);
    let pixels = vec![0u8; (side * side * 4) as usize];
    let mut base = Vec::new();
    PngEncoder::new_with_quality(&mut base, CompressionType::Best, FilterType::NoFilter)
        .write_image(&pixels, side, side, image::ExtendedColorType::Rgba8)?;
    drop(pixels);
    // The signature (8 bytes) and IHDR (25) come first; the text chunk goes after them.
    const AFTER_IHDR: usize = 33;
    Ok((0..n)
        .map(|i| {
            let mut data = b"Comment\0".to_vec();
            data.extend(format!("bomb {i}").bytes());
            let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
            chunk.extend(b"tEXt");
            chunk.extend(&data);
            chunk.extend(crc32(&chunk[4..]).to_be_bytes());
            let mut file = base[..AFTER_IHDR].to_vec();
            file.extend(chunk);
            file.extend(&base[AFTER_IHDR..]);
            file
        })
        .collect())
}

/// CRC-32 (IEEE), as PNG chunks carry it; bitwise, for a few short chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub async fn run(target: Target, scale: &Scale) -> anyhow::Result<Outcome> {
    let n = count(scale);
    let gifs: Vec<Vec<u8>> = (0..n).map(|i| gif(i as u8)).collect();
    let pngs = tokio::task::spawn_blocking(move || png_variants(n)).await??;
    let mut figures = Figures::new();
    let mut first = None;
    for (kind, files) in [("GIF", gifs), ("PNG", pngs)] {
        // A fresh server for each, so that one's memory does not hide the other's.
        let started = start(target, scale, &[])?;
        let pid = started.pid();
        let server = started.server.addr()?;
        let mut session = Conn::connect(&started.server.url, source_ip(80)).await?;
        let token = session
            .request(json!({"op": "login", "user_id": "uploader", "user_sig": started.server.sig("uploader")}))
            .await?["upload_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let bytes = files.first().map_or(0, Vec::len);
        let rss_before = rss(pid);
        let peak = PeakRss::start(pid);
        let t0 = Instant::now();
        let uploads: Vec<_> = files
            .into_iter()
            .map(|body| {
                let token = token.clone();
                tokio::spawn(async move {
                    tokio::time::timeout(Duration::from_secs(120), upload(server, &token, &body))
                        .await
                        .unwrap_or_else(|_| Ok("no answer in 120 s".into()))
                        .unwrap_or_else(|e| format!("failed: {e}"))
                })
            })
            .collect();
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        for u in uploads {
            *answers.entry(u.await?).or_default() += 1;
        }
        let took = t0.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answers = answers
            .iter()
            .map(|(a, k)| format!("{k}× {a}"))
            .collect::<Vec<_>>()
            .join(", ");
        figures.extend([
            (format!("{kind}: bytes each"), Value::from(bytes)),
            (format!("{kind}: answers"), answers.into()),
            (format!("{kind}: all answered after (s)"), secs(took)),
            (
                format!("{kind}: server RSS growth, peak (MiB)"),
                mib(peak.peak() - rss_before),
            ),
        ]);
        drop(session);
        first.get_or_insert(started);
    }
    let started = first.ok_or_else(|| anyhow::anyhow!("no run"))?;
    Ok(Outcome::new(&started, figures))
}

/// `POST /upload` over a fresh connection; the answer as `STATUS code CODE`.
async fn upload(server: SocketAddr, token: &str, body: &[u8]) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(server).await?;
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split_whitespace().nth(1).unwrap_or("?").to_owned();
    let code = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str::<Value>(b.trim()).ok())
        .map(|v| v["code"].to_string())
        .unwrap_or_else(|| "?".into());
    Ok(format!("{status} code {code}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bombs_declare_7000_by_7000_and_decode() {
        let pngs = png_variants(2).unwrap();
        assert_ne!(pngs[0], pngs[1]);
        for bytes in [gif(0), pngs[0].clone()] {
            let dims = image::ImageReader::new(std::io::Cursor::new(&bytes))
                .with_guessed_format()
                .unwrap()
                .into_dimensions()
                .unwrap();
            assert_eq!(dims, (7000, 7000));
            let img = image::load_from_memory(&bytes).unwrap();
            assert_eq!((img.width(), img.height()), (7000, 7000));
        }
        assert!(gif(0).len() < 64);
        assert_ne!(gif(0), gif(1));
    }
}
