//! Where the server is: one address given by the user, or a comma-separated list of the
//! nodes of a cluster (`ws://10.0.0.1:9001,ws://10.0.0.2:9001`); for each node two URLs
//! derived from it (the WebSocket for the session, the HTTP root for uploads and downloads).

use liveroom_proto::ApiError;

/// One node's URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoints {
    /// `ws://HOST[:PORT]/ws` (or `wss://`).
    pub(crate) ws: String,
    /// `http://HOST[:PORT]` (or `https://`), no trailing slash.
    pub(crate) http: String,
}

/// Why one address is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BadAddress {
    Scheme(String),
    NoHost,
}

impl BadAddress {
    /// What is wrong with `entry`, naming it.
    fn describe(&self, entry: &str) -> String {
        match self {
            Self::Scheme(scheme) => format!(
                "'{entry}': unsupported scheme '{scheme}' (use ws://, wss://, http:// or https://)"
            ),
            Self::NoHost => format!("'{entry}' has no host"),
        }
    }
}

impl Endpoints {
    /// Accepts `ws://`, `wss://`, `http://`, `https://` or a bare `HOST:PORT`, with or
    /// without the `/ws` path.
    pub(crate) fn parse(server: &str) -> Result<Self, ApiError> {
        let server = server.trim();
        Self::parse_entry(server).map_err(|bad| match bad {
            // The single-address messages, as they always were.
            BadAddress::Scheme(other) => ApiError::invalid(format!(
                "server address: unsupported scheme '{other}' (use ws://, wss://, http:// or https://)"
            )),
            BadAddress::NoHost => {
                ApiError::invalid(format!("server address '{server}' has no host"))
            }
        })
    }

    fn parse_entry(server: &str) -> Result<Self, BadAddress> {
        let (secure, rest) = match server.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "ws" | "http" => (false, rest),
                "wss" | "https" => (true, rest),
                other => return Err(BadAddress::Scheme(other.to_owned())),
            },
            None => (false, server),
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(BadAddress::NoHost);
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

/// The nodes an engine may talk to, in the order given: never empty. With one address
/// (the usual case) the engine behaves as it always did; with several, it connects to one
/// and moves to the next after a lost connection or a refused connect (see
/// [`crate::connection`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Servers {
    nodes: Vec<Endpoints>,
}

impl Servers {
    /// Parses one address or a comma-separated list (spaces around commas allowed). Each
    /// entry is checked as a single address is; an empty entry is an error. Errors name the
    /// bad entry and its place in the list.
    pub(crate) fn parse(list: &str) -> Result<Self, ApiError> {
        if !list.contains(',') {
            return Ok(Self {
                nodes: vec![Endpoints::parse(list)?],
            });
        }
        let entries: Vec<&str> = list.split(',').map(str::trim).collect();
        let total = entries.len();
        let mut nodes = Vec::with_capacity(total);
        for (i, entry) in entries.into_iter().enumerate() {
            let place = format!("server address {} of {total} in '{}'", i + 1, list.trim());
            if entry.is_empty() {
                return Err(ApiError::invalid(format!("{place} is empty")));
            }
            let node = Endpoints::parse_entry(entry)
                .map_err(|bad| ApiError::invalid(format!("{place}: {}", bad.describe(entry))))?;
            nodes.push(node);
        }
        Ok(Self { nodes })
    }

    /// How many nodes.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Node `index` (taken modulo the count, so any index is valid).
    pub(crate) fn get(&self, index: usize) -> &Endpoints {
        &self.nodes[index % self.nodes.len()]
    }

    /// Every node's HTTP root.
    pub(crate) fn http_roots(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.http.as_str())
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

    #[test]
    fn one_address_is_a_list_of_one_with_the_same_errors() {
        let one = Servers::parse(" ws://127.0.0.1:9000 ").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            one.get(0),
            &Endpoints::parse("ws://127.0.0.1:9000").unwrap()
        );
        for bad in ["", "ftp://x", "ws://"] {
            assert_eq!(
                Servers::parse(bad).unwrap_err(),
                Endpoints::parse(bad).unwrap_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_list_keeps_its_order_and_allows_spaces() {
        let list =
            Servers::parse("ws://127.0.0.1:9001 , wss://b.example/live,127.0.0.3:9003").unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list.get(0).ws, "ws://127.0.0.1:9001/ws");
        assert_eq!(list.get(1).http, "https://b.example/live");
        assert_eq!(list.get(2).http, "http://127.0.0.3:9003");
        assert_eq!(list.get(4), list.get(1), "indexes wrap around");
        let roots: Vec<&str> = list.http_roots().collect();
        assert_eq!(
            roots,
            [
                "http://127.0.0.1:9001",
                "https://b.example/live",
                "http://127.0.0.3:9003"
            ]
        );
    }

    #[test]
    fn a_bad_entry_is_named_with_its_place() {
        let cases = [
            ("ws://a,", "server address 2 of 2 in 'ws://a,' is empty"),
            (
                "ws://a,,ws://b",
                "server address 2 of 3 in 'ws://a,,ws://b' is empty",
            ),
            (
                "ws://a, ftp://x",
                "server address 2 of 2 in 'ws://a, ftp://x': 'ftp://x': unsupported scheme 'ftp'",
            ),
            (",ws://a", "server address 1 of 2 in ',ws://a' is empty"),
            (
                "ws://a, ws://",
                "server address 2 of 2 in 'ws://a, ws://': 'ws://' has no host",
            ),
        ];
        for (input, start) in cases {
            let e = Servers::parse(input).unwrap_err();
            assert_eq!(e.code, liveroom_proto::code::INVALID_PARAMETER, "{input}");
            assert!(e.message.starts_with(start), "{input}: {}", e.message);
        }
    }
}
