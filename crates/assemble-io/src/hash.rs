//! Hashing while streaming: digests of exactly the bytes that pass through.

use std::io;

use sha2::{Digest, Sha256};

/// A writer that counts and SHA-256-hashes what passes through it.
pub struct Sha256Writer<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: io::Write> Sha256Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Sha256Writer {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }

    /// The digest and byte count so far, and the inner writer.
    pub fn finish(self) -> ([u8; 32], u64, W) {
        (self.hash.finalize().into(), self.len, self.inner)
    }
}

impl<W: io::Write> io::Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
