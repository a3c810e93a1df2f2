//! How the webview renders, chosen before GTK and WebKitGTK start (they read it once, from
//! the environment).
//!
//! Without a GPU (no DRM render node: Xvfb, most VMs and remote desktops), WebKitGTK's
//! compositing mode and its DMA-BUF renderer draw through Mesa's software OpenGL (llvmpipe).
//! On a 2-core machine under Xvfb that made a chat at 40 messages/s draw a frame every 135 ms
//! (p50, 173 ms p95), took 2.6 s to the first screen and 115 MiB more than painting on the
//! CPU (BENCHMARKS.md, "The desktop app"). So without a render node both are turned off. With a GPU, WebKit's default
//! (hardware compositing) stays. A variable the user set is never overridden: for instance
//! `WEBKIT_DISABLE_COMPOSITING_MODE=0` keeps compositing on a machine without a GPU.

use std::path::Path;

/// WebKitGTK: paint on the CPU, without accelerated compositing.
pub const DISABLE_COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
/// WebKitGTK: no DMA-BUF renderer (on Xvfb it also draws a blank window).
pub const DISABLE_DMABUF: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";

/// Where Linux lists the GPUs' device nodes.
const DRI_DIR: &str = "/dev/dri";

/// What the machine offers the webview to draw with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renderer {
    /// A GPU with a render node: WebKit's defaults.
    Gpu,
    /// No render node: OpenGL would be software, so the webview paints on the CPU.
    Software,
}

/// Looks for a GPU and sets WebKitGTK's variables for it. Call first thing in `main`, before
/// any thread starts (changing the environment is not thread-safe).
pub fn configure() -> Renderer {
    let renderer = detect(Path::new(DRI_DIR));
    if cfg!(target_os = "linux") && renderer == Renderer::Software {
        for var in [DISABLE_COMPOSITING, DISABLE_DMABUF] {
            if std::env::var_os(var).is_none() {
                std::env::set_var(var, "1");
            }
        }
    }
    renderer
}

/// A GPU when `dri` holds a render node (`renderD128`, ...).
fn detect(dri: &Path) -> Renderer {
    let has_render_node = std::fs::read_dir(dri)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false);
    if has_render_node {
        Renderer::Gpu
    } else {
        Renderer::Software
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_node_means_a_gpu_and_none_means_software() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(detect(&dir.path().join("missing")), Renderer::Software);
        std::fs::write(dir.path().join("card0"), b"").unwrap();
        assert_eq!(
            detect(dir.path()),
            Renderer::Software,
            "a display card without a render node draws with software OpenGL"
        );
        std::fs::write(dir.path().join("renderD128"), b"").unwrap();
        assert_eq!(detect(dir.path()), Renderer::Gpu);
    }
}
