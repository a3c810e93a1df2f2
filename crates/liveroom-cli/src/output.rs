//! What the CLI prints, made safe for a terminal.
//!
//! Most of it comes from the server or from other users (messages, nicks, blocked words, error
//! messages): a control character in it could move the cursor, recolour or clear the screen,
//! or forge a line (`\n` then `error 0: ...`), and a bidi control could reorder what is shown.
//! So every such character is escaped: in JSON as `\uXXXX` (the same string to a JSON
//! reader), in plain text as `\n`, `\r`, `\t` or `\u{XXXX}`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

/// Whether `c` must not reach a terminal as it is: control characters (Unicode Cc: C0, DEL,
/// C1), bidi controls, and the line and paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every [`is_unsafe`] character escaped.
pub fn escape_text(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Compact JSON whose strings also escape what serde_json leaves as it is (DEL, C1, bidi
/// controls, U+2028/U+2029; it escapes C0 itself).
struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + Write,
    {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every unsafe character is in the BMP: one \uXXXX each.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `value` as one line of terminal-safe JSON.
pub fn json_line<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut buf = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut buf,
        TerminalSafe,
    ))?;
    // The serializer writes only UTF-8 (the input's strings and ASCII escapes).
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_escapes_controls_and_keeps_the_rest() {
        assert_eq!(escape_text("héllo 中文 🎉"), "héllo 中文 🎉");
        assert!(matches!(escape_text("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_text("a\u{1b}[2J\nerror 0: forged\r\t\u{7f}\u{9b}\u{202e}z"),
            "a\\u{001b}[2J\\nerror 0: forged\\r\\t\\u{007f}\\u{009b}\\u{202e}z"
        );
    }

    #[test]
    fn json_escapes_what_serde_leaves_and_reads_back_the_same() {
        let text = "x\u{1b}[31m\u{7f}\u{85}\u{9b}2J\u{2028}\u{202e}\u{2067}y é";
        let line = json_line(&serde_json::json!({ "text": text })).unwrap();
        assert!(!line.chars().any(is_unsafe), "{line:?}");
        assert!(
            line.contains("\\u001b") && line.contains("\\u009b"),
            "{line}"
        );
        assert!(line.contains(" é"), "other text as it is: {line}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["text"], text);
    }
}
