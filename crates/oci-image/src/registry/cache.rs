//! Blobs pulled from registries, addressed by digest, under the cache root
//! the APK cache uses (`$CARGO_ASSEMBLE_CACHE`, else the user cache
//! directory's `cargo-assemble`): `oci/blobs/sha256/<hex>`, the layout of
//! an OCI layout's blob store.
//!
//! A blob is written to a temporary file in the same directory while its
//! digest and size are checked, and renamed into place only when both
//! match, so only verified content is ever cached and concurrent runs
//! never see half a file. Readers still verify as they read (the
//! [`crate::BlobReader`] a source hands out), which catches later damage.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tempfile::NamedTempFile;

use super::{RegistryError, CACHE_ENV};
use crate::Digest;

/// The blob store of the cache.
#[derive(Clone, Debug)]
pub(crate) struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    /// The cache under `root`, else the default root.
    pub(crate) fn open(root: Option<PathBuf>) -> Result<BlobCache, RegistryError> {
        let root = root
            .or_else(|| {
                std::env::var_os(CACHE_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| dirs::cache_dir().map(|d| d.join("cargo-assemble")))
            .ok_or_else(|| RegistryError::Io {
                action: "finding the cache directory",
                path: PathBuf::from(CACHE_ENV),
                source: io::Error::other(format!(
                    "no user cache directory is known; set {CACHE_ENV}"
                )),
            })?;
        Ok(BlobCache {
            dir: root.join("oci/blobs/sha256"),
        })
    }

    /// Where the blob `digest` is (or would be).
    pub(crate) fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    /// The cached blob and its length; an entry of the wrong length is
    /// removed and reported absent.
    pub(crate) fn get(&self, digest: &Digest, size: Option<u64>) -> Option<(File, u64)> {
        let path = self.path(digest);
        let file = File::open(&path).ok()?;
        let len = file.metadata().ok().filter(|m| m.is_file())?.len();
        if size.is_some_and(|s| s != len) {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some((file, len))
    }

    fn io(&self, action: &'static str, path: &Path, source: io::Error) -> RegistryError {
        RegistryError::Io {
            action,
            path: path.to_owned(),
            source: io::Error::new(
                source.kind(),
                format!("{source}; check the permissions of the cache or set {CACHE_ENV}"),
            ),
        }
    }

    /// Streams `reader` into the cache as `digest`, failing (and keeping
    /// nothing) when the content does not hash to it or is not `size`
    /// bytes. Returns the bytes written.
    pub(crate) fn put(
        &self,
        digest: &Digest,
        size: Option<u64>,
        reader: impl Read,
        target: &str,
    ) -> Result<u64, PutError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| PutError::Local(self.io("creating", &self.dir, e)))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .map_err(|e| PutError::Local(self.io("creating a file in", &self.dir, e)))?;
        let limit = size.map_or(u64::MAX, |s| s.saturating_add(1));
        let mut reader = reader.take(limit);
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(PutError::Transfer(e)),
            };
            hasher.update(&buf[..n]);
            written += n as u64;
            tmp.write_all(&buf[..n])
                .map_err(|e| PutError::Local(self.io("writing", tmp.path(), e)))?;
        }
        if let Some(expected) = size {
            if written != expected {
                return Err(PutError::Mismatch(RegistryError::Protocol {
                    target: target.to_owned(),
                    reason: format!(
                        "blob {digest} has {written}{} bytes, but its descriptor says {expected}",
                        if written > expected { "+" } else { "" }
                    ),
                }));
            }
        }
        let actual = Digest::from_hasher(hasher);
        if &actual != digest {
            return Err(PutError::Mismatch(RegistryError::Protocol {
                target: target.to_owned(),
                reason: format!(
                    "the registry sent content for blob {digest} that hashes to {actual}"
                ),
            }));
        }
        self.commit(tmp, digest)?;
        Ok(written)
    }

    fn commit(&self, tmp: NamedTempFile, digest: &Digest) -> Result<(), PutError> {
        let dest = self.path(digest);
        tmp.as_file()
            .sync_all()
            .map_err(|e| PutError::Local(self.io("writing", tmp.path(), e)))?;
        tmp.persist(&dest)
            .map_err(|e| PutError::Local(self.io("writing", &dest, e.error)))?;
        Ok(())
    }
}

/// Why [`BlobCache::put`] failed.
#[derive(Debug)]
pub(crate) enum PutError {
    /// Reading the stream failed (worth retrying).
    Transfer(io::Error),
    /// The content is not what was asked for.
    Mismatch(RegistryError),
    /// The cache could not be written.
    Local(RegistryError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verified_content_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(Some(dir.path().to_owned())).unwrap();
        let d = Digest::of(b"hello");
        assert!(cache.get(&d, None).is_none());
        let e = cache.put(&d, Some(5), &b"hellp"[..], "t").unwrap_err();
        assert!(matches!(e, PutError::Mismatch(_)), "{e:?}");
        let e = cache.put(&d, Some(5), &b"hello!"[..], "t").unwrap_err();
        assert!(
            matches!(e, PutError::Mismatch(ref m) if m.to_string().contains("6+")),
            "{e:?}"
        );
        assert_eq!(
            std::fs::read_dir(cache.path(&d).parent().unwrap())
                .unwrap()
                .count(),
            0
        );
        assert_eq!(cache.put(&d, Some(5), &b"hello"[..], "t").unwrap(), 5);
        let (mut f, len) = cache.get(&d, Some(5)).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!((s.as_str(), len), ("hello", 5));
        assert!(cache
            .path(&d)
            .starts_with(dir.path().join("oci/blobs/sha256")));
        // A wrong-length entry is dropped.
        assert!(cache.get(&d, Some(4)).is_none());
        assert!(!cache.path(&d).exists());
    }
}
