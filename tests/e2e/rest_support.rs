//! What the REST tests share: calls in Tencent's raw URL form, signed like Tencent's server
//! SDKs do (the administrator's own UserSig in the query), and the envelope's checks.

use liveroom_tests::{sig, Server, APP};
use serde_json::Value;

/// The administrator every REST test signs as.
pub const ADMIN: &str = "boss";

/// A server whose app administrator is [`ADMIN`].
pub fn server() -> Server {
    Server::start_with(&["--admin", &format!("{APP}:{ADMIN}")])
}

/// `POST /v4/SERVICE/COMMAND` of the server at `http_url` (`http://HOST:PORT`) as
/// `identifier`, with its own UserSig; the answer's JSON (HTTP 200 always).
pub async fn call_at(http_url: &str, identifier: &str, path: &str, body: &str) -> Value {
    let url = format!(
        "{http_url}/v4/{path}?sdkappid={APP}&identifier={identifier}&usersig={}&random={}&contenttype=json",
        sig(identifier),
        rand_u32(),
    );
    post(&url, body).await
}

/// [`call_at`] on `server`.
pub async fn call_as(server: &Server, identifier: &str, path: &str, body: &str) -> Value {
    call_at(&server.http_url(), identifier, path, body).await
}

/// [`call_as`] the administrator.
pub async fn call(server: &Server, path: &str, body: Value) -> Value {
    call_as(server, ADMIN, path, &body.to_string()).await
}

/// POSTs `body` to `url`; the answer's JSON, which Tencent's REST API sends with HTTP 200.
pub async fn post(url: &str, body: &str) -> Value {
    let resp = reqwest::Client::new()
        .post(url)
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers");
    assert_eq!(resp.status(), 200, "Tencent's REST API answers HTTP 200");
    resp.json().await.expect("a JSON envelope")
}

/// The query's `random`.
pub fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.subsec_nanos())
}

/// The call succeeded.
pub fn assert_ok(v: &Value) {
    assert_eq!(v["ActionStatus"], "OK", "{v}");
    assert_eq!(v["ErrorCode"], 0, "{v}");
}

/// The call failed with `code` and says why.
pub fn assert_fail(v: &Value, code: u32) {
    assert_eq!(v["ActionStatus"], "FAIL", "{v}");
    assert_eq!(v["ErrorCode"], code, "{v}");
    assert!(
        !v["ErrorInfo"].as_str().unwrap_or_default().is_empty(),
        "a failure says why: {v}"
    );
}
