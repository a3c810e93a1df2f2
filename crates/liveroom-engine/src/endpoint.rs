//! Where the server is: one address given by the user, two URLs derived from it (the
//! WebSocket for the session, the HTTP root for uploads and downloads).

use liveroom_proto::ApiError;

/// The server's URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoints {
    /// `ws://HOST[:PORT]/ws` (or `wss://`).
    pub(crate) ws: String,
    /// `http://HOST[:PORT]` (or `https://`), no trailing slash.
    pub(crate) http: String,
}

impl Endpoints {
    /// Accepts `ws://`, `wss://`, `http://`, `https://` or a bare `HOST:PORT`, with or
    /// without the `/ws` path.
    pub(crate) fn parse(server: &str) -> Result<Self, ApiError> {
        let server = server.trim();
        let (secure, rest) = match server.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "ws" | "http" => (false, rest),
                "wss" | "https" => (true, rest),
                other => {
                    return Err(ApiError::invalid(format!(
                        "server address: unsupported scheme '{other}' (use ws://, wss://, http:// or https://)"
                    )))
                }
            },
            None => (false, server),
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(ApiError::invalid(format!(
                "server address '{server}' has no host"
            )));
        }
        let base = match path {
            "" | "/ws" => "",
            other => other.strip_suffix("/ws").unwrap_or(other),
        };
        let (ws, http) = if secure {
            ("wss", "https")
        } else {
            ("ws", "http")
        };
        Ok(Self {
            ws: format!("{ws}://{host}{base}/ws"),
            http: format!("{http}://{host}{base}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_both_urls() {
        for input in [
            "ws://127.0.0.1:9000",
            "http://127.0.0.1:9000/",
            "ws://127.0.0.1:9000/ws",
            "127.0.0.1:9000",
        ] {
            let e = Endpoints::parse(input).unwrap();
            assert_eq!(e.ws, "ws://127.0.0.1:9000/ws", "{input}");
            assert_eq!(e.http, "http://127.0.0.1:9000", "{input}");
        }
        let e = Endpoints::parse("https://example.org/live").unwrap();
        assert_eq!(e.ws, "wss://example.org/live/ws");
        assert_eq!(e.http, "https://example.org/live");
    }

    #[test]
    fn rejects_nonsense() {
        assert!(Endpoints::parse("").is_err());
        assert!(Endpoints::parse("ftp://x").is_err());
        assert!(Endpoints::parse("ws://").is_err());
    }
}
