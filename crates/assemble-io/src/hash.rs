//! Hashing while streaming: [`Hashing`] wraps a reader or a writer and
//! hashes (with any RustCrypto [`Digest`]) and counts exactly the bytes
//! that pass through it — the one tool behind blob digests, diff_ids,
//! `datahash` and per-file checksums.

use std::io;

use sha2::digest::{Digest, Output};
use sha2::Sha256;

/// A reader or writer that hashes and counts what passes through it.
pub struct Hashing<T, D = Sha256> {
    inner: T,
    hasher: D,
    len: u64,
}

/// A SHA-256 counting writer.
pub type Sha256Writer<W> = Hashing<W, Sha256>;

impl<T, D: Digest> Hashing<T, D> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Hashing {
            inner,
            hasher: D::new(),
            len: 0,
        }
    }

    /// Bytes passed through so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing passed through yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest and byte count so far, and the inner reader or writer.
    pub fn finish(self) -> (Output<D>, u64, T) {
        (self.hasher.finalize(), self.len, self.inner)
    }

    /// The inner reader or writer, the hasher and the byte count.
    pub fn into_parts(self) -> (T, D, u64) {
        (self.inner, self.hasher, self.len)
    }
}

impl<R: io::Read, D: Digest> io::Read for Hashing<R, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

impl<W: io::Write, D: Digest> io::Write for Hashing<W, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn reading_and_writing_hash_the_same_bytes() {
        let data = b"hello, layers";
        let mut r: Hashing<&[u8]> = Hashing::new(&data[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        let (read_hash, n, _) = r.finish();
        assert_eq!(n, data.len() as u64);
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(data).unwrap();
        let (write_hash, _, bytes) = w.finish();
        assert_eq!(read_hash, write_hash);
        assert_eq!(read_hash, Sha256::digest(data));
        assert_eq!(bytes, data);
    }
}
