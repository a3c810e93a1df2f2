//! One app's backend: its callback URL, its own HTTP client (connections kept alive and
//! reused, its own time limit, no redirects, no proxy) and the POST of one callback.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Url;

use super::{sign, Platform};
use crate::error::ServerError;

/// The most of a reply that is read (a replacement message at its limit, JSON-escaped, fits).
const REPLY_MAX: usize = 128 * 1024;

/// Why a callback got no usable answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// No answer within the time limit.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An answer other than 200.
    #[error("HTTP {0}")]
    Status(u16),
    /// Connecting, sending or reading failed.
    #[error("{0}")]
    Transport(String),
    /// The reply is larger than any reply needs to be.
    #[error("a reply over {REPLY_MAX} bytes")]
    TooLarge,
    /// A 200 whose body is not the reply Tencent documents.
    #[error("the reply is not Tencent's JSON envelope: {0}")]
    BadReply(String),
    /// A reply the server cannot use (an unknown code, a replacement that is not a message).
    #[error("{0}")]
    Unusable(String),
}

impl Failure {
    /// A timeout, as opposed to an answer that was wrong.
    pub(super) fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }
}

/// Where one app's callbacks go.
pub(super) struct Backend {
    app: u64,
    url: Url,
    token: Option<String>,
    timeout: Duration,
    client: reqwest::Client,
}

impl Backend {
    /// The backend of `app` at `url`, signing with `token`, each request within `timeout`.
    pub(super) fn new(
        app: u64,
        url: &str,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, ServerError> {
        let url = Url::parse(url)
            .map_err(|e| ServerError::Config(format!("callback URL '{url}': {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("liveroom-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ServerError::Config(format!("callback client for app {app}: {e}")))?;
        Ok(Self {
            app,
            url,
            token,
            timeout,
            client,
        })
    }

    /// POSTs one callback and returns the body of a 200 answer.
    pub(super) async fn post(
        &self,
        command: &str,
        platform: Platform,
        client_ip: Option<IpAddr>,
        body: Bytes,
    ) -> Result<Vec<u8>, Failure> {
        let url = self.url_for(command, platform, client_ip, liveroom_usersig::now_secs());
        let request = async {
            let mut resp = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| self.transport(e))?;
            if resp.status() != reqwest::StatusCode::OK {
                return Err(Failure::Status(resp.status().as_u16()));
            }
            let mut reply = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
                if reply.len() + chunk.len() > REPLY_MAX {
                    return Err(Failure::TooLarge);
                }
                reply.extend_from_slice(&chunk);
            }
            Ok(reply)
        };
        // The client's own limit covers connecting through the last byte; this one also
        // covers name resolution.
        tokio::time::timeout(self.timeout, request)
            .await
            .unwrap_or(Err(Failure::Timeout(self.timeout)))
    }

    /// The configured URL (its own query kept) with Tencent's query, and the signature when
    /// the app has a token: `?SdkAppid=&CallbackCommand=&contenttype=json&ClientIP=&OptPlatform=`
    /// `[&Sign=&RequestTime=]`.
    pub(super) fn url_for(
        &self,
        command: &str,
        platform: Platform,
        client_ip: Option<IpAddr>,
        now: i64,
    ) -> Url {
        let mut url = self.url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("SdkAppid", &self.app.to_string())
                .append_pair("CallbackCommand", command)
                .append_pair("contenttype", "json")
                .append_pair(
                    "ClientIP",
                    &client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                )
                .append_pair("OptPlatform", platform.as_str());
            if let Some(token) = &self.token {
                q.append_pair("Sign", &sign::sign(token, now))
                    .append_pair("RequestTime", &now.to_string());
            }
        }
        url
    }

    fn transport(&self, e: reqwest::Error) -> Failure {
        if e.is_timeout() {
            Failure::Timeout(self.timeout)
        } else {
            // The chain says what failed (refused, reset, DNS); the URL may hold a secret.
            let e = e.without_url();
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            Failure::Transport(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_keeps_its_query_and_gets_tencents() {
        let b = Backend::new(
            1400000001,
            "https://backend.example/im/hook?key=a%20b",
            None,
            Duration::from_secs(2),
        )
        .unwrap();
        let url = b.url_for(
            "Group.CallbackBeforeSendMsg",
            Platform::Web,
            Some("10.1.2.3".parse().unwrap()),
            0,
        );
        assert_eq!(
            url.as_str(),
            "https://backend.example/im/hook?key=a%20b&SdkAppid=1400000001\
             &CallbackCommand=Group.CallbackBeforeSendMsg&contenttype=json&ClientIP=10.1.2.3&OptPlatform=Web"
        );
        let rest = b.url_for("State.StateChange", Platform::Rest, None, 0);
        assert_eq!(
            rest.as_str(),
            "https://backend.example/im/hook?key=a%20b&SdkAppid=1400000001\
             &CallbackCommand=State.StateChange&contenttype=json&ClientIP=&OptPlatform=RESTAPI"
        );
    }

    #[test]
    fn a_token_signs_the_url() {
        let b = Backend::new(
            7,
            "http://127.0.0.1:1/cb",
            Some("xxxyyy".into()),
            Duration::from_secs(2),
        )
        .unwrap();
        let url = b.url_for("State.StateChange", Platform::Web, None, 1_669_872_112);
        assert!(
            url.as_str().ends_with(
                "&OptPlatform=Web&Sign=e78a85473bed2cdc8d6fa8c4d5a4ba4735fd64156e15a99516b9890293e135de\
                 &RequestTime=1669872112"
            ),
            "{url}"
        );
    }
}
