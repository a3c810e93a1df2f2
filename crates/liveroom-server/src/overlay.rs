//! The OBS overlay: `GET /overlay/{room}` (`?app=SDKAPPID` when the server has several apps)
//! is a page that a streaming program's browser source shows over the video. Its script
//! (`overlay/overlay.js`) enters the room as a guest over this server's `/ws` and draws the
//! chat, gifts, likes and the end of the stream on a transparent background; its options are
//! the page's query string, read by the script.
//!
//! The page, its script and style are files of this crate compiled in, and the gift pictures
//! the app's own (`ui/gifts/*.svg`). The page's strict CSP allows no inline script or style:
//! the room and the app go to the script in `data-` attributes, HTML-escaped. A guest can
//! only read, so the page needs no login and holds no secret; its connections are ordinary
//! guest WebSockets under the per-address caps.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use liveroom_proto::limits;
use sha2::{Digest, Sha256};

use crate::images::etag_matches;
use crate::Shared;

const PAGE: &str = include_str!("../overlay/overlay.html");
const SCRIPT: &str = include_str!("../overlay/overlay.js");
const STYLE: &str = include_str!("../overlay/overlay.css");

/// The gifts the overlay draws: the app's gift panel (ui/effects.js `GIFTS`), pictures and
/// all. Others show with the first one's picture and their ID as name, as in the app.
const GIFTS: [(&str, &[u8]); 5] = [
    ("rose", include_bytes!("../../../ui/gifts/rose.svg")),
    ("heart", include_bytes!("../../../ui/gifts/heart.svg")),
    ("cake", include_bytes!("../../../ui/gifts/cake.svg")),
    ("rocket", include_bytes!("../../../ui/gifts/rocket.svg")),
    ("crown", include_bytes!("../../../ui/gifts/crown.svg")),
];

/// The page's policy: its own script, style and pictures, `data:` pictures (the initials
/// avatars) and WebSockets; nothing inline, no forms, no plugins.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'";

/// The assets' policy: none of them is a document, and an SVG opened by itself runs nothing.
const ASSET_CSP: &str = "default-src 'none'";

/// How long a browser may keep an asset without asking (then it asks with its ETag); the
/// page names them with their version, so a new server's are fetched at once.
const ASSET_CACHE: &str = "public, max-age=3600";

/// The assets' version: a hash of all of them, in the page's asset URLs (`?v=`) and their
/// ETags.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    hash.update(SCRIPT);
    hash.update(STYLE);
    for (id, svg) in GIFTS {
        hash.update(id);
        hash.update(svg);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// `GET /overlay/{room}`: the overlay page of that room, or an error page saying what is
/// wrong with the address.
pub(crate) async fn page(
    State(shared): State<Arc<Shared>>,
    room: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let room = match room {
        Ok(Path(room)) => room,
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The room ID in this address is not valid text.",
            )
        }
    };
    match render(&shared.config.apps, &room, query.as_deref()) {
        Ok(html) => {
            let mut response = html_response(StatusCode::OK, html);
            let h = response.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            );
            response
        }
        Err(refusal) => error_page(refusal.status, &refusal.message),
    }
}

/// `GET /overlay/`: no room named.
pub(crate) async fn no_room() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Add the room ID to this address: /overlay/ROOM_ID",
    )
}

/// `GET /overlay/assets/{name}`: the script or the style.
pub(crate) async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match name.as_str() {
        "overlay.js" => asset_response(&headers, "text/javascript; charset=utf-8", SCRIPT),
        "overlay.css" => asset_response(&headers, "text/css; charset=utf-8", STYLE),
        _ => not_found(),
    }
}

/// `GET /overlay/assets/gifts/{name}`: a gift's picture (`rose.svg`, ...).
pub(crate) async fn gift(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let svg = name
        .strip_suffix(".svg")
        .and_then(|id| GIFTS.iter().find(|(g, _)| *g == id))
        .map(|(_, svg)| *svg);
    match svg {
        Some(svg) => asset_response(&headers, "image/svg+xml", svg),
        None => not_found(),
    }
}

/// Why an overlay address has no page: its status and a sentence for the person who typed it.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The page for `room` of the app the query names (or the server's only app).
fn render(
    apps: &BTreeMap<u64, String>,
    room: &str,
    query: Option<&str>,
) -> Result<String, Refusal> {
    limits::check_room_id(room).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("This is not a room ID: {}.", e.message),
        )
    })?;
    let app = pick_app(apps, query)?;
    let gifts: Vec<&str> = GIFTS.iter().map(|(id, _)| *id).collect();
    Ok(PAGE
        .replace("{{VERSION}}", &VERSION)
        .replace("{{APP}}", &app.to_string())
        .replace("{{GIFTS}}", &gifts.join(" "))
        .replace("{{ROOM}}", &escape(room)))
}

/// The SDKAppID of the query's `app`, which may be left out when the server has one app.
fn pick_app(apps: &BTreeMap<u64, String>, query: Option<&str>) -> Result<u64, Refusal> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "The query string is malformed."))?;
    let named = pairs.iter().rev().find(|(k, _)| k == "app").map(|(_, v)| v);
    match named {
        Some(text) => {
            let app = text.trim().parse::<u64>().map_err(|_| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("app={text} is not an SDKAppID (a number)."),
                )
            })?;
            if apps.contains_key(&app) {
                Ok(app)
            } else {
                Err(Refusal::new(
                    StatusCode::NOT_FOUND,
                    format!("This server has no app {app}."),
                ))
            }
        }
        None => match apps.keys().next() {
            Some(&only) if apps.len() == 1 => Ok(only),
            _ => Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "This server has several apps: add ?app=SDKAPPID to the address.",
            )),
        },
    }
}

/// Text made safe inside an HTML attribute value or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    common_headers(h);
    response
}

/// What every overlay response carries: no type sniffing, no referrer.
fn common_headers(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// An error page, readable in a browser source too (the overlay's style draws it outlined).
fn error_page(status: StatusCode, message: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Liveroom overlay: {status}</title>\n\
         <link rel=\"stylesheet\" href=\"assets/overlay.css?v={version}\">\n</head>\n\
         <body class=\"error-page\">\n<p class=\"error\">Liveroom overlay: {message}</p>\n\
         </body>\n</html>\n",
        status = status.as_u16(),
        version = *VERSION,
        message = escape(message),
    );
    let mut response = html_response(status, html);
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}

fn not_found() -> Response {
    let mut response = (StatusCode::NOT_FOUND, "no such overlay file").into_response();
    common_headers(response.headers_mut());
    response
}

fn asset_response(
    headers: &HeaderMap,
    content_type: &'static str,
    body: impl AsRef<[u8]>,
) -> Response {
    let etag = format!("\"{}\"", *VERSION);
    let mut response = if etag_matches(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.as_ref().to_vec().into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = response.headers_mut();
    common_headers(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ASSET_CSP),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apps(ids: &[u64]) -> BTreeMap<u64, String> {
        ids.iter().map(|id| (*id, "key".to_owned())).collect()
    }

    #[test]
    fn one_app_needs_no_app_in_the_address() {
        let html = render(&apps(&[7]), "friday", None).unwrap();
        assert!(html.contains(r#"data-room="friday""#), "{html}");
        assert!(html.contains(r#"data-app="7""#), "{html}");
        assert!(html.contains(&format!("assets/overlay.js?v={}", *VERSION)));
        assert!(!html.contains("{{"), "every placeholder filled: {html}");
        assert_eq!(
            render(&apps(&[7]), "friday", Some("app=7&mode=danmaku")).unwrap(),
            html
        );
    }

    #[test]
    fn several_apps_need_a_known_app() {
        let two = apps(&[7, 8]);
        let html = render(&two, "r", Some("mode=list&app=8")).unwrap();
        assert!(html.contains(r#"data-app="8""#));
        let e = render(&two, "r", Some("mode=list")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("?app="), "{e:?}");
        let e = render(&two, "r", Some("app=9")).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e = render(&two, "r", Some("app=seven")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = render(&apps(&[7]), "r", Some("app=8")).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND, "one app, another named");
    }

    #[test]
    fn the_room_id_is_checked_and_escaped() {
        let html = render(&apps(&[7]), r#"a"b<i>&'"#, None).unwrap();
        assert!(
            html.contains(r#"data-room="a&quot;b&lt;i&gt;&amp;&#39;""#),
            "{html}"
        );
        assert!(!html.contains("<i>"));
        for bad in ["", " lead", "é", &"x".repeat(limits::ROOM_ID_MAX + 1)] {
            let e = render(&apps(&[7]), bad, None).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn the_assets_are_the_files_and_gifts_of_the_app() {
        assert!(PAGE.contains("{{ROOM}}") && PAGE.contains("{{VERSION}}"));
        for (id, svg) in GIFTS {
            let text = std::str::from_utf8(svg).unwrap();
            assert!(text.starts_with("<svg"), "{id}");
            assert!(!text.contains("<script"), "{id}");
        }
        assert_eq!(VERSION.len(), 16);
    }
}
