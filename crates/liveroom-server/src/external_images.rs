//! External pictures through the room server: `GET /external-image?url=<http(s) URL>`.
//!
//! Avatars and room avatars are URLs that any user chooses. Loaded by every viewer's app
//! straight from where they point, they would tell that third party each viewer's address,
//! and it could serve anything. Instead the app asks the room server, which fetches the
//! picture once and serves its own re-encoded thumbnail:
//!
//! - **Checked like an upload**: the bytes go through `liveroom-media` (format by content,
//!   pixel limits, decoding) into a store of its own (`<data>/external-images`); only the
//!   198 px thumbnail is kept and served, never the fetched bytes.
//! - **Own limits** (`external_image_*` settings): size, one deadline for the whole fetch
//!   (redirects and body included), redirects, fetches at once (more wait for a slot up to
//!   the deadline, then 503 / 10023), one decode at a time.
//! - **Against SSRF**: only `http`/`https`, no credentials in the URL, at most 100 bytes (the
//!   avatar limit). Every address a host name resolves to, and every redirect, is checked;
//!   loopback, private, link-local, shared, multicast, documentation and other non-global
//!   addresses are refused (403 / 10007) unless `external_image_allow_internal` is set. The
//!   connection goes to the checked address itself, so a name cannot be re-resolved
//!   elsewhere in between. System proxies are not used.
//! - **Cached on disk** by the SHA-256 of the URL (`urls/<hash>.json`): a picture for
//!   `external_image_cache_ttl`, a failure for `external_image_retry_after`, at most
//!   `external_image_cache_entries` of them (the oldest go first). Requests for the same URL
//!   while it is being fetched wait for that one fetch, so the origin is asked once; a fetch
//!   goes on (and is cached) even if the client that started it leaves.
//!
//! Refusals are `{code, message}` with an HTTP status: 400 / 10004 bad URL, 403 / 10007
//! internal address or proxy off, 413 / 2253 too large, 415 / 2252 not a picture, 502 / 2800
//! the origin failed (HTTP error, network, too many redirects), 503 / 10023 busy, 504 / 2801
//! the origin was too slow.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use liveroom_media::{MediaError, MediaStore};
use liveroom_proto::{code, limits, ApiError};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::{Config, Shared};

/// `GET /external-image?url=...`: the checked thumbnail of an external picture, or a coded
/// refusal.
pub(crate) async fn serve(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let url = match query {
        Ok(Query(Params { url: Some(url) })) => url,
        Ok(_) => return Refusal::invalid("url: required (an http or https URL)").into_response(),
        Err(e) => return Refusal::invalid(format!("url: {e}")).into_response(),
    };
    let proxy = match ExternalImages::for_config(&shared.config) {
        Ok(proxy) => proxy,
        Err(refusal) => return refusal.into_response(),
    };
    match proxy.get(&url).await {
        Ok(picture) => {
            picture
                .into_response(&headers, proxy.settings.cache_ttl)
                .await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// The query string.
#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    url: Option<String>,
}

/// The `external_image_*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    fetches: usize,
    max_bytes: u64,
    timeout: Duration,
    max_redirects: usize,
    cache_ttl: Duration,
    retry_after: Duration,
    cache_entries: usize,
    allow_internal: bool,
}

impl Settings {
    fn from_config(c: &Config) -> Self {
        Self {
            fetches: c.external_image_fetches,
            max_bytes: c.external_image_max_bytes,
            timeout: c.external_image_timeout,
            max_redirects: c.external_image_max_redirects,
            cache_ttl: c.external_image_cache_ttl,
            retry_after: c.external_image_retry_after,
            cache_entries: c.external_image_cache_entries,
            allow_internal: c.external_image_allow_internal,
        }
    }
}

/// A refused request: its HTTP status and its coded error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Refusal {
    status: u16,
    code: u32,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status: status.as_u16(),
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::INVALID_PARAMETER, message)
    }

    fn internal_address(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            code::NO_PERMISSION,
            format!(
                "{what} is an internal address: external pictures come from public addresses only"
            ),
        )
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "external picture store failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "the server could not store the picture",
        )
    }

    fn from_media(e: MediaError) -> Self {
        let status = match e.code() {
            code::IMAGE_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::IMAGE_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            code::RATE_LIMITED => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let error = ApiError::from(e);
        Self::new(status, error.code, error.message)
    }

    /// Whether the origin is to blame (cached for `retry_after`), rather than this server
    /// (busy, storage: tried again at the next request).
    fn is_the_origins(&self) -> bool {
        !matches!(self.code, code::RATE_LIMITED | code::INTERNAL)
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut response =
            (status, axum::Json(ApiError::new(self.code, self.message))).into_response();
        let h = response.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.code == code::RATE_LIMITED {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// A cached thumbnail to serve.
#[derive(Debug)]
struct Picture {
    path: PathBuf,
    content_type: &'static str,
    /// The thumbnail's file name (content-addressed): its ETag.
    file: String,
}

impl Picture {
    async fn into_response(self, headers: &HeaderMap, ttl: Duration) -> Response {
        let etag = format!("\"{}\"", self.file);
        let mut response = if crate::images::etag_matches(headers, &etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            match tokio::fs::read(&self.path).await {
                Ok(bytes) => {
                    let mut r = Body::from(bytes).into_response();
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(self.content_type),
                    );
                    r
                }
                Err(e) => return Refusal::internal(e).into_response(),
            }
        };
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={}", ttl.as_secs())) {
            h.insert(header::CACHE_CONTROL, v);
        }
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// What is cached for one URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    url: String,
    /// Unix seconds.
    fetched: u64,
    outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    /// The thumbnail's file name in the store.
    Picture {
        file: String,
    },
    Refused(Refusal),
}

/// Sweeps of the cache folder happen at most this often (and when it has grown by a quarter).
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Files this young are never swept: a fetch may be about to name them.
const SWEEP_SPARES: Duration = Duration::from_secs(60);

/// The image proxy of one server: its settings, HTTP client, store and cache.
pub(crate) struct ExternalImages {
    settings: Settings,
    client: reqwest::Client,
    store: Arc<MediaStore>,
    /// `<data>/external-images/urls`: one JSON [`Entry`] per URL.
    index: PathBuf,
    fetches: Arc<Semaphore>,
    /// One decode at a time: a decode holds up to its picture's full size in memory.
    decodes: Arc<Semaphore>,
    /// One lock per URL being fetched: later requests for it wait for the first.
    inflight: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    sweep: Mutex<SweepState>,
}

#[derive(Debug)]
struct SweepState {
    last: std::time::Instant,
    added: usize,
    running: bool,
}

/// One proxy per data folder, made on first use from the server's config (and made again if
/// the config changes, e.g. an embedded server restarted with other settings).
type Registry = Mutex<HashMap<PathBuf, Arc<ExternalImages>>>;
static REGISTRY: OnceLock<Registry> = OnceLock::new();

impl ExternalImages {
    /// The proxy for a server with `config`.
    fn for_config(config: &Config) -> Result<Arc<Self>, Refusal> {
        let settings = Settings::from_config(config);
        if settings.fetches == 0 {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                code::NO_PERMISSION,
                "this server does not fetch external pictures",
            ));
        }
        let registry = REGISTRY.get_or_init(Default::default);
        let mut map = registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(proxy) = map.get(&config.data_dir) {
            if proxy.settings == settings {
                return Ok(proxy.clone());
            }
        }
        let proxy = Arc::new(Self::open(&config.data_dir, settings).map_err(Refusal::internal)?);
        map.insert(config.data_dir.clone(), proxy.clone());
        Ok(proxy)
    }

    fn open(data_dir: &Path, settings: Settings) -> io::Result<Self> {
        let dir = data_dir.join("external-images");
        let index = dir.join("urls");
        std::fs::create_dir_all(&index)?;
        let store = MediaStore::open(&dir)?;
        let allow = settings.allow_internal;
        let max_redirects = settings.max_redirects;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                attempt.error(Blocked::TooManyRedirects(max_redirects))
            } else if let Err(blocked) = check_target(attempt.url(), allow) {
                attempt.error(blocked)
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow }))
            .redirect(redirects)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .timeout(settings.timeout)
            .user_agent(concat!(
                "liveroom-server/",
                env!("CARGO_PKG_VERSION"),
                " (avatar proxy)"
            ))
            .build()
            .map_err(io::Error::other)?;
        Ok(Self {
            fetches: Arc::new(Semaphore::new(settings.fetches)),
            decodes: Arc::new(Semaphore::new(1)),
            settings,
            client,
            store: Arc::new(store),
            index,
            inflight: Mutex::new(HashMap::new()),
            sweep: Mutex::new(SweepState {
                last: std::time::Instant::now(),
                added: 0,
                running: false,
            }),
        })
    }

    /// The thumbnail for `raw` (cached, or fetched now), or why not.
    async fn get(self: &Arc<Self>, raw: &str) -> Result<Picture, Refusal> {
        let url = parse_url(raw)?;
        check_target(&url, self.settings.allow_internal).map_err(|b| b.refusal())?;
        let key = hex(&Sha256::digest(url.as_str().as_bytes()));
        if let Some(cached) = self.cached(&key, url.as_str()) {
            return cached;
        }
        // One fetch per URL: wait for one in progress, then look again.
        let lock = self.url_lock(&key);
        let guard = lock.lock_owned().await;
        if let Some(cached) = self.cached(&key, url.as_str()) {
            return cached;
        }
        let busy = format!(
            "the server is fetching {} external pictures already; try again in a few seconds",
            self.settings.fetches
        );
        let permit = self.slot(&self.fetches, busy).await?;
        // In its own task: finished and cached even if this client leaves.
        let this = self.clone();
        let task = tokio::spawn(async move {
            let outcome = this.fetch_and_store(&url).await;
            drop(permit);
            this.remember(&key, &url, &outcome);
            drop(guard);
            outcome
        });
        match task.await {
            Ok(outcome) => outcome,
            Err(e) => Err(Refusal::internal(e)),
        }
    }

    fn url_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = map.get(key).and_then(Weak::upgrade) {
            return lock;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(key.to_owned(), Arc::downgrade(&lock));
        lock
    }

    /// The cached answer for `url`, if still fresh (and its thumbnail still there).
    fn cached(&self, key: &str, url: &str) -> Option<Result<Picture, Refusal>> {
        let bytes = std::fs::read(self.index.join(format!("{key}.json"))).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        if entry.url != url {
            return None;
        }
        let age = now_secs().saturating_sub(entry.fetched);
        match entry.outcome {
            Outcome::Picture { file } if age < self.settings.cache_ttl.as_secs() => {
                let (path, content_type) = self.store.file(&file)?;
                Some(Ok(Picture {
                    path,
                    content_type,
                    file,
                }))
            }
            Outcome::Refused(refusal) if age < self.settings.retry_after.as_secs() => {
                Some(Err(refusal))
            }
            Outcome::Picture { .. } | Outcome::Refused(_) => None,
        }
    }

    /// Caches what a fetch gave (refusals only when the origin is to blame).
    fn remember(self: &Arc<Self>, key: &str, url: &Url, outcome: &Result<Picture, Refusal>) {
        let outcome = match outcome {
            Ok(picture) => Outcome::Picture {
                file: picture.file.clone(),
            },
            Err(refusal) if refusal.is_the_origins() => Outcome::Refused(refusal.clone()),
            Err(_) => return,
        };
        let entry = Entry {
            url: url.as_str().to_owned(),
            fetched: now_secs(),
            outcome,
        };
        let written = serde_json::to_vec(&entry)
            .map_err(io::Error::other)
            .and_then(|json| write_atomic(&self.index.join(format!("{key}.json")), &json));
        if let Err(e) = written {
            tracing::warn!(error = %e, "external picture cache entry not written");
        }
        self.maybe_sweep();
    }

    /// Fetches `url` within the limits, then checks and thumbnails it (one decode at a time).
    async fn fetch_and_store(&self, url: &Url) -> Result<Picture, Refusal> {
        let fetched = tokio::time::timeout(self.settings.timeout, self.fetch(url))
            .await
            .unwrap_or_else(|_| Err(self.too_slow()));
        let stored = match fetched {
            Ok(bytes) => self.ingest(bytes).await,
            Err(refusal) => Err(refusal),
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(refusal) => {
                tracing::info!(%url, code = refusal.code, "external picture refused: {}", refusal.message);
                return Err(refusal);
            }
        };
        // Only the small thumbnail is served: the fetched bytes and the large size go.
        let mut small = None;
        for variant in &stored.sizes {
            if variant.size_type == 3 {
                small = Some(variant.file.clone());
            } else if let Some((path, _)) = self.store.file(&variant.file) {
                let _ = std::fs::remove_file(path);
            }
        }
        let file = small.ok_or_else(|| Refusal::internal("no thumbnail was made"))?;
        let (path, content_type) = self
            .store
            .file(&file)
            .ok_or_else(|| Refusal::internal("the thumbnail is missing"))?;
        tracing::info!(%url, thumbnail = %file, "external picture fetched");
        Ok(Picture {
            path,
            content_type,
            file,
        })
    }

    /// Checks, thumbnails and stores fetched bytes, waiting (up to the timeout) for this
    /// proxy's one decode slot.
    /// A permit of `slots`, waited for up to the fetch deadline; else 503 / 10023 saying `busy`.
    async fn slot(
        &self,
        slots: &Arc<tokio::sync::Semaphore>,
        busy: String,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, Refusal> {
        tokio::time::timeout(self.settings.timeout, slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, code::RATE_LIMITED, busy))
    }

    async fn ingest(&self, bytes: Vec<u8>) -> Result<liveroom_media::StoredImage, Refusal> {
        let busy = "the server is busy with other pictures; try again in a few seconds";
        let permit = self.slot(&self.decodes, busy.to_owned()).await?;
        let store = self.store.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let stored = store.ingest_bytes(&bytes);
            drop(permit);
            stored
        })
        .await
        .map_err(Refusal::internal)?;
        stored.map_err(Refusal::from_media)
    }

    /// GETs `url`, at most `max_bytes` of it.
    async fn fetch(&self, url: &Url) -> Result<Vec<u8>, Refusal> {
        let response = self
            .client
            .get(url.clone())
            .header(header::ACCEPT, "image/*")
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Refusal::new(
                StatusCode::BAD_GATEWAY,
                code::NETWORK,
                format!("the picture's server answered HTTP {}", status.as_u16()),
            ));
        }
        let max = self.settings.max_bytes;
        let too_large = |n: u64| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::IMAGE_TOO_LARGE,
                format!("the picture is {n} bytes or more, at most {max} are fetched"),
            )
        };
        if let Some(n) = response.content_length().filter(|n| *n > max) {
            return Err(too_large(n));
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(e))? {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(too_large((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn too_slow(&self) -> Refusal {
        Refusal::new(
            StatusCode::GATEWAY_TIMEOUT,
            code::TIMEOUT,
            format!(
                "the picture's server took more than {} s",
                self.settings.timeout.as_secs()
            ),
        )
    }

    /// The refusal for a failed request: a blocked address or redirect, a timeout, or the
    /// network.
    fn transport(&self, e: reqwest::Error) -> Refusal {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if let Some(blocked) = err.downcast_ref::<Blocked>() {
                return blocked.refusal();
            }
            source = err.source();
        }
        if e.is_timeout() {
            return self.too_slow();
        }
        Refusal::new(
            StatusCode::BAD_GATEWAY,
            code::NETWORK,
            format!("the picture could not be fetched: {}", error_chain(&e)),
        )
    }

    /// Starts a sweep in the background when one is due.
    fn maybe_sweep(self: &Arc<Self>) {
        {
            let mut s = self.sweep.lock().unwrap_or_else(|p| p.into_inner());
            s.added += 1;
            let due = s.last.elapsed() >= SWEEP_EVERY || s.added > self.settings.cache_entries / 4;
            if !due || s.running {
                return;
            }
            s.running = true;
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = this.sweep_now() {
                tracing::warn!(error = %e, "external picture cache sweep failed");
            }
            let mut s = this.sweep.lock().unwrap_or_else(|p| p.into_inner());
            s.running = false;
            s.last = std::time::Instant::now();
            s.added = 0;
        });
    }

    /// Drops expired entries, then the oldest beyond `cache_entries`, then every picture no
    /// entry names. Blocking.
    fn sweep_now(&self) -> io::Result<()> {
        let now = now_secs();
        let mut entries: Vec<(u64, PathBuf, Option<String>)> = Vec::new();
        for dirent in std::fs::read_dir(&self.index)? {
            let path = dirent?.path();
            let entry = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok());
            let Some(entry) = entry else {
                if !is_young(&path) {
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            };
            let (ttl, file) = match entry.outcome {
                Outcome::Picture { file } => (self.settings.cache_ttl, Some(file)),
                Outcome::Refused(_) => (self.settings.retry_after, None),
            };
            if now.saturating_sub(entry.fetched) >= ttl.as_secs() {
                let _ = std::fs::remove_file(&path);
            } else {
                entries.push((entry.fetched, path, file));
            }
        }
        entries.sort_by_key(|(fetched, ..)| std::cmp::Reverse(*fetched));
        for (_, path, _) in entries.drain(self.settings.cache_entries.min(entries.len())..) {
            let _ = std::fs::remove_file(path);
        }
        let named: std::collections::HashSet<String> = entries
            .into_iter()
            .filter_map(|(_, _, file)| file)
            .filter_map(|file| file.split('.').next().map(str::to_owned))
            .collect();
        let store_dir = self.index.parent().unwrap_or(&self.index);
        for dirent in std::fs::read_dir(store_dir)? {
            let path = dirent?.path();
            if !path.is_file() || is_young(&path) {
                continue;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let uuid = name.split('.').next().unwrap_or_default();
            if uuid.len() == 64 && !named.contains(uuid) {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(())
    }
}

/// Why a URL or an address is not fetched.
#[derive(Debug, thiserror::Error)]
enum Blocked {
    #[error("{0} is an internal address")]
    Internal(String),
    #[error("only http and https URLs without credentials are fetched: {0}")]
    Url(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
}

impl Blocked {
    fn refusal(&self) -> Refusal {
        match self {
            Self::Internal(what) => Refusal::internal_address(what),
            Self::Url(_) => Refusal::invalid(format!("url: {self}")),
            Self::TooManyRedirects(_) => Refusal::new(
                StatusCode::BAD_GATEWAY,
                code::NETWORK,
                format!("the picture could not be fetched: {self}"),
            ),
        }
    }
}

/// Parses the `url` parameter: an absolute `http`/`https` URL of at most 100 bytes (the
/// avatar limit), without credentials; the fragment is dropped.
fn parse_url(raw: &str) -> Result<Url, Refusal> {
    if raw.len() > limits::AVATAR_MAX {
        return Err(Refusal::invalid(format!(
            "url is {} bytes, at most {} allowed",
            raw.len(),
            limits::AVATAR_MAX
        )));
    }
    let mut url = Url::parse(raw).map_err(|e| Refusal::invalid(format!("url: {e}")))?;
    url.set_fragment(None);
    Ok(url)
}

/// Checks a URL about to be requested (the first or a redirect's): scheme, credentials, and
/// an IP-literal host's address (names are checked by [`GuardedResolver`]).
fn check_target(url: &Url, allow_internal: bool) -> Result<(), Blocked> {
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Blocked::Url(url.scheme().to_owned()));
    }
    // The URL parser has normalized IP literals (`0x7f000001` is `127.0.0.1`).
    let host = url
        .host_str()
        .ok_or_else(|| Blocked::Url("no host".into()))?;
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return Ok(()); // a name: checked when resolved
    };
    if allow_internal || is_public(ip) {
        Ok(())
    } else {
        Err(Blocked::Internal(ip.to_string()))
    }
}

/// Resolves host names, keeping only public addresses (unless internal ones are allowed):
/// reqwest connects to exactly what this returns.
struct GuardedResolver {
    allow: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| allow || is_public(a.ip()))
                .collect();
            if kept.is_empty() && !all.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(Blocked::Internal(format!("{host} ({})", all[0].ip())));
                return Err(err);
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether `ip` is a global unicast address: not loopback, private, link-local, shared
/// (CGNAT), multicast, documentation, benchmarking, reserved or unspecified, nor an IPv6 form
/// of such an IPv4 address.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // NAT64 (64:ff9b::/96) carries an IPv4 address; so does 6to4 (2002::/16).
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    let global_unicast = (s[0] & 0xe000) == 0x2000; // 2000::/3
    global_unicast
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        && !(s[0] == 0x2001 && s[1] == 0) // Teredo: reaches any IPv4 address
        && !(s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010) // ORCHID
        && !(s[0] == 0x3fff && s[1] < 0x1000) // documentation (3fff::/20)
}

fn is_young(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age < SWEEP_SPARES)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `e: cause: cause` (reqwest's own message says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cache_entries: usize) -> Settings {
        Settings::from_config(
            &Config::builder()
                .external_image_cache_entries(cache_entries)
                .build(),
        )
    }

    /// Backdates a file past the sweep's grace for fresh files.
    fn age(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(600);
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(old))
            .unwrap();
    }

    #[tokio::test]
    async fn the_sweep_drops_expired_and_oldest_entries_and_unnamed_pictures() {
        let dir = tempfile::tempdir().unwrap();
        let proxy = ExternalImages::open(dir.path(), settings(3)).unwrap();
        let store = dir.path().join("external-images");
        let now = now_secs();
        let day = proxy.settings.cache_ttl.as_secs();
        let uuid = |c: char| c.to_string().repeat(64);
        let put = |name: &str, fetched: u64, outcome: Outcome| {
            let entry = Entry {
                url: format!("https://example.org/{name}"),
                fetched,
                outcome,
            };
            let path = proxy.index.join(format!("{name}.json"));
            std::fs::write(&path, serde_json::to_vec(&entry).unwrap()).unwrap();
            age(&path);
        };
        let picture = |c: char| Outcome::Picture {
            file: format!("{}.small.jpg", uuid(c)),
        };
        put("e1", now - 10, picture('a'));
        put("e2", now - 20, picture('b'));
        put("e3", now - 30, picture('c'));
        put("expired", now - day - 1, picture('d'));
        put("refused", now - 5, Outcome::Refused(Refusal::invalid("no")));
        for c in ['a', 'b', 'c', 'd'] {
            for file in [
                format!("{}.small.jpg", uuid(c)),
                format!("{}.json", uuid(c)),
            ] {
                std::fs::write(store.join(&file), b"x").unwrap();
                age(&store.join(file));
            }
        }
        proxy.sweep_now().unwrap();
        let left = |dir: &Path| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(left(&proxy.index), ["e1.json", "e2.json", "refused.json"]);
        let pictures: Vec<String> = left(&store)
            .into_iter()
            .map(|n| n[..1].to_owned() + &n[64..])
            .collect();
        assert_eq!(pictures, ["a.json", "a.small.jpg", "b.json", "b.small.jpg"]);
    }

    #[test]
    fn only_global_addresses_are_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = internal.parse().unwrap();
            assert!(!is_public(ip), "{internal} is internal");
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::",
            "2606:4700::1111",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[test]
    fn urls_are_checked_before_anything_is_fetched() {
        let bad = |raw: &str| {
            parse_url(raw).and_then(|u| check_target(&u, false).map_err(|b| b.refusal()))
        };
        assert_eq!(
            bad("ftp://example.org/a.png").unwrap_err().code,
            code::INVALID_PARAMETER
        );
        assert_eq!(
            bad("file:///etc/passwd").unwrap_err().code,
            code::INVALID_PARAMETER
        );
        assert_eq!(bad("not a url").unwrap_err().code, code::INVALID_PARAMETER);
        assert_eq!(
            bad("http://user:pw@example.org/a.png").unwrap_err().code,
            code::INVALID_PARAMETER
        );
        let long = format!("https://example.org/{}", "a".repeat(100));
        assert_eq!(bad(&long).unwrap_err().code, code::INVALID_PARAMETER);
        for internal in [
            "http://127.0.0.1:9000/a.png",
            "http://[::1]/a.png",
            "http://169.254.169.254/latest/meta-data",
            "http://0x7f000001/a.png",
            "http://2130706433/a.png",
            "http://[::ffff:192.168.0.1]/a.png",
        ] {
            let refusal = bad(internal).unwrap_err();
            assert_eq!(refusal.code, code::NO_PERMISSION, "{internal}");
            assert_eq!(refusal.status, 403);
        }
        assert!(bad("https://example.org/a.png#frag").is_ok());
        let url = parse_url("http://127.0.0.1/a.png").unwrap();
        assert!(check_target(&url, true).is_ok(), "allowed by the setting");
    }
}
