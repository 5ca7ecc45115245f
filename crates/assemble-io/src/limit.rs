//! Bounds on what we read. Every stream that comes from outside (a download,
//! an inflated index, a layer) has a size limit; going past it is an error,
//! never a silent truncation.

use std::io::{self, BufRead, Read};

/// A reader that fails with [`io::ErrorKind::FileTooLarge`]-style error
/// (kind `Other`, message naming `what` and the limit) once more than
/// `limit` bytes would be read from `inner`.
#[derive(Debug)]
pub struct Limited<R> {
    inner: R,
    remaining: u64,
    limit: u64,
    what: &'static str,
}

impl<R> Limited<R> {
    /// Wraps `inner`, allowing at most `limit` bytes of `what`.
    pub fn new(inner: R, limit: u64, what: &'static str) -> Self {
        Limited {
            inner,
            remaining: limit,
            limit,
            what,
        }
    }

    /// Bytes read so far.
    pub fn read_so_far(&self) -> u64 {
        self.limit - self.remaining
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The wrapped reader, by reference.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// The error [`Limited`] returns; recognise it with [`is_limit_error`].
pub fn limit_error(what: &str, limit: u64) -> io::Error {
    io::Error::other(LimitExceeded {
        what: what.to_owned(),
        limit,
    })
}

/// True when `e` was produced by a [`Limited`] reader.
pub fn is_limit_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<LimitExceeded>())
}

/// A size limit was exceeded.
#[derive(Debug)]
pub struct LimitExceeded {
    /// What was being read.
    pub what: String,
    /// The limit in bytes.
    pub limit: u64,
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is larger than the limit of {}",
            self.what,
            human_size(self.limit)
        )
    }
}

impl std::error::Error for LimitExceeded {}

/// `1.5 GiB`, `512 KiB`, `17 B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            // One byte more tells a stream of exactly `limit` bytes from a
            // longer one.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(limit_error(self.what, self.limit)),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Limited<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let remaining = self.remaining;
        let (what, limit) = (self.what, self.limit);
        let buf = self.inner.fill_buf()?;
        if remaining == 0 && !buf.is_empty() {
            return Err(limit_error(what, limit));
        }
        let n = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        Ok(&buf[..n])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        self.remaining -= amt as u64;
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_limit_passes_one_more_byte_fails() {
        let mut out = Vec::new();
        Limited::new(&[1u8; 10][..], 10, "x")
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 10);
        let e = Limited::new(&[1u8; 11][..], 10, "the index")
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(is_limit_error(&e));
        assert_eq!(e.to_string(), "the index is larger than the limit of 10 B");
        let e = io::copy(
            &mut Limited::new(io::BufReader::new(&[0u8; 5000][..]), 4096, "y"),
            &mut io::sink(),
        )
        .unwrap_err();
        assert!(is_limit_error(&e), "{e}");
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
