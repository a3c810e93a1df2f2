//! The process's open-file limit: every connection is a file descriptor, so it bounds how
//! many clients a node can hold, and the server must keep some for its own files.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// What an unlimited limit counts as.
const UNLIMITED: u64 = 1 << 20;

/// The soft limit on open files (what `open` and `accept` fail past).
pub fn soft() -> u64 {
    getrlimit(Resource::Nofile).current.unwrap_or(UNLIMITED)
}

/// Raises the soft limit to the hard one, as servers do at start (the soft default, often
/// 1,024, is a leftover of `select`); returns the limit now in force.
pub fn raise_to_hard() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "cannot raise the open-file limit");
        }
    }
    soft()
}

/// Connections a server takes by default under an open-file limit of `limit`: the limit
/// less a reserve for everything else it opens (SQLite, pictures, Redis, webhooks, the
/// image proxy), a 64th of it and at least 256: 19,688 under 20,000, 768 under 1,024.
pub fn connections_under(limit: u64) -> usize {
    let reserve = (limit / 64).max(256);
    usize::try_from(limit.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_is_kept_for_the_servers_own_files() {
        assert_eq!(connections_under(20_000), 19_688);
        assert_eq!(connections_under(1_024), 768);
        assert_eq!(connections_under(100), 1, "a tiny limit still takes one");
        assert_eq!(connections_under(UNLIMITED), 1_032_192);
    }
}
