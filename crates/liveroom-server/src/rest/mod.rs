//! The REST API of Tencent IM's server side, for the app's own backend:
//! `POST /v4/SERVICE/COMMAND?sdkappid=&identifier=&usersig=&random=&contenttype=json`, a JSON
//! body, and always HTTP 200 with Tencent's `{ActionStatus, ErrorCode, ErrorInfo, ...}`
//! envelope, so backends written against Tencent's REST API (with any of its server SDKs) work
//! by changing only the host name.
//!
//! The caller is an app administrator (`--admin APP:USER`) signing with its own UserSig. Each
//! command reads its Tencent-shaped request, calls what a WebSocket request of the same kind
//! calls ([`crate::service`], [`crate::moderation`]), and answers Tencent's fields.

mod accounts;
mod groups;
mod messages;
mod moderation;

pub(crate) use messages::RecentSends;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body as HttpBody};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use liveroom_proto::{code, ApiError};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::moderation::Actor;
use crate::{auth, tim, Shared};

/// The largest request body: a `multiaccount_import` of 100 accounts or a message at its
/// limit fit many times over.
pub(crate) const BODY_MAX: usize = 256 * 1024;
/// How long a request's body may take to arrive (its head has the listener's deadline).
const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// Calls per second an app may make to one command (Tencent's default), burst 2 s of it.
pub(crate) const CALLS_PER_SEC: u32 = 200;

/// Calls per second an app may make to `command`: Tencent's own limit for it (its use-limits
/// page), [`CALLS_PER_SEC`] for most.
fn calls_per_sec(command: &str) -> u32 {
    match command {
        "get_appid_group_list" | "send_broadcast_msg" => 1,
        "multiaccount_import" | "account_check" => 100,
        _ => CALLS_PER_SEC,
    }
}

/// Each app's calls per command, each command at its own rate ([`calls_per_sec`]), in
/// bursts of 2 s of it; a command of one call a second has no burst (a second call within
/// the second is refused, as Tencent's).
#[derive(Debug, Default)]
pub(crate) struct CallRates {
    /// Calls per second → the buckets of the commands allowed that many.
    by_rate: std::sync::Mutex<std::collections::HashMap<u32, Arc<crate::budget::UserRates>>>,
}

impl CallRates {
    /// Whether `app` may call `command` now; takes a token when so.
    fn admit(&self, app: u64, command: &str, now: Instant) -> bool {
        let rate = calls_per_sec(command);
        let rates = {
            let mut by_rate = self.by_rate.lock().unwrap_or_else(|e| e.into_inner());
            by_rate
                .entry(rate)
                .or_insert_with(|| {
                    let burst = if rate > 1 { 2 * rate } else { rate };
                    Arc::new(crate::budget::UserRates::new(
                        f64::from(rate),
                        f64::from(burst),
                    ))
                })
                .clone()
        };
        rates.admit(app, command, now)
    }
}

/// Tencent's codes for the REST layer itself.
pub(crate) mod codes {
    /// The request body is not JSON.
    pub(crate) const JSON_PARSE: u32 = 60003;
    /// `identifier` missing or not a valid userID.
    pub(crate) const BAD_ACCOUNT: u32 = 60004;
    /// `sdkappid` is not a number.
    pub(crate) const BAD_SDKAPPID: u32 = 60006;
    /// Over the call rate.
    pub(crate) const FREQUENCY: u32 = 60007;
    /// Timeout, or malformed HTTP (the body did not arrive in time or is too large).
    pub(crate) const TIMEOUT: u32 = 60008;
    /// No such service or command.
    pub(crate) const BAD_RESOURCE: u32 = 60009;
    /// The caller is not an app administrator.
    pub(crate) const NEEDS_ADMIN: u32 = 60010;
    /// `sdkappid` missing.
    pub(crate) const NO_SDKAPPID: u32 = 60012;
    /// `usersig` empty.
    pub(crate) const USERSIG_EMPTY: u32 = 70002;
    /// The account service: the caller is not an app administrator.
    pub(crate) const ACCOUNT_NEEDS_ADMIN: u32 = 70403;
    /// The account service: a bad parameter.
    pub(crate) const ACCOUNT_INVALID: u32 = 70402;
    /// The account service: internal error.
    pub(crate) const ACCOUNT_INTERNAL: u32 = 70500;
    /// The profile service: a bad parameter.
    pub(crate) const PROFILE_INVALID: u32 = 40001;
    /// The profile service: internal error, try again (40005 is a sensitive word there).
    pub(crate) const PROFILE_INTERNAL: u32 = 40006;
    /// The profile service: the caller is not an app administrator.
    pub(crate) const PROFILE_NEEDS_ADMIN: u32 = 40004;
    /// The account service: a server timeout, try again.
    pub(crate) const ACCOUNT_TIMEOUT: u32 = 70169;
}

/// The services, each with its own codes for the common failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    /// `im_open_login_svc`: accounts.
    Login,
    /// `profile`: nick and avatar.
    Profile,
    /// `group_open_http_svc`: rooms, messages, moderation.
    Group,
}

impl Service {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "im_open_login_svc" => Some(Self::Login),
            "profile" => Some(Self::Profile),
            "group_open_http_svc" => Some(Self::Group),
            _ => None,
        }
    }

    /// Our codes as this service's: a bad parameter, an internal error, a message too long.
    fn code_of(self, ours: u32) -> u32 {
        match (self, ours) {
            (Self::Login, code::INVALID_PARAMETER) => codes::ACCOUNT_INVALID,
            (Self::Login, code::INTERNAL) => codes::ACCOUNT_INTERNAL,
            (Self::Profile, code::INVALID_PARAMETER) => codes::PROFILE_INVALID,
            (Self::Profile, code::INTERNAL | code::UNAVAILABLE) => codes::PROFILE_INTERNAL,
            (Self::Login, code::UNAVAILABLE) => codes::ACCOUNT_TIMEOUT,
            (_, code::MESSAGE_TOO_LONG) => tim::MESSAGE_TOO_LONG,
            (Self::Group, code::INTERNAL) => code::UNAVAILABLE,
            (_, other) => other,
        }
    }

    fn needs_admin(self) -> u32 {
        match self {
            Self::Login => codes::ACCOUNT_NEEDS_ADMIN,
            Self::Profile => codes::PROFILE_NEEDS_ADMIN,
            Self::Group => codes::NEEDS_ADMIN,
        }
    }
}

/// The query string every call carries. `random` and `contenttype` are accepted and not
/// needed (replies are always JSON).
#[derive(Debug, Default, Deserialize)]
struct Query {
    sdkappid: Option<String>,
    identifier: Option<String>,
    usersig: Option<String>,
}

/// Who calls: an app administrator of `app`.
pub(crate) struct Cx<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    pub(crate) app: u64,
    /// The administrator's userID (`identifier`).
    pub(crate) admin: &'a str,
}

impl Cx<'_> {
    /// The caller as a moderator: audited with the administrator as actor.
    pub(crate) fn actor(&self) -> Actor<'_> {
        Actor {
            app: self.app,
            user: Some(self.admin),
            backend: true,
            ip: None,
        }
    }
}

/// A command's answer: its own fields, merged into the envelope.
pub(crate) type Answer = Result<Map<String, Value>, ApiError>;

/// An answer with no fields of its own.
pub(crate) fn done() -> Answer {
    Ok(Map::new())
}

/// The answer's fields from a `Serialize` struct.
pub(crate) fn fields<T: serde::Serialize>(value: &T) -> Answer {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) | Err(_) => Err(ApiError::new(code::INTERNAL, "cannot encode the answer")),
    }
}

/// The request body as `T`: 60003 when it is not JSON at all, 10004 (the service's code for
/// a bad parameter) naming the field otherwise.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return Err(ApiError::new(
            codes::JSON_PARSE,
            "the request body is not JSON (send {} when a command takes no fields)",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("request body: {e}")))
}

/// `POST /v4/{service}/{command}`.
pub(crate) async fn call(
    State(shared): State<Arc<Shared>>,
    Path((service, command)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: HttpBody,
) -> Response {
    let service = Service::parse(&service);
    let answer = answer(&shared, service, &command, query.as_deref(), body).await;
    let mut out = Map::new();
    let (envelope, fields) = match answer {
        Ok(fields) => (tim::Envelope::ok(), fields),
        Err(e) => {
            let code = service.map_or(e.code, |s| s.code_of(e.code));
            let e = ApiError::new(code, e.message);
            tracing::debug!(command = %command, code = e.code, error = %e.message, "REST call failed");
            (tim::Envelope::fail(&e), Map::new())
        }
    };
    out.insert("ActionStatus".into(), envelope.action_status.into());
    out.insert("ErrorCode".into(), envelope.error_code.into());
    out.insert("ErrorInfo".into(), envelope.error_info.into());
    out.extend(fields);
    if service == Some(Service::Profile) {
        // The profile service's envelope has a text for the client too (empty here).
        out.entry("ErrorDisplay").or_insert_with(|| "".into());
    }
    Json(Value::Object(out)).into_response()
}

async fn answer(
    shared: &Arc<Shared>,
    service: Option<Service>,
    command: &str,
    query: Option<&str>,
    body: HttpBody,
) -> Answer {
    let query: Query = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| ApiError::new(codes::BAD_RESOURCE, format!("query string: {e}")))?;
    let (app, admin) = authenticate(shared, &query)?;
    let Some(service) = service else {
        return Err(ApiError::new(
            codes::BAD_RESOURCE,
            "no such service: Liveroom serves im_open_login_svc, profile and group_open_http_svc",
        ));
    };
    if !shared.rules.is_app_admin(app, &admin) {
        return Err(ApiError::new(
            service.needs_admin(),
            format!("identifier '{admin}' is not an app administrator of SDKAppID {app} (--admin {app}:USER)"),
        ));
    }
    if !shared.api_rates.admit(app, command, Instant::now()) {
        return Err(ApiError::new(
            codes::FREQUENCY,
            format!(
                "over {} calls/s to {command}: slow down",
                calls_per_sec(command)
            ),
        ));
    }
    let body = match tokio::time::timeout(BODY_DEADLINE, to_bytes(body, BODY_MAX)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(ApiError::new(
                codes::TIMEOUT,
                format!("the request body could not be read or is over {BODY_MAX} bytes"),
            ))
        }
        Err(_) => {
            return Err(ApiError::new(
                codes::TIMEOUT,
                format!("the request body did not arrive within {BODY_DEADLINE:?}"),
            ))
        }
    };
    let cx = Cx {
        shared,
        app,
        admin: &admin,
    };
    dispatch(&cx, service, command, &body).await
}

/// The caller's app and administrator identity, its UserSig verified.
fn authenticate(shared: &Shared, query: &Query) -> Result<(u64, String), ApiError> {
    let app = query
        .sdkappid
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::new(codes::NO_SDKAPPID, "sdkappid is missing from the URL"))?;
    let app: u64 = app.parse().map_err(|_| {
        ApiError::new(
            codes::BAD_SDKAPPID,
            format!("sdkappid '{app}' is not a number"),
        )
    })?;
    let secret = shared.config.apps.get(&app).ok_or_else(|| {
        ApiError::new(
            code::UNKNOWN_SDKAPPID,
            format!("sdkappid {app} is not known to this server"),
        )
    })?;
    let admin = query
        .identifier
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::new(codes::BAD_ACCOUNT, "identifier is missing from the URL"))?;
    let sig = query
        .usersig
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::new(codes::USERSIG_EMPTY, "usersig is missing from the URL"))?;
    auth::verify_login(app, secret, admin, sig, liveroom_usersig::now_secs())?;
    Ok((app, admin.to_owned()))
}

/// Runs one command.
async fn dispatch(cx: &Cx<'_>, service: Service, command: &str, body: &[u8]) -> Answer {
    match (service, command) {
        (Service::Login, "account_import") => accounts::import(cx, body).await,
        (Service::Login, "multiaccount_import") => accounts::multi_import(cx, body).await,
        (Service::Login, "account_check") => accounts::check(cx, body).await,
        (Service::Login, "kick") => accounts::kick(cx, body).await,
        (Service::Profile, "portrait_set") => accounts::portrait_set(cx, body).await,
        (Service::Profile, "portrait_get") => accounts::portrait_get(cx, body).await,
        (Service::Group, "create_group") => groups::create(cx, body).await,
        (Service::Group, "destroy_group") => groups::destroy(cx, body).await,
        (Service::Group, "get_group_info") => groups::info(cx, body).await,
        (Service::Group, "modify_group_base_info") => groups::modify(cx, body).await,
        (Service::Group, "get_appid_group_list") => groups::list(cx, body).await,
        (Service::Group, "get_online_member_num") => groups::online(cx, body).await,
        (Service::Group, "change_group_owner") => groups::change_owner(cx, body).await,
        (Service::Group, "delete_group_member") => groups::kick(cx, body).await,
        (Service::Group, "send_group_msg") => messages::send(cx, body).await,
        (Service::Group, "send_group_system_notification") => messages::notify(cx, body).await,
        (Service::Group, "group_msg_recall") => messages::recall(cx, body).await,
        (Service::Group, "send_broadcast_msg") => messages::broadcast(cx, body).await,
        (Service::Group, "forbid_send_msg") => moderation::mute(cx, body).await,
        (Service::Group, "get_group_muted_account") => moderation::muted(cx, body, false).await,
        (Service::Group, "get_group_shutted_uin") => moderation::muted(cx, body, true).await,
        (Service::Group, "ban_group_member") => moderation::ban(cx, body).await,
        (Service::Group, "unban_group_member") => moderation::unban(cx, body).await,
        (Service::Group, "get_group_ban_member") => moderation::banned(cx, body).await,
        (_, other) => Err(ApiError::new(
            codes::BAD_RESOURCE,
            format!("no such command '{other}' in this service (the server README lists them)"),
        )),
    }
}
