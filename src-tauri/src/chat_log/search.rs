//! Searching one room's logs: the query (`from:USER`, `has:image`, `is:gift`, plain words,
//! `"quoted phrases"`) and a bounded scan of the room's JSON lines, newest first.
//!
//! The scan reads files backwards in chunks, so memory stays at a chunk and one line whatever
//! the files' size; it stops at `limit` results, [`MAX_FILES`] files or [`MAX_SCAN_BYTES`]
//! bytes, and says so (`complete: false`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

use super::record::{jsonl_date, Kind, Record};

/// Results of one search at most (the command's `limit` is clamped to it).
pub const MAX_RESULTS: usize = 500;
/// Day files read by one search at most (two months of a room's days).
pub const MAX_FILES: usize = 62;
/// Bytes read by one search at most.
pub const MAX_SCAN_BYTES: u64 = 32 * 1024 * 1024;
/// Bytes read at a time, from the end of a file.
const CHUNK: usize = 64 * 1024;
/// A longer line is skipped (no message is near this; it cannot be one of ours).
const MAX_LINE: usize = 1024 * 1024;

/// A parsed query: every part must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Lowercased words or phrases, each in the text, the gift or the nick.
    pub words: Vec<String>,
    /// Lowercased `from:` values: the sender's userID or nick is one of them.
    pub from: Vec<String>,
    /// `has:image` (also `has:picture`).
    pub has_image: bool,
    /// `is:gift`.
    pub is_gift: bool,
}

impl Query {
    /// Parses `from:USER`, `from:"Two Words"`, `has:image`, `is:gift`, words and `"phrases"`.
    /// Any other `x:y` is a plain word.
    pub fn parse(text: &str) -> Query {
        let mut q = Query::default();
        for token in tokens(text) {
            let lower = token.to_lowercase();
            if let Some(who) = lower.strip_prefix("from:") {
                if !who.is_empty() {
                    q.from.push(who.to_owned());
                }
                continue;
            }
            match lower.as_str() {
                "has:image" | "has:picture" | "has:pic" => q.has_image = true,
                "is:gift" => q.is_gift = true,
                _ => q.words.push(lower),
            }
        }
        q
    }

    /// Whether the query asks for anything (an empty one matches nothing).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.from.is_empty() && !self.has_image && !self.is_gift
    }

    /// Whether `r` is a result. Only what people post is searched (texts, pictures, gifts,
    /// custom messages), as the chat shows it: not likes, joins, leaves, notices or the end.
    pub fn matches(&self, r: &Record) -> bool {
        let searched = match r.kind {
            Kind::Text | Kind::Picture | Kind::Gift | Kind::Custom => true,
            Kind::Like | Kind::Join | Kind::Leave | Kind::Notice | Kind::End => false,
        };
        if !searched || self.is_empty() {
            return false;
        }
        if self.has_image && r.kind != Kind::Picture {
            return false;
        }
        if self.is_gift && r.kind != Kind::Gift {
            return false;
        }
        if !self.from.is_empty() {
            let (from, nick) = (r.from.to_lowercase(), r.nick.to_lowercase());
            if !self.from.iter().any(|f| *f == from || *f == nick) {
                return false;
            }
        }
        if self.words.is_empty() {
            return true;
        }
        let hay = [r.text.as_deref(), r.gift.as_deref(), Some(r.nick.as_str())]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n")
            .to_lowercase();
        self.words.iter().all(|w| hay.contains(w.as_str()))
    }
}

/// Splits on whitespace; `"..."` (also after `from:`) is one token without its quotes.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One search's answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    /// Matching records, newest first.
    pub results: Vec<Record>,
    /// Day files read (wholly or in part).
    pub files: usize,
    /// Bytes read.
    pub bytes: u64,
    /// False when a bound (results, files, bytes) ended the scan before the oldest file.
    pub complete: bool,
}

/// Searches the room folder `dir`'s JSON lines, newest day first, newest line first.
pub fn search(dir: &Path, query: &Query, limit: usize) -> std::io::Result<Found> {
    search_bounded(dir, query, limit, MAX_FILES, MAX_SCAN_BYTES)
}

/// [`search`] with its bounds given (the tests use small ones).
pub fn search_bounded(
    dir: &Path,
    query: &Query,
    limit: usize,
    max_files: usize,
    max_bytes: u64,
) -> std::io::Result<Found> {
    let limit = limit.clamp(1, MAX_RESULTS);
    let mut found = Found {
        complete: true,
        ..Found::default()
    };
    if query.is_empty() {
        return Ok(found);
    }
    let mut days = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                jsonl_date(name.to_str()?).map(|d| (d, e.path()))
            })
            .collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    days.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (i, (_, path)) in days.iter().enumerate() {
        if i >= max_files || found.bytes >= max_bytes || found.results.len() >= limit {
            found.complete = false;
            break;
        }
        found.files += 1;
        let budget = max_bytes - found.bytes;
        let (read, whole) = lines_backwards(path, budget, |line| {
            if let Ok(r) = serde_json::from_slice::<Record>(line) {
                if query.matches(&r) {
                    found.results.push(r);
                }
            }
            found.results.len() < limit
        })?;
        found.bytes += read;
        if !whole {
            found.complete = false;
            break;
        }
    }
    Ok(found)
}

/// Calls `f` with each line of `path` from the last to the first, reading at most `budget`
/// bytes, until `f` says stop. Returns the bytes read and whether every line was seen.
pub(super) fn lines_backwards(
    path: &Path,
    budget: u64,
    mut f: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<(u64, bool)> {
    let mut file = File::open(path)?;
    let mut pos = file.metadata()?.len();
    let mut read = 0u64;
    // The bytes after `pos` not yet given to `f`: the end of a line that starts earlier.
    let mut tail: Vec<u8> = Vec::new();
    // The line at the end of the next chunk is too long: skip it.
    let mut overlong = false;
    while pos > 0 {
        if read >= budget {
            return Ok((read, false));
        }
        let n = (CHUNK as u64).min(pos).min(budget - read) as usize;
        pos -= n as u64;
        let mut buf = vec![0u8; n];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf)?;
        read += n as u64;
        let mut end = if overlong {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => {
                    overlong = false;
                    i
                }
                None => continue,
            }
        } else {
            buf.extend_from_slice(&tail);
            buf.len()
        };
        while let Some(i) = buf[..end].iter().rposition(|&b| b == b'\n') {
            let line = &buf[i + 1..end];
            if !line.is_empty() && line.len() <= MAX_LINE && !f(line) {
                return Ok((read, false));
            }
            end = i;
        }
        tail.clear();
        if end > MAX_LINE {
            overlong = true;
        } else {
            tail.extend_from_slice(&buf[..end]);
        }
    }
    if !tail.is_empty() && tail.len() <= MAX_LINE && !f(&tail) {
        return Ok((read, false));
    }
    Ok((read, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(kind: Kind, id: &str, from: &str, nick: &str) -> Record {
        Record {
            time: "2026-12-01T20:15:03+08:00".into(),
            unix: 0,
            server: "s".into(),
            room: "r".into(),
            sequence: 1,
            id: id.into(),
            kind,
            msg_type: String::new(),
            from: from.into(),
            nick: nick.into(),
            text: None,
            gift: None,
            count: None,
            picture: None,
            width: None,
            height: None,
            data: None,
            description: None,
            extension: None,
            users: None,
        }
    }

    fn text(id: &str, from: &str, nick: &str, t: &str) -> Record {
        let mut r = record(Kind::Text, id, from, nick);
        r.text = Some(t.into());
        r
    }

    #[test]
    fn the_query_parser_reads_filters_words_and_quotes() {
        let q =
            Query::parse(r#"  from:Ann  has:image is:GIFT Hello "two words" from:"Host Ann" x:y "#);
        assert_eq!(q.from, vec!["ann", "host ann"]);
        assert!(q.has_image && q.is_gift);
        assert_eq!(q.words, vec!["hello", "two words", "x:y"]);
        assert!(Query::parse("   ").is_empty());
        assert!(
            Query::parse("from:").is_empty(),
            "an empty from: asks nothing"
        );
        assert!(Query::parse("has:picture").has_image);
        assert_eq!(Query::parse("has:video").words, vec!["has:video"]);
    }

    #[test]
    fn a_query_matches_when_every_part_holds() {
        let hello = text("1", "ann", "Ann 安", "Hello World");
        let mut gift = record(Kind::Gift, "2", "bob", "Bobby");
        gift.gift = Some("rocket".into());
        let pic = record(Kind::Picture, "3", "ann", "Ann 安");
        assert!(Query::parse("hello").matches(&hello));
        assert!(Query::parse("WORLD hello").matches(&hello));
        assert!(
            !Query::parse("hello moon").matches(&hello),
            "all words must appear"
        );
        assert!(Query::parse("安").matches(&hello), "the nick counts");
        assert!(Query::parse("from:ANN").matches(&hello));
        assert!(Query::parse("from:\"ann 安\"").matches(&hello), "by nick");
        assert!(
            !Query::parse("from:an").matches(&hello),
            "from: is the whole userID or nick"
        );
        assert!(Query::parse("is:gift").matches(&gift) && !Query::parse("is:gift").matches(&hello));
        assert!(
            Query::parse("rocket").matches(&gift),
            "the gift's name counts"
        );
        assert!(Query::parse("is:gift from:bobby rocket").matches(&gift));
        assert!(!Query::parse("is:gift from:ann").matches(&gift));
        assert!(Query::parse("has:image from:ann").matches(&pic));
        assert!(!Query::parse("has:image").matches(&hello));
        assert!(
            !Query::parse("").matches(&hello),
            "an empty query finds nothing"
        );
        let like = record(Kind::Like, "4", "ann", "Ann 安");
        assert!(
            !Query::parse("from:ann").matches(&like),
            "likes are not searched"
        );
    }

    fn write_day(dir: &Path, day: &str, records: &[Record]) {
        let mut f = File::create(dir.join(format!("{day}.jsonl"))).unwrap();
        for r in records {
            writeln!(f, "{}", serde_json::to_string(r).unwrap()).unwrap();
        }
    }

    #[test]
    fn search_reads_newest_first_and_stops_at_its_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        write_day(p, "2026-11-29", &[text("a1", "ann", "", "old hello")]);
        write_day(
            p,
            "2026-11-30",
            &(0..100)
                .map(|i| text(&format!("b{i}"), "bob", "", &format!("hello {i}")))
                .collect::<Vec<_>>(),
        );
        write_day(
            p,
            "2026-12-01",
            &[
                text("c1", "ann", "", "hello today"),
                text("c2", "ann", "", "bye"),
            ],
        );
        std::fs::write(p.join("notes.jsonl"), "not a day file\n").unwrap();
        std::fs::write(p.join("2026-12-01.log"), "[00:00:00] hello\n").unwrap();

        let all = search(p, &Query::parse("hello"), 500).unwrap();
        let ids: Vec<_> = all.results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 102);
        assert_eq!(
            &ids[..3],
            ["c1", "b99", "b98"],
            "newest day, then newest line first"
        );
        assert_eq!(ids[101], "a1");
        assert!(all.complete && all.files == 3);

        let few = search(p, &Query::parse("hello"), 5).unwrap();
        assert_eq!(few.results.len(), 5);
        assert!(!few.complete, "the limit ended it");
        assert_eq!(
            search(p, &Query::parse("hello"), 100_000)
                .unwrap()
                .results
                .len(),
            102,
            "limit ≤ 500"
        );

        let two_files = search_bounded(p, &Query::parse("old"), 500, 2, MAX_SCAN_BYTES).unwrap();
        assert!(two_files.results.is_empty() && !two_files.complete && two_files.files == 2);

        let size = std::fs::metadata(p.join("2026-12-01.jsonl")).unwrap().len();
        let bytes = search_bounded(p, &Query::parse("hello"), 500, 10, size + 10).unwrap();
        assert!(bytes.bytes <= size + 10 && !bytes.complete, "{bytes:?}");
        assert_eq!(bytes.results[0].id, "c1");

        let none = search(&p.join("no-such-room"), &Query::parse("hello"), 10).unwrap();
        assert!(none.results.is_empty() && none.complete);
    }

    #[test]
    fn backwards_reading_sees_every_line_across_chunks_and_skips_overlong_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut content = String::new();
        let mut want = Vec::new();
        for i in 0..5000 {
            let line = format!("line {i} {}", "x".repeat(i % 97));
            content.push_str(&line);
            content.push('\n');
            want.push(line);
            if i == 2500 {
                content.push_str(&"y".repeat(MAX_LINE + 10));
                content.push('\n');
            }
        }
        content.push_str("last without newline");
        want.push("last without newline".into());
        std::fs::write(&path, &content).unwrap();
        let mut got = Vec::new();
        let (read, whole) = lines_backwards(&path, u64::MAX, |l| {
            got.push(String::from_utf8(l.to_vec()).unwrap());
            true
        })
        .unwrap();
        got.reverse();
        assert!(whole);
        assert_eq!(read, content.len() as u64);
        let first_diff = got.iter().zip(&want).position(|(g, w)| g != w);
        let around = first_diff.map(|i| {
            (
                &got[i.saturating_sub(1)..(i + 2).min(got.len())],
                &want[i.saturating_sub(1)..(i + 2).min(want.len())],
            )
        });
        assert_eq!(
            first_diff, None,
            "every line once, in order; the overlong one skipped: {around:?}"
        );
        assert_eq!(got.len(), want.len());
    }
}
