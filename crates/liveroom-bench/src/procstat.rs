//! CPU time, resident memory, open files and TCP sockets of a process, read from /proc.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

/// A reading of one process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    at: Instant,
    cpu_ticks: u64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// Reads /proc/PID/stat and /proc/PID/status; `None` if the process is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(Sample {
        at: Instant::now(),
        cpu_ticks: utime + stime,
        rss_bytes: rss_kb * 1024,
    })
}

/// CPU use between two samples, in percent of one core.
pub fn cpu_percent(a: &Sample, b: &Sample) -> f64 {
    let secs = b.at.duration_since(a.at).as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    // Linux reports clock ticks at USER_HZ = 100 on every architecture we run on.
    (b.cpu_ticks.saturating_sub(a.cpu_ticks)) as f64 / 100.0 / secs * 100.0
}

/// CPU ticks (USER_HZ) the whole box spent busy since boot, all cores (`/proc/stat`).
pub fn box_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
}

/// CPU ticks of this process and of its children it has waited for (`/proc/self/stat`):
/// after a scenario has stopped its servers and workers, all the bench's own work.
pub fn own_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime: 11 to 14 after ')'.
    (11..15).map(|i| fields.get(i)?.parse::<u64>().ok()).sum()
}

/// Microseconds some task on the box waited for the disk since boot (`/proc/pressure/io`,
/// the `some` line's `total`).
pub fn io_stall_micros() -> Option<u64> {
    let psi = std::fs::read_to_string("/proc/pressure/io").ok()?;
    psi.lines()
        .find(|l| l.starts_with("some "))?
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// The box's other work while a measurement ran: what it cost the figures.
#[derive(Debug, Clone, Copy)]
pub struct Others {
    at: Instant,
    busy: u64,
    own: u64,
    io_stall: Option<u64>,
}

impl Others {
    /// Starts counting.
    pub fn start() -> Option<Self> {
        Some(Self {
            at: Instant::now(),
            busy: box_busy_ticks()?,
            own: own_ticks()?,
            io_stall: io_stall_micros(),
        })
    }

    /// The share of the time since [`Others::start`] that some task (the server's SQLite
    /// among them) waited for the disk, percent.
    pub fn io_stall_percent(&self) -> Option<f64> {
        let stalled = io_stall_micros()?.saturating_sub(self.io_stall?);
        Some(stalled as f64 / self.at.elapsed().as_micros().max(1) as f64 * 100.0)
    }

    /// Other processes' CPU since [`Others::start`], percent of one core on average: call
    /// once the bench's servers and workers have ended and been waited for.
    pub fn cpu_percent(&self) -> Option<f64> {
        let busy = box_busy_ticks()?.saturating_sub(self.busy);
        let own = own_ticks()?.saturating_sub(self.own);
        let secs = self.at.elapsed().as_secs_f64().max(0.001);
        Some(busy.saturating_sub(own) as f64 / 100.0 / secs * 100.0)
    }
}

/// How many file descriptors the process holds (`/proc/PID/fd`); `None` if it is gone.
pub fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// The server side of one TCP connection, as the kernel sees it.
#[derive(Debug, Clone, Copy)]
pub struct ServerSocket {
    /// Bytes written by the server and not yet acknowledged by the peer (its send queue).
    pub send_queue: u64,
    /// Whether the process still holds a file descriptor for it (it has not closed it).
    pub held: bool,
}

/// The connection between `server` (the listening address) and `peer` (the client's local
/// address), from /proc/net/tcp; whether `pid` holds it. `None`: no such connection any more.
pub fn server_socket(pid: u32, server: SocketAddr, peer: SocketAddr) -> Option<ServerSocket> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let (send_queue, inode) = table
        .lines()
        .skip(1)
        .find_map(|line| tcp_row(line, server, peer))?;
    // A socket the process closed while data was still queued lingers in the table with no
    // inode (orphaned): the server no longer holds it.
    let held = inode != 0 && holds_inode(pid, inode);
    Some(ServerSocket { send_queue, held })
}

/// `(tx_queue, inode)` of a /proc/net/tcp row if it joins `local` to `remote`.
fn tcp_row(line: &str, local: SocketAddr, remote: SocketAddr) -> Option<(u64, u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if parse_addr(f.get(1)?)? != local || parse_addr(f.get(2)?)? != remote {
        return None;
    }
    let tx = u64::from_str_radix(f.get(4)?.split(':').next()?, 16).ok()?;
    let inode = f.get(9)?.parse().ok()?;
    Some((tx, inode))
}

/// `0100007F:1F90` → 127.0.0.1:8080 (the address is the kernel's u32 printed in host order).
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::from((Ipv4Addr::from(ip.to_ne_bytes()), port)))
}

fn holds_inode(pid: u32, inode: u64) -> bool {
    let want = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|d| {
        d.flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == want.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_proc_net_tcp_row() {
        let row = "   3: 0100007F:1F90 0200007F:D431 01 0002A000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 20 4 30 10 -1";
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let remote: SocketAddr = "127.0.0.2:54321".parse().unwrap();
        assert_eq!(tcp_row(row, local, remote), Some((0x2A000, 123456)));
        assert_eq!(tcp_row(row, remote, local), None);
    }

    #[test]
    fn sees_its_own_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let pid = std::process::id();
        let (server, peer) = (listener.local_addr().unwrap(), client.local_addr().unwrap());
        assert!(server_socket(pid, server, peer).unwrap().held);
        drop(accepted);
        assert!(server_socket(pid, server, peer).is_none_or(|s| !s.held));
    }
}
