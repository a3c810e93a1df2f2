//! A minimal WebSocket client for viewer load: the handshake, masked text frames out, and
//! unmasked frames in, parsed straight from a 16 KiB read buffer (grown for larger frames).
//! Many frames arrive per read, with no per-frame allocation or UTF-8 check, so the load
//! generator stays cheaper than the servers it measures on the same two cores. (The senders
//! and the app use tokio-tungstenite.)

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;

/// One viewer connection.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// What [`RawWs::next_frames`] found.
pub enum Read {
    /// Some complete text frames were handed to the callback.
    Frames,
    /// The server closed the connection.
    Closed,
}

impl RawWs {
    /// Connects from `source` to `addr` and upgrades `GET /ws`.
    pub async fn connect(addr: SocketAddr, source: Ipv4Addr) -> anyhow::Result<Self> {
        Self::connect_with(addr, source, 64 * 1024).await
    }

    /// [`connect`](Self::connect) with this receive buffer (`SO_RCVBUF`, set before connecting
    /// so that the TCP window offered to the server is that small from the start).
    pub async fn connect_with(
        addr: SocketAddr,
        source: Ipv4Addr,
        recv_buffer: u32,
    ) -> anyhow::Result<Self> {
        Self::open(addr, source, recv_buffer, "/ws").await
    }

    /// [`connect`](Self::connect) upgrading `GET path` instead of `/ws` (Socket.IO's
    /// `/socket.io/?EIO=4&transport=websocket`).
    pub async fn connect_path(
        addr: SocketAddr,
        source: Ipv4Addr,
        path: &str,
    ) -> anyhow::Result<Self> {
        Self::open(addr, source, 64 * 1024, path).await
    }

    async fn open(
        addr: SocketAddr,
        source: Ipv4Addr,
        recv_buffer: u32,
        path: &str,
    ) -> anyhow::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
        socket.set_recv_buffer_size(recv_buffer)?;
        let mut stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut ws = Self {
            stream,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
        };
        // Read the 101 response head; frames may follow it in the same read.
        loop {
            let n = ws.stream.read(&mut ws.buf[ws.end..]).await?;
            if n == 0 {
                bail!("closed during the handshake");
            }
            ws.end += n;
            if let Some(pos) = ws.buf[..ws.end].windows(4).position(|w| w == b"\r\n\r\n") {
                if !ws.buf.starts_with(b"HTTP/1.1 101") {
                    bail!(
                        "upgrade refused: {}",
                        String::from_utf8_lossy(&ws.buf[..pos])
                    );
                }
                ws.start = pos + 4;
                return Ok(ws);
            }
            if ws.end == ws.buf.len() {
                bail!("handshake response too long");
            }
        }
    }

    /// This end's address (the server sees it as the peer).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.stream.local_addr()?)
    }

    /// Writes bytes as they are (frames built by the caller, e.g. many pings at once).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await.context("send")
    }

    /// Sends a text frame (masked with a zero key, as a client must mask).
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.send_frame(OP_TEXT, text.as_bytes()).await
    }

    async fn send_frame(&mut self, op: u8, payload: &[u8]) -> anyhow::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        push_frame(&mut frame, op, payload);
        self.stream.write_all(&frame).await.context("send")
    }

    /// Reads once from the socket and hands every complete text frame to `each`; answers pings.
    pub async fn next_frames(&mut self, mut each: impl FnMut(&[u8])) -> anyhow::Result<Read> {
        loop {
            let mut any = false;
            let mut pongs = Vec::new();
            while let Some((op, range, next)) = self.parse() {
                match op {
                    OP_TEXT => {
                        each(&self.buf[range]);
                        any = true;
                    }
                    OP_CLOSE => return Ok(Read::Closed),
                    OP_PING => pongs.push(self.buf[range].to_vec()),
                    _ => {}
                }
                self.start = next;
            }
            for p in pongs {
                self.send_frame(0xA, &p).await?;
            }
            if any {
                return Ok(Read::Frames);
            }
            // Make room: move the partial frame to the front, grow for a large one.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Ok(Read::Closed);
            }
            self.end += n;
        }
    }

    /// The next complete frame in the buffer: opcode, payload range, end.
    fn parse(&self) -> Option<(u8, std::ops::Range<usize>, usize)> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return None;
        }
        let op = b[0] & 0x0F;
        let (len, header) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            126 | 127 => return None,
            n => (usize::from(n), 2),
        };
        if b.len() < header + len {
            return None;
        }
        let from = self.start + header;
        Some((op, from..from + len, from + len))
    }
}

/// Appends one client frame (masked with a zero key, as a client must mask) to `frame`.
pub fn push_frame(frame: &mut Vec<u8>, op: u8, payload: &[u8]) {
    frame.push(0x80 | op);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
}
