//! The limits and deadlines a user may change, each read from one
//! environment variable with a generous default. Everything we download or
//! inflate is bounded by one of them, so a hostile server or package can cost
//! at most this much disk, memory or time.
//!
//! | variable | bounds | default |
//! |---|---|---|
//! | `CARGO_ASSEMBLE_HTTP_TIMEOUT` | seconds for one whole download, retries included | 300 |
//! | `CARGO_ASSEMBLE_MAX_INDEX_SIZE` | bytes of one `APKINDEX.tar.gz`, and of its inflated text | 256 MiB |
//! | `CARGO_ASSEMBLE_MAX_PACKAGE_SIZE` | inflated bytes of one package's files (and its download when the index gives no size) | 8 GiB |
//! | `CARGO_ASSEMBLE_MAX_LAYER_SIZE` | inflated bytes of one source-image layer | 64 GiB |
//!
//! Sizes are bytes, or a number with `K`, `M`, `G` or `T` (powers of 1024).
//! [`check_all`] reports a malformed value; the getters fall back to the
//! default for one (callers run [`check_all`] first, where the error can be
//! shown).

use std::time::Duration;

/// One setting: its variable and default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// The environment variable.
    pub var: &'static str,
    /// The default value (bytes, or seconds for timeouts).
    pub default: u64,
    /// Seconds rather than bytes.
    seconds: bool,
}

/// Overall deadline of one download (all attempts).
pub const HTTP_TIMEOUT: Bound = Bound {
    var: "CARGO_ASSEMBLE_HTTP_TIMEOUT",
    default: 300,
    seconds: true,
};

/// Largest `APKINDEX.tar.gz` we download or read, and largest text it may
/// inflate to.
pub const MAX_INDEX_SIZE: Bound = Bound {
    var: "CARGO_ASSEMBLE_MAX_INDEX_SIZE",
    default: 256 << 20,
    seconds: false,
};

/// Largest inflated data stream of a package (and download of a package
/// whose index record has no size).
pub const MAX_PACKAGE_SIZE: Bound = Bound {
    var: "CARGO_ASSEMBLE_MAX_PACKAGE_SIZE",
    default: 8 << 30,
    seconds: false,
};

/// Largest inflated layer of a source image.
pub const MAX_LAYER_SIZE: Bound = Bound {
    var: "CARGO_ASSEMBLE_MAX_LAYER_SIZE",
    default: 64 << 30,
    seconds: false,
};

/// Every setting, for [`check_all`] and documentation.
pub const ALL: [Bound; 4] = [
    HTTP_TIMEOUT,
    MAX_INDEX_SIZE,
    MAX_PACKAGE_SIZE,
    MAX_LAYER_SIZE,
];

/// A setting whose value cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={} is not {}", crate::escape::escape(value), if *seconds { "a whole number of seconds (e.g. 120)" } else { "a size: bytes, or a number with K, M, G or T (e.g. 512M)" })]
pub struct InvalidBound {
    /// The variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    seconds: bool,
}

impl Bound {
    /// The value set in the environment, or the default; a malformed value
    /// is an error.
    pub fn try_get(&self) -> Result<u64, InvalidBound> {
        match std::env::var(self.var) {
            Ok(v) if !v.trim().is_empty() => self.parse(&v).ok_or(InvalidBound {
                var: self.var,
                value: v,
                seconds: self.seconds,
            }),
            _ => Ok(self.default),
        }
    }

    /// The value, or the default when unset or malformed.
    pub fn get(&self) -> u64 {
        self.try_get().unwrap_or(self.default)
    }

    /// The value as a duration (for timeouts).
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.get())
    }

    fn parse(&self, text: &str) -> Option<u64> {
        let t = text.trim();
        if self.seconds {
            return t.parse().ok().filter(|&s| s > 0);
        }
        let (digits, shift) = match t.char_indices().last()? {
            (i, 'k' | 'K') => (&t[..i], 10),
            (i, 'm' | 'M') => (&t[..i], 20),
            (i, 'g' | 'G') => (&t[..i], 30),
            (i, 't' | 'T') => (&t[..i], 40),
            _ => (t, 0),
        };
        let n: u64 = digits.trim().parse().ok()?;
        n.checked_mul(1 << shift).filter(|&v| v > 0)
    }
}

/// Checks every setting's value.
pub fn check_all() -> Result<(), InvalidBound> {
    ALL.iter().try_for_each(|b| b.try_get().map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_seconds_parse() {
        let size = MAX_PACKAGE_SIZE;
        assert_eq!(size.parse("512"), Some(512));
        assert_eq!(size.parse("512M"), Some(512 << 20));
        assert_eq!(size.parse(" 2g "), Some(2 << 30));
        assert_eq!(size.parse("1T"), Some(1 << 40));
        assert_eq!(size.parse("x"), None);
        assert_eq!(size.parse("0"), None);
        assert_eq!(size.parse("99999999999999T"), None);
        assert_eq!(HTTP_TIMEOUT.parse("30"), Some(30));
        assert_eq!(HTTP_TIMEOUT.parse("30M"), None);
        let e = InvalidBound {
            var: "V",
            value: "\x1b[2J".into(),
            seconds: false,
        };
        assert!(
            e.to_string().starts_with("V=\\u{1b}[2J is not a size"),
            "{e}"
        );
    }
}
