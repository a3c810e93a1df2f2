//! `liveroom admin call`: one command of the server's REST API (Tencent IM's server API), as
//! an app's backend would make it, for operators and for tests.
//!
//! The body is checked before anything is sent; the URL is Tencent's
//! (`/v4/SERVICE/COMMAND?sdkappid=&identifier=&usersig=&random=&contenttype=json`); the
//! answer is printed as it came, and a `FAIL` answer is a failure like any other command's.

use std::io::Read;
use std::time::Duration;

use liveroom_engine::proto::{code, ApiError};
use liveroom_engine::TlsConfig;
use serde_json::Value;

use crate::cli::{AdminCall, Connect};
use crate::commands::Failure;

/// How long to wait for a node to accept the connection before trying the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take (Tencent's own server gives itself 3 s and tells callers to
/// wait longer).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `admin call`: prints the answer; a `FAIL` answer becomes `error CODE: ErrorInfo`.
pub async fn call(args: AdminCall) -> Result<Value, Failure> {
    let path = command_path(&args.command)?;
    let body = read_body(&args.json, &mut std::io::stdin())?;
    let (user, sig) = identity(&args.conn)?;
    post(&args.conn, &path, user, sig, body).await
}

/// The answer's verdict: `Ok` for `ActionStatus: OK`, the error it carries for `FAIL`.
pub fn verdict(answer: &Value) -> Result<(), Failure> {
    match answer["ActionStatus"].as_str() {
        Some("OK") => Ok(()),
        Some("FAIL") => {
            let code = answer["ErrorCode"]
                .as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(code::INTERNAL);
            let info = answer["ErrorInfo"].as_str().unwrap_or("(no ErrorInfo)");
            Err(ApiError::new(code, info).into())
        }
        _ => Err(Failure::Other(
            "the server's answer has no ActionStatus OK or FAIL: not Tencent's envelope".into(),
        )),
    }
}

/// `SERVICE/COMMAND` (a leading `/` or `v4/`, as copied from Tencent's docs, is accepted):
/// two names of letters, digits and `_`, so nothing else can reach the URL.
fn command_path(given: &str) -> Result<String, Failure> {
    let trimmed = given.trim_start_matches('/');
    let trimmed = trimmed.strip_prefix("v4/").unwrap_or(trimmed);
    let name_ok = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match trimmed.split_once('/') {
        Some((service, command)) if name_ok(service) && name_ok(command) => {
            Ok(format!("{service}/{command}"))
        }
        _ => Err(ApiError::invalid(format!(
            "'{given}' is not SERVICE/COMMAND (e.g. group_open_http_svc/create_group); nothing was sent"
        ))
        .into()),
    }
}

/// The request body from `--json`: JSON text, `@FILE`, or `-` / `@-` for stdin. It must be a
/// JSON object (Tencent's bodies are; `{}` when a command takes no fields). The text is sent
/// as given.
fn read_body(arg: &str, stdin: &mut impl Read) -> Result<String, Failure> {
    let refused =
        |what: String| Failure::from(ApiError::invalid(format!("{what}; nothing was sent")));
    let (from, text) = match arg {
        "-" | "@-" => {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| refused(format!("--json -: cannot read stdin: {e}")))?;
            ("stdin".to_owned(), text)
        }
        _ => match arg.strip_prefix('@') {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| refused(format!("--json @{file}: {e}")))?;
                (format!("--json @{file}"), text)
            }
            None => ("--json".to_owned(), arg.to_owned()),
        },
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(_)) => Ok(text),
        Ok(_) => Err(refused(format!(
            "{from}: the body must be a JSON object ({{}} when the command takes no fields)"
        ))),
        Err(e) => Err(refused(format!("{from}: not JSON ({e})"))),
    }
}

/// The administrator's userID and UserSig (`--user`/`--sig` or `LIVEROOM_USER`/`LIVEROOM_SIG`).
fn identity(conn: &Connect) -> Result<(&str, &str), Failure> {
    match (conn.user.as_deref(), conn.sig.as_deref()) {
        (Some(user), Some(sig)) => Ok((user, sig)),
        _ => Err(ApiError::new(
            code::NOT_LOGGED_IN,
            "not logged in: --user and --sig (or LIVEROOM_USER and LIVEROOM_SIG) are required: \
             an app administrator's userID (--admin APP:USER on the server) and its UserSig",
        )
        .into()),
    }
}

/// POSTs to the first node that accepts the connection (in the order given) and returns the
/// answer's JSON.
async fn post(
    conn: &Connect,
    path: &str,
    user: &str,
    sig: &str,
    body: String,
) -> Result<Value, Failure> {
    let roots = liveroom_engine::http_roots(&conn.server)?;
    let tls = match &conn.ca_file {
        Some(file) => {
            let pem = std::fs::read(file)
                .map_err(|e| ApiError::invalid(format!("--ca-file {}: {e}", file.display())))?;
            TlsConfig::with_root_certificates_pem(&pem)?
        }
        None => TlsConfig::default(),
    };
    let client = tls
        .http(reqwest::Client::builder())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .build()
        .map_err(|e| Failure::Other(format!("cannot set up HTTP: {e}")))?;
    let app = conn.app.to_string();
    let random = rand::random::<u32>().to_string();
    let query = [
        ("sdkappid", app.as_str()),
        ("identifier", user),
        ("usersig", sig),
        ("random", random.as_str()),
        ("contenttype", "json"),
    ];
    let mut refused = Vec::new();
    for root in &roots {
        // Named without the query: it carries the UserSig.
        let url = format!("{root}/v4/{path}");
        let sent = client
            .post(&url)
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                tracing::info!(%url, error = %e, "node not reachable, trying the next");
                refused.push(format!("{root} ({})", cause(&e)));
                continue;
            }
            Err(e) => return Err(transport(&url, &e).into()),
        };
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(&url, &e))?;
        if !status.is_success() {
            return Err(ApiError::new(
                code::NETWORK,
                format!(
                    "{url} answered HTTP {status} (is this Liveroom's server, with its REST API?)"
                ),
            )
            .into());
        }
        return serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                code::NETWORK,
                format!("{url} answered something not JSON: {e}"),
            )
            .into()
        });
    }
    Err(ApiError::new(
        code::NETWORK,
        format!("no server reachable: {}", refused.join(", ")),
    )
    .into())
}

fn transport(url: &str, e: &reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::new(
            code::TIMEOUT,
            format!("{url} did not answer within {CALL_TIMEOUT:?}"),
        )
    } else {
        ApiError::new(code::NETWORK, format!("{url}: {}", cause(e)))
    }
}

/// The innermost cause of a transport error ("Connection refused", ...), without the URL
/// reqwest puts in its own message (it would carry the UserSig).
fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_paths_are_two_plain_names() {
        for (given, path) in [
            (
                "group_open_http_svc/create_group",
                "group_open_http_svc/create_group",
            ),
            ("v4/profile/portrait_get", "profile/portrait_get"),
            (
                "/v4/im_open_login_svc/account_import",
                "im_open_login_svc/account_import",
            ),
        ] {
            assert_eq!(command_path(given).unwrap(), path);
        }
        for bad in [
            "create_group",
            "a/b/c",
            "a/",
            "/b",
            "a/b?x=1",
            "../x",
            "a b/c",
            "",
        ] {
            let e = command_path(bad).unwrap_err().to_string();
            assert!(e.starts_with("error 10004: "), "{bad}: {e}");
        }
    }

    #[test]
    fn bodies_are_json_objects_from_text_file_or_stdin() {
        let none = &mut std::io::empty();
        assert_eq!(
            read_body(r#"{"GroupId":"a"}"#, none).unwrap(),
            r#"{"GroupId":"a"}"#
        );
        let mut stdin = &b" {\"x\": 1}\n"[..];
        assert_eq!(read_body("-", &mut stdin).unwrap(), " {\"x\": 1}\n");
        let mut stdin = &b"{}"[..];
        assert_eq!(read_body("@-", &mut stdin).unwrap(), "{}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body.json");
        std::fs::write(&file, r#"{"UserID":"u"}"#).unwrap();
        let arg = format!("@{}", file.display());
        assert_eq!(read_body(&arg, none).unwrap(), r#"{"UserID":"u"}"#);

        let e = read_body("{nope", none).unwrap_err().to_string();
        assert!(e.starts_with("error 10004: --json: not JSON"), "{e}");
        assert!(e.ends_with("nothing was sent"), "{e}");
        let e = read_body("[1]", none).unwrap_err().to_string();
        assert!(e.contains("must be a JSON object"), "{e}");
        let e = read_body("@/no/such/file.json", none)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("error 10004: --json @/no/such/file.json: "),
            "{e}"
        );
        assert!(e.ends_with("nothing was sent"), "{e}");
        std::fs::write(&file, "UserID=u").unwrap();
        let e = read_body(&arg, none).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("error 10004: --json {arg}: not JSON")),
            "{e}"
        );
        let mut stdin = &b""[..];
        let e = read_body("-", &mut stdin).unwrap_err().to_string();
        assert!(e.starts_with("error 10004: stdin: not JSON"), "{e}");
    }

    #[test]
    fn fail_answers_are_errors_with_their_code() {
        let ok = serde_json::json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
        assert!(verdict(&ok).is_ok());
        let fail = serde_json::json!({"ActionStatus": "FAIL", "ErrorCode": 10010, "ErrorInfo": "no room\u{1b}[2J"});
        assert_eq!(
            verdict(&fail).unwrap_err().to_string(),
            "error 10010: no room\\u{001b}[2J"
        );
        let odd = serde_json::json!({"hello": 1});
        assert!(verdict(&odd)
            .unwrap_err()
            .to_string()
            .starts_with("error: "));
    }
}
