//! URLs that cannot leak their credentials.
//!
//! A URL may carry a user name and password (`https://user:secret@host/`).
//! [`SafeUrl`] keeps the real URL for making requests but shows it with the
//! user information replaced by `****` in every `Display` and `Debug`, so
//! that it can go into messages, logs, lock files and state without a
//! second thought (the idea of uv's `DisplaySafeUrl`). [`redact`] does the
//! same for URLs found in free text.

use std::fmt;

pub use url::{ParseError, Url};

/// A URL whose `Display`/`Debug` never shows user name or password.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafeUrl(Url);

impl SafeUrl {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<SafeUrl, ParseError> {
        Url::parse(text).map(SafeUrl)
    }

    /// The URL, credentials included: only for making the request.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// True when the URL carries a user name or password.
    pub fn has_credentials(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }

    /// The user name and password written in the URL, if any.
    pub fn credentials(&self) -> Option<(String, Option<String>)> {
        self.has_credentials()
            .then(|| (decode(self.0.username()), self.0.password().map(decode)))
    }

    /// The same URL without user name and password.
    pub fn without_credentials(&self) -> SafeUrl {
        let mut u = self.0.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        SafeUrl(u)
    }

    /// Host, if any.
    pub fn host(&self) -> Option<&str> {
        self.0.host_str()
    }

    /// Scheme (`https`, `http`, `file`).
    pub fn scheme(&self) -> &str {
        self.0.scheme()
    }

    /// The URL with `path` appended to its path (one `/` between them).
    pub fn join_path(&self, path: &str) -> SafeUrl {
        let mut u = self.0.clone();
        let base = u.path().trim_end_matches('/').to_owned();
        u.set_path(&format!("{base}/{}", path.trim_start_matches('/')));
        SafeUrl(u)
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl From<Url> for SafeUrl {
    fn from(u: Url) -> Self {
        SafeUrl(u)
    }
}

impl std::str::FromStr for SafeUrl {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SafeUrl::parse(s)
    }
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.has_credentials() {
            let mut u = self.0.clone();
            let _ = u.set_password(None);
            let _ = u.set_username("****");
            f.write_str(u.as_str())
        } else {
            f.write_str(self.0.as_str())
        }
    }
}

impl fmt::Debug for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafeUrl({self})")
    }
}

/// `text` with the user information of every `scheme://user[:pass]@host`
/// replaced by `****` (for messages that embed URLs we did not parse, such
/// as errors of other libraries).
pub fn redact(text: &str) -> String {
    rewrite_userinfo(text, "****@")
}

/// `text` with the user information of every `scheme://user[:pass]@host`
/// removed: for text that is written somewhere (an image's
/// `etc/apk/repositories`, a lock file, a cache key) and must work without
/// the credentials, which come from `HTTP_AUTH` or netrc instead.
pub fn strip_credentials(text: &str) -> String {
    rewrite_userinfo(text, "")
}

fn rewrite_userinfo(text: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(replacement);
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// An error and its causes joined with `: ` (each cause once), with the
/// user information of any URL in it replaced by `****` — for errors of
/// HTTP libraries, whose messages embed the request URL.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_display() {
        let u = SafeUrl::parse("https://alice:s3cr%40t@repo.example/alpine/v3.20").unwrap();
        assert!(u.has_credentials());
        assert_eq!(u.to_string(), "https://****@repo.example/alpine/v3.20");
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(
            u.credentials(),
            Some(("alice".into(), Some("s3cr@t".into())))
        );
        assert_eq!(
            u.without_credentials().to_string(),
            "https://repo.example/alpine/v3.20"
        );
        assert_eq!(
            u.join_path("x86_64/APKINDEX.tar.gz").expose().path(),
            "/alpine/v3.20/x86_64/APKINDEX.tar.gz"
        );
        let token = SafeUrl::parse("https://TOKEN@host/x").unwrap();
        assert_eq!(token.to_string(), "https://****@host/x");
        let plain = SafeUrl::parse("https://host/x").unwrap();
        assert_eq!(plain.to_string(), "https://host/x");
    }

    #[test]
    fn error_chains_are_redacted() {
        let inner = std::io::Error::other("connection refused");
        let outer = Wrapped("request to https://u:pw@h/x failed", inner);
        assert_eq!(
            error_chain(&outer),
            "request to https://****@h/x failed: connection refused"
        );
    }

    #[derive(Debug)]
    struct Wrapped(&'static str, std::io::Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn redacts_urls_in_free_text() {
        assert_eq!(
            redact("error sending request for url (https://u:p@h:8080/a?b) and http://h/x"),
            "error sending request for url (https://****@h:8080/a?b) and http://h/x"
        );
        assert_eq!(redact("no urls"), "no urls");
        assert_eq!(
            strip_credentials("https://u:p@w@h/a\n# http://t@x/y z\n"),
            "https://h/a\n# http://x/y z\n"
        );
    }
}
