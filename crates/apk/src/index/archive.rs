//! `APKINDEX.tar.gz`: an optional signature member followed by a member
//! holding the `APKINDEX` text and a `DESCRIPTION`.
//!
//! Trust comes before work: the signature member is read (bounded to
//! [`MAX_SIGNATURE_MEMBER`] inflated bytes), the rest of the file's raw bytes
//! are hashed and the signature checked, and only then is the body inflated,
//! itself bounded ([`max_index_size`]). An unsigned or
//! untrusted index is refused after inflating one tar header, whatever its
//! body would inflate to.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;
use sha2::{Digest, Sha256};

use crate::package::PackageInfo;
use crate::signature::{Digests, Keyring, SignatureError, SigningKey};
pub use crate::stream::WriteError;
use crate::stream::{self, collect_signature, gzip, signature_member};
use assemble_io::bounds;
use assemble_io::limit::{is_limit_error, limit_error, Limited};
use assemble_io::tarball::{self, EntryHeader, EntryKind};

/// Bound on the inflated signature member (a few signatures of at most
/// 64 KiB each, as apk-tools accepts).
pub const MAX_SIGNATURE_MEMBER: u64 = 1 << 20;

/// Bytes of `DESCRIPTION` kept (the rest is skipped).
const MAX_DESCRIPTION: u64 = 4096;

/// The bound in effect on an index file and on its inflated body:
/// `CARGO_ASSEMBLE_MAX_INDEX_SIZE` (see [`bounds::MAX_INDEX_SIZE`]).
pub fn max_index_size() -> u64 {
    bounds::MAX_INDEX_SIZE.get()
}

/// Whether unsigned or unverifiable indexes are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// A signature by a key in the keyring must verify.
    Verify,
    /// Accept anything (`--allow-untrusted`).
    AllowUntrusted,
}

/// The contents of an `APKINDEX.tar.gz`.
#[derive(Clone, Debug)]
pub struct IndexArchive {
    /// The `APKINDEX` text.
    pub text: String,
    /// The `DESCRIPTION` text (empty when absent).
    pub description: String,
    /// The key whose signature verified; `None` when not checked.
    pub signer: Option<String>,
    /// Whether the text was not valid UTF-8 and was repaired lossily.
    pub lossy: bool,
}

/// Why an index archive cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IndexArchiveError {
    /// I/O error on the file.
    #[error("{file}: {error}")]
    Io {
        /// The file.
        file: PathBuf,
        /// Cause.
        error: io::Error,
    },
    /// Not a gzip/tar index, truncated or corrupt.
    #[error("{file}: {message}")]
    Format {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Signature check failed.
    #[error("{file}: {error}")]
    Signature {
        /// The file.
        file: PathBuf,
        /// Cause.
        error: SignatureError,
    },
}

pub(crate) fn format_err(file: &Path, message: impl Into<String>) -> IndexArchiveError {
    IndexArchiveError::Format {
        file: file.to_owned(),
        message: message.into(),
    }
}

/// Describes an I/O error met while inflating or untarring a member.
fn corrupt(file: &Path, what: &str, e: io::Error) -> IndexArchiveError {
    let message = if is_limit_error(&e) {
        format!(
            "{e}; if this index is genuine, raise the limit with {} (bytes, or with a K/M/G/T suffix)",
            bounds::MAX_INDEX_SIZE.var
        )
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("{what} is truncated (the file ends early)")
    } else {
        format!("{what} is corrupt: {e}")
    };
    format_err(file, message)
}

/// Reads and, unless `trust` allows otherwise, verifies an index file,
/// bounded by [`max_index_size`].
pub fn read_file(
    path: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<IndexArchive, IndexArchiveError> {
    read_file_with(path, keyring, trust, max_index_size())
}

/// Like [`read_file`] with an explicit bound on the inflated size (the
/// compressed file may not be larger either).
pub fn read_file_with(
    path: &Path,
    keyring: &Keyring,
    trust: Trust,
    max_size: u64,
) -> Result<IndexArchive, IndexArchiveError> {
    let data = read_bounded(path, path, max_size)?;
    read_with(&data, path, keyring, trust, max_size)
}

/// The whole file, refusing one larger than `max_size`.
/// Messages name the file `name` (a download's URL rather than its
/// temporary or cache path).
pub(crate) fn read_bounded(
    path: &Path,
    name: &Path,
    max_size: u64,
) -> Result<FileBytes, IndexArchiveError> {
    let io_err = |error| IndexArchiveError::Io {
        file: name.to_owned(),
        error,
    };
    let mut f = File::open(path).map_err(io_err)?;
    let len = f.metadata().map_err(io_err)?.len();
    if len > max_size {
        let e = limit_error("the index file", max_size);
        return Err(corrupt(name, "the index", e));
    }
    // Large files go to memory the kernel hands over in one go (instead
    // of one page fault per 4 KiB as a fresh heap buffer is written).
    if len >= 64 * 1024 {
        if let Ok(mut map) = memmap2::MmapOptions::new()
            .len(len as usize)
            .populate()
            .map_anon()
        {
            f.read_exact(&mut map)
                .map_err(|e| corrupt(name, "the index", e))?;
            return Ok(FileBytes::Mapped(map));
        }
    }
    let mut data = Vec::with_capacity(len as usize);
    Limited::new(f, max_size, "the index file")
        .read_to_end(&mut data)
        .map_err(|e| corrupt(name, "the index", e))?;
    Ok(FileBytes::Heap(data))
}

/// A file's bytes in memory.
pub(crate) enum FileBytes {
    Heap(Vec<u8>),
    Mapped(memmap2::MmapMut),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Heap(v) => v,
            FileBytes::Mapped(m) => m,
        }
    }
}

/// Reads an index held in memory; `file` names it in errors.
pub fn read(
    data: &[u8],
    file: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<IndexArchive, IndexArchiveError> {
    read_with(data, file, keyring, trust, max_index_size())
}

/// Like [`read`] with an explicit bound on the inflated size.
pub fn read_with(
    data: &[u8],
    file: &Path,
    keyring: &Keyring,
    trust: Trust,
    max_size: u64,
) -> Result<IndexArchive, IndexArchiveError> {
    let verified = verify(data, file, keyring, trust)?;
    inflate(&verified, file, max_size)
}

/// An index file whose signature was checked (or did not need to be):
/// the raw body member and who signed it.
pub(crate) struct Verified<'d> {
    pub body: &'d [u8],
    pub signer: Option<String>,
}

/// The first step of reading: the signature member (bounded), then,
/// unless `trust` allows otherwise, the signature over the raw bytes after
/// it. Nothing of the body is inflated.
pub(crate) fn verify<'d>(
    data: &'d [u8],
    file: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<Verified<'d>, IndexArchiveError> {
    let signed = hash_signed(data, file)?;
    check_signed(data, signed, file, keyring, trust)
}

/// What [`verify`] computes before it needs the keyring: the signature
/// entries and the digests of the bytes they sign. Computed on its own so
/// that it can run while the keys load.
pub(crate) struct Signed {
    /// The signature entries and the digests they need of the raw bytes
    /// after their member; `None` for an unsigned index (its first member
    /// is the body).
    signatures: Option<(Vec<crate::signature::SignatureEntry>, Digests)>,
    /// Where the body member starts.
    body_start: usize,
}

/// The keyless half of [`verify`]: reads the signature member of `data`
/// and hashes every raw byte after it.
pub(crate) fn hash_signed(data: &[u8], file: &Path) -> Result<Signed, IndexArchiveError> {
    stream::check_magic(data).map_err(|m| format_err(file, m))?;
    let (signatures, rest) = read_signatures(data, file)?;
    let signatures = signatures.map(|entries| {
        let mut digests = Digests::for_entries(&entries);
        digests.update(rest);
        (entries, digests)
    });
    Ok(Signed {
        signatures,
        body_start: data.len() - rest.len(),
    })
}

/// The keyed half of [`verify`]: checks what [`hash_signed`] found of
/// `data` against `keyring`, as `trust` asks.
pub(crate) fn check_signed<'d>(
    data: &'d [u8],
    signed: Signed,
    file: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<Verified<'d>, IndexArchiveError> {
    let Some((signatures, digests)) = signed.signatures else {
        // Unsigned: the first member is the body.
        if trust == Trust::Verify {
            return Err(IndexArchiveError::Signature {
                file: file.to_owned(),
                error: SignatureError::Unsigned,
            });
        }
        return Ok(Verified {
            body: data,
            signer: None,
        });
    };
    let rest = &data[signed.body_start.min(data.len())..];
    let signer = match trust {
        Trust::AllowUntrusted => None,
        Trust::Verify => {
            // The signature covers every raw byte after its member.
            let signer = keyring.verify(&signatures, digests).map_err(|error| {
                IndexArchiveError::Signature {
                    file: file.to_owned(),
                    error,
                }
            })?;
            Some(signer)
        }
    };
    Ok(Verified { body: rest, signer })
}

/// The second step: inflates the body member (bounded by `max_size`).
pub(crate) fn inflate(
    verified: &Verified<'_>,
    file: &Path,
    max_size: u64,
) -> Result<IndexArchive, IndexArchiveError> {
    let (body, leftover) = read_body(verified.body, file, max_size, None)?;
    if !leftover.is_empty() {
        return Err(format_err(file, "unexpected data after the index member"));
    }
    let Some(raw) = body.index else {
        return Err(format_err(file, "the archive has no APKINDEX entry"));
    };
    let (text, lossy) = match String::from_utf8(raw) {
        Ok(t) => (t, false),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    };
    Ok(IndexArchive {
        text,
        description: body.description.unwrap_or_default(),
        signer: verified.signer.clone(),
        lossy,
    })
}

/// Like [`inflate`], but the `APKINDEX` entry's bytes go to `sink` (with
/// the entry's size) as they are inflated instead of into memory; returns
/// the `DESCRIPTION`. Fails where [`inflate`] fails, and when `sink` does.
pub(crate) fn inflate_into(
    verified: &Verified<'_>,
    file: &Path,
    max_size: u64,
    sink: &IndexSink<'_>,
) -> Result<String, IndexArchiveError> {
    let (body, leftover) = read_body(verified.body, file, max_size, Some(sink))?;
    if !leftover.is_empty() {
        return Err(format_err(file, "unexpected data after the index member"));
    }
    if !body.streamed {
        return Err(format_err(file, "the archive has no APKINDEX entry"));
    }
    Ok(body.description.unwrap_or_default())
}

/// Where [`inflate_into`] sends the `APKINDEX` entry: its reader and size.
pub(crate) type IndexSink<'s> = dyn Fn(&mut dyn Read, u64) -> io::Result<()> + Sync + 's;

/// The inflated size the body member announces (its gzip trailer): a hint
/// only, the member is untrusted.
pub(crate) fn announced_size(verified: &Verified<'_>) -> u64 {
    match verified.body {
        [.., a, b, c, d] => u64::from(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => 0,
    }
}

/// Reads the signature member, if the first member is one: its entries
/// and the raw bytes after it. `None` when the first entry is not a
/// `.SIGN.*` entry (an unsigned index); only one tar header is inflated
/// to tell.
#[allow(clippy::type_complexity)]
fn read_signatures<'d>(
    data: &'d [u8],
    file: &Path,
) -> Result<(Option<Vec<crate::signature::SignatureEntry>>, &'d [u8]), IndexArchiveError> {
    let what = "the first gzip member";
    let mut member = GzDecoder::new(data);
    let mut first = [0u8; 512];
    member
        .read_exact(&mut first)
        .map_err(|e| corrupt(file, what, e))?;
    let name = tar::Header::from_byte_slice(&first).path_bytes();
    if !name.starts_with(b".SIGN.") {
        return Ok((None, data));
    }
    let mut signatures = Vec::new();
    {
        let limited = Limited::new(
            (&first[..]).chain(&mut member),
            MAX_SIGNATURE_MEMBER,
            "the signature member",
        );
        let mut ar = tar::Archive::new(limited);
        let entries = ar.entries().map_err(|e| corrupt(file, what, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| corrupt(file, what, e))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            collect_signature(&mut entry, &name, &mut signatures)
                .map_err(|e| corrupt(file, "the signature member", e))?;
        }
        stream::drain(ar.into_inner()).map_err(|e| corrupt(file, what, e))?;
    }
    Ok((Some(signatures), member.into_inner()))
}

/// Inflates one body member (bounded by `max_size`), keeping `APKINDEX`
/// and `DESCRIPTION`; returns them and the raw bytes after the member.
fn read_body<'d>(
    data: &'d [u8],
    file: &Path,
    max_size: u64,
    sink: Option<&IndexSink<'_>>,
) -> Result<(Body, &'d [u8]), IndexArchiveError> {
    let what = "the index member";
    let mut member = GzDecoder::new(data);
    let mut body = Body::default();
    {
        let limited = Limited::new(&mut member, max_size, "the inflated index");
        let mut ar = tar::Archive::new(limited);
        let entries = ar.entries().map_err(|e| corrupt(file, what, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| corrupt(file, what, e))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            body.take(&mut entry, &name, max_size, sink)
                .map_err(|e| corrupt(file, what, e))?;
        }
        stream::drain(ar.into_inner()).map_err(|e| corrupt(file, what, e))?;
    }
    Ok((body, member.into_inner()))
}

#[derive(Default)]
struct Body {
    index: Option<Vec<u8>>,
    /// The `APKINDEX` entry went to a sink.
    streamed: bool,
    description: Option<String>,
}

impl Body {
    fn take<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        max_size: u64,
        sink: Option<&IndexSink<'_>>,
    ) -> io::Result<()> {
        match name {
            "APKINDEX" => {
                // The header's size is untrusted: never reserve more than
                // the limit allows (reading past it fails anyway).
                if entry.size() > max_size {
                    return Err(limit_error("the APKINDEX entry", max_size));
                }
                if let Some(sink) = sink {
                    let size = entry.size();
                    self.streamed = true;
                    return sink(entry, size);
                }
                let mut buf = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut buf)?;
                self.index = Some(buf);
            }
            "DESCRIPTION" => {
                let mut buf = Vec::new();
                entry.take(MAX_DESCRIPTION).read_to_end(&mut buf)?;
                self.description = Some(String::from_utf8_lossy(&buf).trim_end().to_owned());
            }
            _ => {}
        }
        Ok(())
    }
}

/// Writes a signed (or, without key, unsigned) `APKINDEX.tar.gz` holding
/// `infos` in the given order.
pub fn write<'a>(
    out: &mut impl Write,
    infos: impl IntoIterator<Item = &'a PackageInfo<'a>>,
    description: &str,
    key: Option<&SigningKey>,
    mtime: u64,
) -> Result<(), WriteError> {
    let text = super::text::write(infos);
    let mut tar = Vec::new();
    let file = |path: &str| EntryHeader::new(path, EntryKind::File, 0o644, mtime);
    tarball::write_file(&mut tar, &file("DESCRIPTION"), description.as_bytes())?;
    tarball::write_file(&mut tar, &file("APKINDEX"), text.as_bytes())?;
    tarball::write_end(&mut tar)?;
    let body = gzip(&tar)?;
    if let Some(key) = key {
        let entry = key.sign_sha256(&Sha256::digest(&body))?;
        out.write_all(&signature_member(&entry, mtime)?)?;
    }
    out.write_all(&body)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::text::{self, Strictness};

    use testkit::corpus;

    fn alpine_keys() -> Keyring {
        Keyring::load(&[corpus("apk/keys/alpine")]).unwrap()
    }

    #[test]
    fn reads_and_verifies_the_alpine_indexes() {
        for (dir, count, key) in [
            ("apk/alpine-v3.16-main-x86_64", 4929, "6165ee59"),
            ("apk/alpine-v3.17-main-aarch64", 5004, "616ae350"),
        ] {
            let path = corpus(dir).join("APKINDEX.tar.gz");
            let idx = read_file(&path, &alpine_keys(), Trust::Verify).unwrap();
            assert!(idx.signer.unwrap().contains(key));
            let parsed = text::parse(&idx.text, "APKINDEX", Strictness::Strict).unwrap();
            assert_eq!(parsed.records.len(), count);
        }
    }

    #[test]
    fn sha256_signatures_and_several_signers() {
        for (dir, keys) in [
            ("apk/signed-rsa256", "apk/signed-rsa256/test-rsa256.rsa.pub"),
            ("apk/signed-chainguard", "apk/signed-chainguard/keys"),
            (
                "apk/repo-small/packages/x86_64",
                "apk/repo-small/melange.rsa.pub",
            ),
            (
                "apk/repo-small/private_packages/packages/x86_64",
                "apk/repo-small/private_packages",
            ),
        ] {
            let ring = Keyring::load(&[corpus(keys)]).unwrap();
            let idx = read_file(&corpus(dir).join("APKINDEX.tar.gz"), &ring, Trust::Verify);
            assert!(idx.is_ok(), "{dir}: {:?}", idx.err());
        }
    }

    #[test]
    fn wrong_key_names_the_key_it_wanted() {
        let ring = Keyring::load(&[corpus("apk/repo-small/melange.rsa.pub")]).unwrap();
        let path = corpus("apk/alpine-v3.17-main-aarch64/APKINDEX.tar.gz");
        let err = read_file(&path, &ring, Trust::Verify)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub'"),
            "{err}"
        );
        assert!(err.contains("melange.rsa.pub"), "{err}");
    }

    #[test]
    fn unsigned_index_needs_allow_untrusted() {
        let path = corpus("apk/misc/small-APKINDEX.tar.gz");
        let err = read_file(&path, &Keyring::new(), Trust::Verify).unwrap_err();
        assert!(matches!(
            err,
            IndexArchiveError::Signature {
                error: SignatureError::Unsigned,
                ..
            }
        ));
        let idx = read_file(&path, &Keyring::new(), Trust::AllowUntrusted).unwrap();
        assert_eq!(
            text::parse(&idx.text, "x", Strictness::Lenient)
                .unwrap()
                .records
                .len(),
            2
        );
    }

    /// 2 GiB of zeros in the `APKINDEX` entry: inflating it would take
    /// seconds and gigabytes, so a quick refusal shows nothing was inflated.
    const BOMB: u64 = 2 << 30;

    /// `testkit::bomb::index` with this crate's key type (testkit links
    /// another copy of this crate).
    fn bomb_index(entries: &[(&str, u64)], key: Option<&SigningKey>) -> Vec<u8> {
        let body = testkit::bomb::zero_tar_member(entries);
        let mut out = Vec::new();
        if let Some(key) = key {
            let entry = key.sign_sha256(&Sha256::digest(&body)).unwrap();
            out.extend(signature_member(&entry, 0).unwrap());
        }
        out.extend(body);
        out
    }

    fn refused(data: &[u8], ring: &Keyring) -> IndexArchiveError {
        read(data, Path::new("bomb"), ring, Trust::Verify).unwrap_err()
    }

    #[test]
    fn untrusted_bombs_are_refused_before_inflating() {
        let key = SigningKey::generate("good.rsa.pub", 1024).unwrap();
        let other = SigningKey::generate("other.rsa.pub", 1024).unwrap();
        let unsigned = bomb_index(&[("APKINDEX", BOMB)], None);
        assert!(unsigned.len() < 4 << 20, "{}", unsigned.len());
        let e = refused(&unsigned, &key.keyring());
        assert!(
            matches!(
                &e,
                IndexArchiveError::Signature {
                    error: SignatureError::Unsigned,
                    ..
                }
            ),
            "{e}"
        );
        let foreign = bomb_index(&[("APKINDEX", BOMB)], Some(&other));
        let e = refused(&foreign, &key.keyring()).to_string();
        assert!(
            e.contains("'other.rsa.pub'") && e.contains("not in the keyring"),
            "{e}"
        );
        // A trusted key whose signature does not cover these bytes.
        let mut forged = bomb_index(&[("APKINDEX", BOMB)], Some(&key));
        let last = forged.len() - 100;
        forged[last] ^= 0x10;
        let e = refused(&forged, &key.keyring()).to_string();
        assert!(e.contains("bad signature"), "{e}");
    }

    #[test]
    fn trusted_indexes_are_bounded_too() {
        let key = SigningKey::generate("good.rsa.pub", 1024).unwrap();
        let ring = key.keyring();
        // The entry's header claims more than the limit: refused before
        // anything is reserved or inflated.
        let signed = bomb_index(&[("APKINDEX", BOMB)], Some(&key));
        let e = read(&signed, Path::new("big"), &ring, Trust::Verify)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("APKINDEX entry is larger than the limit of 256 MiB"),
            "{e}"
        );
        assert!(e.contains(bounds::MAX_INDEX_SIZE.var), "{e}");
        // Small entries adding up past the limit: the stream is cut.
        let padded = bomb_index(&[("PAD", 8 << 20), ("APKINDEX", 1 << 20)], Some(&key));
        let e = read_with(&padded, Path::new("p"), &ring, Trust::Verify, 4 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the inflated index is larger than the limit of 4 MiB"),
            "{e}"
        );
        assert!(read_with(&padded, Path::new("p"), &ring, Trust::Verify, 16 << 20).is_ok());
        // --allow-untrusted does not lift the bound.
        let unsigned = bomb_index(&[("APKINDEX", 8 << 20)], None);
        let e = read_with(
            &unsigned,
            Path::new("u"),
            &ring,
            Trust::AllowUntrusted,
            1 << 20,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("larger than the limit of 1 MiB"), "{e}");
    }

    #[test]
    fn signature_member_is_bounded() {
        let key = SigningKey::generate("good.rsa.pub", 1024).unwrap();
        // A "signature member" that inflates to 8 MiB.
        let mut data = testkit::bomb::zero_tar_member(&[(".SIGN.RSA256.good.rsa.pub", 8 << 20)]);
        data.extend(testkit::bomb::zero_tar_member(&[("APKINDEX", 1 << 20)]));
        let e = refused(&data, &key.keyring()).to_string();
        assert!(
            e.contains("the signature member is larger than the limit of 1 MiB"),
            "{e}"
        );
    }

    #[test]
    fn written_index_verifies_and_tampering_is_caught() {
        let key = SigningKey::generate("test.rsa.pub", 1024).unwrap();
        let info = PackageInfo {
            name: "a".into(),
            version: "1.0-r0".into(),
            checksum: Some(crate::checksum::Checksum::Sha1([1; 20])),
            ..Default::default()
        };
        let mut buf = Vec::new();
        write(&mut buf, [&info], "test repo", Some(&key), 0).unwrap();
        let idx = read(&buf[..], Path::new("mem"), &key.keyring(), Trust::Verify).unwrap();
        assert_eq!(idx.description, "test repo");
        let parsed = text::parse(&idx.text, "x", Strictness::Strict).unwrap();
        assert_eq!(parsed.records[0].info, info);

        let last = buf.len() - 20;
        buf[last] ^= 1;
        assert!(read(&buf[..], Path::new("mem"), &key.keyring(), Trust::Verify).is_err());
        assert!(read(
            &buf[..buf.len() / 2],
            Path::new("mem"),
            &key.keyring(),
            Trust::Verify
        )
        .is_err());
    }
}
