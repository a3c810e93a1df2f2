//! Lenient reading of a client frame that does not parse as a whole.
//!
//! A frame can be broken somewhere the caller's `id` is not (a lone surrogate `"\ud800"` in a
//! text, a truncated or misspelled field): the error frame should still carry that `id`, or
//! the caller waiting on it never hears back. [`frame_id`] finds it without parsing the rest.

/// The top-level `"id"` of a frame, when it can be read: the frame starts as a JSON object
/// and, before anything unreadable, has a key spelled exactly `"id"` whose value is a
/// non-negative integer that fits in a `u64` (what [`crate::ClientFrame`] expects). The
/// first such key wins. What follows it is not looked at. Values of other keys are skipped
/// without being checked (strings by their quotes and escapes, objects and arrays by their
/// brackets), so a broken string elsewhere does not hide the `id`.
pub fn frame_id(text: &str) -> Option<u64> {
    let mut s = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    s.space();
    s.expect(b'{')?;
    loop {
        s.space();
        let key = s.string()?;
        s.space();
        s.expect(b':')?;
        s.space();
        if key == b"id" {
            return s.integer();
        }
        s.skip_value()?;
        s.space();
        s.expect(b',')?;
    }
}

/// A cursor over the frame's bytes; every method returns `None` on what it cannot read.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.bump()? == want).then_some(())
    }

    /// Skips JSON whitespace.
    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string's raw bytes between its quotes (escapes left as written, not checked).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.bump()? {
                b'"' => return Some(&self.bytes[start..self.at - 1]),
                b'\\' => {
                    self.bump()?;
                }
                _ => {}
            }
        }
    }

    /// A JSON integer (no sign, fraction or exponent; no leading zero) fitting in a `u64`,
    /// followed by whitespace, `,`, `}` or the end of the frame.
    fn integer(&mut self) -> Option<u64> {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.bytes[start..self.at];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        if !matches!(
            self.peek(),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}')
        ) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    /// Skips one value: a string, an object or array (by bracket depth), or a scalar.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                let start = self.at;
                while !matches!(
                    self.peek(),
                    None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']')
                ) {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::frame_id;

    #[test]
    fn reads_the_id_of_frames_broken_elsewhere() {
        let lone = r#"{"id":7,"op":"send_text","room_id":"r","text":"\ud800"}"#;
        assert!(serde_json::from_str::<serde_json::Value>(lone).is_err());
        assert_eq!(frame_id(lone), Some(7));
        // The id after the broken part: strings are skipped by their quotes and escapes.
        let after = r#"{"op":"send_text","text":"a \"quoted\" \ud800 {[","id":8}"#;
        assert_eq!(frame_id(after), Some(8));
        // Nested values skipped, whitespace anywhere, a truncated tail.
        let nested =
            " {\n \"x\" : {\"a\":[1,{\"b\":\"}\"}]}, \"n\": -1.5e3, \"t\":true,\t\"id\" : 42 ";
        assert_eq!(frame_id(nested), Some(42));
        assert_eq!(frame_id(r#"{"id":9,"op":"#), Some(9));
        assert_eq!(frame_id(r#"{"id":9"#), Some(9));
        assert_eq!(
            frame_id(&format!(r#"{{"id":{}}}"#, u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(frame_id(r#"{"id":0}"#), Some(0));
        assert_eq!(frame_id(r#"{"id":1,"id":2}"#), Some(1), "the first wins");
    }

    #[test]
    fn no_id_when_it_cannot_be_read() {
        for text in [
            "",
            "not json",
            "[7]",
            "7",
            "{}",
            r#"{"op":"ping"}"#,
            r#"{"id":null}"#,
            r#"{"id":"7"}"#,
            r#"{"id":-7}"#,
            r#"{"id":7.5}"#,
            r#"{"id":7e2}"#,
            r#"{"id":07}"#,
            r#"{"id":7x}"#,
            r#"{"id":18446744073709551616}"#,
            r#"{"x":{"id":7}}"#,
            r#"{"x":"\ud800","id""#,
            r#"{"x" "id":7}"#,
            r#"{"x":1 "id":7}"#,
            r#"{"text":"unterminated, "id":7}"#,
            r#"{"i\u0064":7}"#,
        ] {
            assert_eq!(frame_id(text), None, "{text}");
        }
    }
}
