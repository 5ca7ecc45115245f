//! `APKINDEX.tar.gz`: an optional signature member followed by a member
//! holding the `APKINDEX` text and a `DESCRIPTION`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::package::PackageInfo;
use crate::signature::{Digests, Keyring, SignatureError, SigningKey};
pub use crate::stream::WriteError;
use crate::stream::{self, collect_signature, gzip, signature_member, Tap};
use assemble_io::tarball::{self, EntryHeader, EntryKind};

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

fn format_err(file: &Path, message: impl Into<String>) -> IndexArchiveError {
    IndexArchiveError::Format {
        file: file.to_owned(),
        message: message.into(),
    }
}

/// Describes an I/O error met while inflating or untarring a member.
fn corrupt(file: &Path, what: &str, e: io::Error) -> IndexArchiveError {
    let message = if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("{what} is truncated (the file ends early)")
    } else {
        format!("{what} is corrupt: {e}")
    };
    format_err(file, message)
}

/// Reads and, unless `trust` allows otherwise, verifies an index file.
pub fn read_file(
    path: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<IndexArchive, IndexArchiveError> {
    let f = File::open(path).map_err(|error| IndexArchiveError::Io {
        file: path.to_owned(),
        error,
    })?;
    read(
        BufReader::with_capacity(256 * 1024, f),
        path,
        keyring,
        trust,
    )
}

/// Reads an index from any buffered reader; `file` names it in errors.
pub fn read<R: BufRead>(
    reader: R,
    file: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<IndexArchive, IndexArchiveError> {
    let mut tap = Tap::new(reader);
    let first = tap.peek().map_err(|e| corrupt(file, "the index", e))?;
    stream::check_magic(first).map_err(|m| format_err(file, m))?;

    // Member 0 is either the signature member or (unsigned index) the body.
    tap.begin(false, false, None);
    let mut signatures = Vec::new();
    let mut body = Body::default();
    let mut signed = false;
    {
        let mut ar = tar::Archive::new(stream::member(&mut tap));
        let entries = ar
            .entries()
            .map_err(|e| corrupt(file, "the first gzip member", e))?;
        for (i, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| corrupt(file, "the first gzip member", e))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if i == 0 {
                signed = name.starts_with(".SIGN.");
            }
            if signed {
                collect_signature(&mut entry, &name, &mut signatures)
                    .map_err(|e| corrupt(file, "the signature member", e))?;
            } else {
                body.take(&mut entry, &name)
                    .map_err(|e| corrupt(file, "the index member", e))?;
            }
        }
        stream::drain(ar.into_inner()).map_err(|e| corrupt(file, "the first gzip member", e))?;
    }
    tap.finish();

    if signed {
        tap.begin(false, false, Some(Digests::for_entries(&signatures)));
        {
            let mut ar = tar::Archive::new(stream::member(&mut tap));
            let entries = ar
                .entries()
                .map_err(|e| corrupt(file, "the index member", e))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| corrupt(file, "the index member", e))?;
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                body.take(&mut entry, &name)
                    .map_err(|e| corrupt(file, "the index member", e))?;
            }
            stream::drain(ar.into_inner()).map_err(|e| corrupt(file, "the index member", e))?;
        }
        if !tap.at_eof().map_err(|e| corrupt(file, "the index", e))? {
            return Err(format_err(file, "unexpected data after the index member"));
        }
    }
    let digests = tap.finish().digests.unwrap_or_default();

    let signer = match trust {
        Trust::AllowUntrusted => None,
        Trust::Verify => Some(keyring.verify(&signatures, digests).map_err(|error| {
            IndexArchiveError::Signature {
                file: file.to_owned(),
                error,
            }
        })?),
    };
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
        signer,
        lossy,
    })
}

#[derive(Default)]
struct Body {
    index: Option<Vec<u8>>,
    description: Option<String>,
}

impl Body {
    fn take<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &str) -> io::Result<()> {
        match name {
            "APKINDEX" => {
                let mut buf = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut buf)?;
                self.index = Some(buf);
            }
            "DESCRIPTION" => {
                let mut buf = Vec::new();
                entry.read_to_end(&mut buf)?;
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
