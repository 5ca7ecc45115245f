//! The APK v2 container: files made of gzip members, the first of a signed
//! file holding a `.SIGN.*` entry. Both the index and package readers and
//! writers use this module, so neither depends on the other.
//!
//! Packages and signed indexes are several gzip members glued together.
//! Signatures, identities and `datahash` cover the *raw* (compressed) bytes
//! of single members, so we cannot simply inflate the whole file: [`Tap`]
//! sits between the file and a single-member gzip decoder, counts and hashes
//! exactly the bytes the decoder consumes, and so tells where each member
//! ends and what its raw bytes hash to — in one streaming pass.

use std::io::{self, BufRead, Read, Write};

use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::signature::{self, Digests, SignatureEntry};
use assemble_io::tarball::{self, EntryHeader, EntryKind};

/// Hashes of one member's raw bytes.
#[derive(Default)]
pub struct MemberHashes {
    /// SHA-1, when requested.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256, when requested.
    pub sha256: Option<[u8; 32]>,
    /// Signature digests, when requested.
    pub digests: Option<Digests>,
    /// Raw size in bytes.
    pub len: u64,
}

/// A `BufRead` adapter that hashes and counts consumed bytes.
pub struct Tap<R> {
    inner: R,
    offset: u64,
    member_start: u64,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
    digests: Option<Digests>,
}

impl<R: BufRead> Tap<R> {
    /// Wraps a buffered reader positioned at the start of a file.
    pub fn new(inner: R) -> Self {
        Tap {
            inner,
            offset: 0,
            member_start: 0,
            sha1: None,
            sha256: None,
            digests: None,
        }
    }

    /// Starts hashing a new member with the requested algorithms.
    pub fn begin(&mut self, sha1: bool, sha256: bool, digests: Option<Digests>) {
        self.member_start = self.offset;
        self.sha1 = sha1.then(Sha1::new);
        self.sha256 = sha256.then(Sha256::new);
        self.digests = digests;
    }

    /// Ends the current member and returns its hashes.
    pub fn finish(&mut self) -> MemberHashes {
        MemberHashes {
            sha1: self.sha1.take().map(|h| h.finalize().into()),
            sha256: self.sha256.take().map(|h| h.finalize().into()),
            digests: self.digests.take(),
            len: self.offset - self.member_start,
        }
    }

    /// Bytes consumed so far (the offset in the file).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True when no byte is left.
    pub fn at_eof(&mut self) -> io::Result<bool> {
        Ok(self.inner.fill_buf()?.is_empty())
    }

    /// The next bytes without consuming them.
    pub fn peek(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
}

impl<R: BufRead> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tap<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        // The consumer saw these bytes through `fill_buf`, so they are still
        // buffered and this call does no I/O.
        if let Ok(buf) = self.inner.fill_buf() {
            let seen = &buf[..amt.min(buf.len())];
            if let Some(h) = &mut self.sha1 {
                h.update(seen);
            }
            if let Some(h) = &mut self.sha256 {
                h.update(seen);
            }
            if let Some(d) = &mut self.digests {
                d.update(seen);
            }
        }
        self.offset += amt as u64;
        self.inner.consume(amt);
    }
}

/// A decoder for exactly one gzip member read from a [`Tap`].
pub fn member<R: BufRead>(tap: &mut Tap<R>) -> GzDecoder<&mut Tap<R>> {
    GzDecoder::new(tap)
}

/// Reads whatever is left of a decoder so the member's trailer (CRC, size)
/// is checked and its raw bytes are fully hashed.
pub fn drain(mut reader: impl Read) -> io::Result<u64> {
    io::copy(&mut reader, &mut io::sink())
}

/// What kind of file the first bytes announce.
pub fn check_magic(first: &[u8]) -> Result<(), &'static str> {
    if first.starts_with(b"ADB") {
        Err("this is an APK v3 (ADB) file; only APK v2 (gzip) files are supported")
    } else if first.len() >= 2 && first[..2] == [0x1f, 0x8b] {
        Ok(())
    } else if first.is_empty() {
        Err("the file is empty")
    } else {
        Err("not a gzip stream (APK v2 files start with 1f 8b)")
    }
}

/// Reads a `.SIGN.*` entry into `out` (unsupported types and oversized
/// entries are skipped, as apk-tools does).
pub fn collect_signature<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
    out: &mut Vec<SignatureEntry>,
) -> io::Result<()> {
    let Some((algorithm, key)) = signature::parse_entry_name(name) else {
        return Ok(());
    };
    if entry.size() > signature::MAX_SIGNATURE_SIZE {
        return Ok(());
    }
    let mut sig = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut sig)?;
    out.push(SignatureEntry {
        algorithm,
        key_name: key.to_owned(),
        signature: sig,
    });
    Ok(())
}

/// Error from the writers.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// I/O error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(#[from] rsa::Error),
}

pub(crate) fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(data)?;
    gz.finish()
}

/// A cut tar (no end blocks) of one signature entry, gzipped: the first
/// member of every signed APK v2 file.
pub fn signature_member(entry: &SignatureEntry, mtime: u64) -> io::Result<Vec<u8>> {
    let mut tar = Vec::new();
    let path = format!(".SIGN.{}.{}", entry.algorithm.type_name(), entry.key_name);
    let header = EntryHeader::new(&path, EntryKind::File, 0o644, mtime);
    tarball::write_file(&mut tar, &header, &entry.signature)?;
    gzip(&tar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::BufReader;

    fn member_ends(path: &str) -> Vec<u64> {
        let p = testkit::corpus(path);
        let mut tap = Tap::new(BufReader::new(File::open(p).unwrap()));
        let mut ends = Vec::new();
        while !tap.at_eof().unwrap() {
            tap.begin(false, false, None);
            drain(member(&mut tap)).unwrap();
            ends.push(tap.offset());
        }
        ends
    }

    #[test]
    fn member_boundaries_match_the_measured_offsets() {
        assert_eq!(
            member_ends("apk/packages/alpine-baselayout-3.2.0-r23.aarch64.apk"),
            [666, 2229, 11012]
        );
        assert_eq!(
            member_ends("apk/wolfi/hello-wolfi-2.12.1-r0.apk"),
            [654, 1013, 72791]
        );
        assert_eq!(member_ends("apk/misc/hello-0.1.0-r0.apk"), [274, 499]);
        assert_eq!(
            member_ends("apk/alpine-v3.16-main-x86_64/APKINDEX.tar.gz"),
            [667, 655754]
        );
    }

    #[test]
    fn magic() {
        assert!(check_magic(b"ADB.").unwrap_err().contains("v3"));
        assert!(check_magic(&[0x1f, 0x8b, 8]).is_ok());
        assert!(check_magic(b"PK").is_err());
    }
}
