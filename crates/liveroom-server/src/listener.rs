//! Accepting connections: the HTTP/1 server under the routes, holding only what a client may
//! hold. Every request head has a deadline (`handshake_timeout`), which also ends sockets
//! that never speak, slowloris heads and idle keep-alive connections; each client address
//! has a cap on open connections (`max_connections_per_ip`), counted at accept for direct
//! clients and per request for clients behind a trusted proxy (their address is the one
//! `X-Forwarded-For` names); the server as a whole has a cap too (`max_connections`), past
//! which a new connection is answered `503` and closed at once; and shutdown stops accepting
//! at once, lets requests in flight finish, and is bounded by the grace period in
//! [`crate::RunningServer::wait`].

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use liveroom_proto::{code, ApiError};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::Shared;

/// Open connections per client address; 0 = unlimited (still counted, for the figures).
pub(crate) struct AddrLimits {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection (or proxied request) of an address; frees its place when dropped.
pub(crate) struct AddrSlot {
    limits: Arc<AddrLimits>,
    ip: IpAddr,
}

impl AddrLimits {
    /// At most `max` at once per address (0: no cap).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection of `ip`, unless it has its cap already.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<AddrSlot> {
        let ip = cap_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddrSlot {
            limits: self.clone(),
            ip,
        })
    }
}

/// What one cap counts: an IPv4 address, or an IPv6 /64 (one client usually holds a whole
/// /64, so counting single IPv6 addresses would cap nothing).
fn cap_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl AddrSlot {
    /// The address (or IPv6 /64) counted.
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for AddrSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Open connections to the server, every client together.
pub(crate) struct OpenConnections {
    max: usize,
    open: AtomicUsize,
    /// Refusals being written now: bounded, so a flood past the cap holds little.
    refusing: AtomicUsize,
}

/// One open TCP connection; frees its place when dropped.
pub(crate) struct OpenSlot(Arc<OpenConnections>);

impl OpenConnections {
    /// At most `max` at once.
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
        })
    }

    /// A place for one more connection, unless the server holds its most.
    pub(crate) fn acquire(self: &Arc<Self>) -> Option<OpenSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| OpenSlot(self.clone()))
    }

    /// Connections open now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Refusals written at once, at most; past them a connection over the cap is just closed.
const REFUSALS_IN_FLIGHT: usize = 64;

/// How long a refused client has to send its request head and take the answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// What a request knows of the client behind it (a request extension): its place in its
/// address's count (behind a trusted proxy, the address `X-Forwarded-For` names) and the
/// TCP connection's in the server's, which a WebSocket keeps for as long as it lives.
#[derive(Clone)]
pub(crate) struct Client {
    /// Released when the last holder (the connection, its request, its WebSocket) is done.
    slot: Arc<AddrSlot>,
    open: Arc<OpenSlot>,
}

/// A WebSocket's places in the counts, held as long as it lives.
pub(crate) struct Place {
    addr: Arc<AddrSlot>,
    _open: Arc<OpenSlot>,
}

impl Place {
    /// The client's address (or IPv6 /64), as counted.
    pub(crate) fn ip(&self) -> IpAddr {
        self.addr.ip()
    }
}

impl Client {
    /// The places in the counts, for a WebSocket to hold as long as it lives.
    pub(crate) fn into_place(self) -> Place {
        Place {
            addr: self.slot,
            _open: self.open,
        }
    }
}

/// The address of the client behind trusted proxies: the rightmost `X-Forwarded-For` entry
/// that is not one of them (entries left of it were written by the client and prove nothing).
fn forwarded_client(headers: &HeaderMap, trusted: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return None;
        };
        for hop in value.split(',') {
            hops.push(hop.trim().parse().ok()?);
        }
    }
    hops.into_iter().rev().find(|ip| !trusted.contains(ip))
}

/// A JSON refusal in the server's error shape, closing the connection after it.
fn refuse(status: StatusCode, code: u32, message: String) -> Response {
    let mut response = (status, axum::Json(ApiError::new(code, message))).into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// Warns at most once a second, so a flood of refusals cannot flood the log.
struct Throttled {
    last: Mutex<Option<Instant>>,
}

impl Throttled {
    const fn new() -> Self {
        Self {
            last: Mutex::new(None),
        }
    }

    fn ready(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return false;
        }
        *last = Some(now);
        true
    }
}

static CAP_WARNING: Throttled = Throttled::new();
static ACCEPT_WARNING: Throttled = Throttled::new();
static FULL_WARNING: Throttled = Throttled::new();

/// Accepts connections until shutdown, serving each with `router`.
pub(crate) async fn serve(listener: TcpListener, router: Router, shared: Arc<Shared>) {
    let shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, mostly: wait for some to be freed instead of
                // spinning on the error.
                if ACCEPT_WARNING.ready() {
                    tracing::warn!(error = %e, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(open) = shared.open_connections.acquire() else {
            refuse_full(tcp, peer, &shared);
            continue;
        };
        let proxied = shared.config.trusted_proxies.contains(&peer.ip());
        // Direct clients are counted here, before anything is read; a trusted proxy carries
        // many clients, counted per request instead.
        let slot = if proxied {
            None
        } else {
            match shared.addr_limits.acquire(peer.ip()) {
                Some(slot) => Some(Arc::new(slot)),
                None => {
                    if CAP_WARNING.ready() {
                        tracing::warn!(
                            client = %peer.ip(),
                            max = shared.config.max_connections_per_ip,
                            "connection refused: too many from this address"
                        );
                    }
                    continue;
                }
            }
        };
        let tracker = shared.tracker.clone();
        tracker.spawn(serve_connection(
            tcp,
            peer,
            (Arc::new(open), slot),
            router.clone(),
            shared.clone(),
        ));
    }
}

/// Answers a connection past the server's cap `503` with code 10002 and closes it, in a
/// task of its own under [`REFUSAL_TIMEOUT`]; with [`REFUSALS_IN_FLIGHT`] being answered
/// already, closes it at once.
fn refuse_full(tcp: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    let open = &shared.open_connections;
    let max = shared.config.max_connections;
    if FULL_WARNING.ready() {
        tracing::warn!(client = %peer.ip(), max, "connection refused: the server holds its most");
    }
    if open.refusing.fetch_add(1, Ordering::AcqRel) >= REFUSALS_IN_FLIGHT {
        open.refusing.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let open = open.clone();
    shared.tracker.spawn(async move {
        let service = tower::service_fn(move |_: Request<Incoming>| async move {
            Ok::<_, Infallible>(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                format!("the server holds its most connections ({max}): try another node or later"),
            ))
        });
        let answer = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(REFUSAL_TIMEOUT)
            .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, answer).await;
        open.refusing.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Serves one TCP connection: HTTP/1 with upgrades, its request heads under the deadline.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    (open, slot): (Arc<OpenSlot>, Option<Arc<AddrSlot>>),
    router: Router,
    shared: Arc<Shared>,
) {
    // Replies and pushes are small frames: send them now, not after Nagle's delay.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let service = {
        let shared = shared.clone();
        tower::service_fn(move |request: Request<Incoming>| {
            let router = router.clone();
            let shared = shared.clone();
            let slot = slot.clone();
            let open = open.clone();
            async move {
                let mut request = request.map(Body::new);
                let client = match client_of(&shared, peer, (open, slot), request.headers()) {
                    Ok(client) => client,
                    Err(ip) => {
                        let max = shared.config.max_connections_per_ip;
                        let refusal = refuse(
                            StatusCode::TOO_MANY_REQUESTS,
                            code::RATE_LIMITED,
                            format!("too many connections from {ip}: at most {max} at once"),
                        );
                        return Ok::<_, Infallible>(refusal);
                    }
                };
                request.extensions_mut().insert(client);
                router.oneshot(request).await
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.handshake_timeout)
        .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
        .with_upgrades();
    let mut connection = pin!(connection);
    let shutdown = shared.shutdown.clone();
    tokio::select! {
        served = connection.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        }
        _ = shutdown.cancelled() => {
            // Finish the request in flight (its own deadlines bound it), then close.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// The client of a request: the TCP peer, or behind a trusted proxy the address it
/// forwards for (then counted here, per request; `Err` with that address at its cap).
fn client_of(
    shared: &Shared,
    peer: SocketAddr,
    (open, slot): (Arc<OpenSlot>, Option<Arc<AddrSlot>>),
    headers: &HeaderMap,
) -> Result<Client, IpAddr> {
    if let Some(slot) = slot {
        return Ok(Client { slot, open });
    }
    let trusted = &shared.config.trusted_proxies;
    let ip = forwarded_client(headers, trusted).unwrap_or(peer.ip());
    match shared.addr_limits.acquire(ip) {
        Some(slot) => Ok(Client {
            slot: Arc::new(slot),
            open,
        }),
        None => Err(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_cap_and_its_places_back() {
        let limits = AddrLimits::new(2);
        let a = limits.acquire(ip("10.0.0.1")).unwrap();
        let _b = limits.acquire(ip("10.0.0.1")).unwrap();
        assert!(limits.acquire(ip("10.0.0.1")).is_none());
        assert!(
            limits.acquire(ip("10.0.0.2")).is_some(),
            "others have their own"
        );
        drop(a);
        assert!(limits.acquire(ip("10.0.0.1")).is_some());
    }

    #[test]
    fn the_server_cap_counts_every_client_and_gives_places_back() {
        let open = OpenConnections::new(2);
        let a = open.acquire().unwrap();
        let _b = open.acquire().unwrap();
        assert!(open.acquire().is_none(), "full");
        assert_eq!(open.open(), 2);
        drop(a);
        assert_eq!(open.open(), 1);
        assert!(open.acquire().is_some());
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_prefix() {
        let limits = AddrLimits::new(1);
        let _a = limits.acquire(ip("2001:db8:1:2::1")).unwrap();
        assert!(limits.acquire(ip("2001:db8:1:2::ffff")).is_none());
        assert!(limits.acquire(ip("2001:db8:1:3::1")).is_some());
        let _v4 = limits.acquire(ip("192.0.2.1")).unwrap();
        assert!(
            limits.acquire(ip("::ffff:192.0.2.1")).is_none(),
            "mapped is the same"
        );
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_hop() {
        let trusted: BTreeSet<IpAddr> = [ip("10.0.0.9"), ip("10.0.0.8")].into();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.2.3.4, 5.6.7.8, 10.0.0.8".parse().unwrap(),
        );
        assert_eq!(forwarded_client(&h, &trusted), Some(ip("5.6.7.8")));
        // A client cannot pass for another by writing the header itself: its own address
        // is appended by the proxy, and that is the one taken.
        h.insert("x-forwarded-for", "9.9.9.9, 5.6.7.8".parse().unwrap());
        assert_eq!(forwarded_client(&h, &trusted), Some(ip("5.6.7.8")));
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(forwarded_client(&h, &trusted), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), &trusted), None);
    }
}
