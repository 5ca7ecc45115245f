//! Text from untrusted sources (index fields, package names, paths inside
//! packages, server responses) is escaped before it can reach a terminal:
//! a hostile index must not be able to move the cursor, recolour the
//! screen or hide a line with ESC sequences or carriage returns.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// `text` with every control character (C0, DEL, C1) and the Unicode
/// bidirectional overrides written as `\u{..}` escapes (`\n` and `\t`
/// included: one untrusted value never spans two lines). Text without any is
/// returned as is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes that should be text (a path, a name) but may be anything: invalid
/// UTF-8 is shown as `\x..` escapes, control characters as in [`escape`].
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// A `Display` wrapper that escapes its text (for use in `format!` and
/// error messages: `{}` of `Escaped(name)`).
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_made_visible() {
        assert_eq!(escape("curl"), "curl");
        assert!(matches!(escape("plain text é"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("line\r\nnext"), "line\\u{d}\\u{a}next");
        assert_eq!(escape("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(escape("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(escape_bytes(b"ok\xff\x1b"), "ok\\xff\\u{1b}");
        assert_eq!(Escaped("\x07bell").to_string(), "\\u{7}bell");
    }
}
