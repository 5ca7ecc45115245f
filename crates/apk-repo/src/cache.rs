//! The download cache: packages addressed by identity, indexes by URL.
//!
//! Layout under the root (`$CARGO_ASSEMBLE_CACHE`, else
//! `dirs::cache_dir()/cargo-assemble`, unless a directory is given):
//!
//! - `packages/<40 hex digits of the identity>.apk`
//! - `indexes/<sha256 hex of the URL without credentials>.tar.gz`
//!
//! Entries are written to a temporary file in the same directory and
//! renamed into place, so readers (and concurrent runs) never see half a
//! file. A package entry is verified every time it is read: the package is
//! read in full with [`ReadOptions`] expecting the identity (which
//! recomputes the SHA-1 of the control member and also checks the data
//! hash), and an entry that fails is deleted. An index enters the cache
//! only after its signature verified, and is verified again whenever it is
//! read (offline); one that fails is deleted. Temporary files that a killed
//! run left behind are removed by a later one once they are an hour old.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use apk::checksum::Checksum;
use apk::package::read::{read_file, PackageError, ReadOptions, SignatureCheck, VerifyOnly};
use apk::signature::Keyring;
use assemble_io::url::strip_credentials;

/// Age after which a temporary file in the cache is considered abandoned.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Environment variable overriding the cache root.
pub const CACHE_ENV: &str = "CARGO_ASSEMBLE_CACHE";

/// Why the cache cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// No cache directory could be determined.
    #[error(
        "no user cache directory is known on this system; set {CACHE_ENV} to a writable directory"
    )]
    NoCacheDir,
    /// A file or directory of the cache could not be written or read.
    #[error("cache {}: {error}; check its permissions or set {CACHE_ENV} to a writable directory", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Cause.
        error: io::Error,
    },
    /// A file offered to [`Cache::put`] is not the package it claims to be.
    #[error(transparent)]
    Verify(#[from] PackageError),
}

/// The on-disk cache.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

/// Checks that the package at `path` is the one with `identity`
/// (recomputing the control-member SHA-1 and all other hashes).
pub fn verify_package(path: &Path, identity: &Checksum) -> Result<(), PackageError> {
    let keyring = Keyring::new();
    let options = ReadOptions {
        keyring: &keyring,
        signature: SignatureCheck::Skip,
        expected_identity: Some(*identity),
    };
    read_file(path, &options, &mut VerifyOnly).map(|_| ())
}

impl Cache {
    /// The default root: `$CARGO_ASSEMBLE_CACHE`, else
    /// `dirs::cache_dir()/cargo-assemble`.
    pub fn default_root() -> Option<PathBuf> {
        std::env::var_os(CACHE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("cargo-assemble")))
    }

    /// A cache rooted at `root`, or at [`Cache::default_root`] when `None`.
    /// Directories are created on first write.
    pub fn open(root: Option<PathBuf>) -> Result<Cache, CacheError> {
        let root = root
            .or_else(Cache::default_root)
            .ok_or(CacheError::NoCacheDir)?;
        let cache = Cache { root };
        cache.remove_stale_temporaries(STALE_AFTER);
        Ok(cache)
    }

    /// Deletes `.tmp-*` files older than `age` (left by a killed run; a
    /// running one renames or deletes its own long before).
    fn remove_stale_temporaries(&self, age: Duration) {
        for dir in [self.packages_dir(), self.indexes_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let stale = e.file_name().to_string_lossy().starts_with(".tmp-")
                    && e.metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().is_ok_and(|a| a >= age));
                if stale {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn packages_dir(&self) -> PathBuf {
        self.root.join("packages")
    }

    fn indexes_dir(&self) -> PathBuf {
        self.root.join("indexes")
    }

    /// Where the package with `identity` is (or would be) stored.
    pub fn package_path(&self, identity: &Checksum) -> PathBuf {
        self.packages_dir()
            .join(format!("{}.apk", hex::encode(identity.identity())))
    }

    /// The cached package with `identity`, verified; a corrupt entry is
    /// deleted and reported as absent.
    pub fn get(&self, identity: &Checksum) -> Option<PathBuf> {
        let path = self.package_path(identity);
        if !path.is_file() {
            return None;
        }
        match verify_package(&path, identity) {
            Ok(()) => Some(path),
            Err(_) => {
                // Best effort: a read-only cache simply keeps missing.
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Copies the package at `source` into the cache after checking that it
    /// is `identity`, and returns the cached path.
    pub fn put(&self, identity: &Checksum, source: &Path) -> Result<PathBuf, CacheError> {
        verify_package(source, identity)?;
        let mut tmp = self.temp_package()?;
        let tmp_path = tmp.path().to_owned();
        let io_err = |error| CacheError::Io {
            path: tmp_path.clone(),
            error,
        };
        let mut from = std::fs::File::open(source).map_err(|error| CacheError::Io {
            path: source.to_owned(),
            error,
        })?;
        io::copy(&mut from, tmp.as_file_mut()).map_err(io_err)?;
        self.commit_package(identity, tmp)
    }

    /// A temporary file next to the package entries, for a download.
    pub fn temp_package(&self) -> Result<NamedTempFile, CacheError> {
        temp_in(&self.packages_dir())
    }

    /// Moves a verified temporary file into place as `identity`.
    pub fn commit_package(
        &self,
        identity: &Checksum,
        tmp: NamedTempFile,
    ) -> Result<PathBuf, CacheError> {
        commit(tmp, self.package_path(identity))
    }

    /// Where the index downloaded from `url` is (or would be) stored. The
    /// key ignores credentials in the URL.
    pub fn index_path(&self, url: &str) -> PathBuf {
        let digest = Sha256::digest(strip_credentials(url).as_bytes());
        self.indexes_dir()
            .join(format!("{}.tar.gz", hex::encode(digest)))
    }

    /// The cached index for `url`, if any.
    pub fn get_index(&self, url: &str) -> Option<PathBuf> {
        let path = self.index_path(url);
        path.is_file().then_some(path)
    }

    /// Deletes the cached index for `url` (it failed verification).
    pub fn evict_index(&self, url: &str) {
        let _ = std::fs::remove_file(self.index_path(url));
    }

    /// A temporary file next to the index entries, for a download.
    pub fn temp_index(&self) -> Result<NamedTempFile, CacheError> {
        temp_in(&self.indexes_dir())
    }

    /// Moves a downloaded, verified index into place for `url`.
    pub fn commit_index(&self, url: &str, tmp: NamedTempFile) -> Result<PathBuf, CacheError> {
        commit(tmp, self.index_path(url))
    }
}

fn temp_in(dir: &Path) -> Result<NamedTempFile, CacheError> {
    let io_err = |error| CacheError::Io {
        path: dir.to_owned(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    assemble_io::atomic::temp_file_in(dir, ".tmp-").map_err(io_err)
}

fn commit(tmp: NamedTempFile, dest: PathBuf) -> Result<PathBuf, CacheError> {
    let io_err = |error| CacheError::Io {
        path: dest.clone(),
        error,
    };
    assemble_io::atomic::persist(tmp, &dest).map_err(io_err)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixture;

    #[test]
    fn put_get_and_evict() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(dir.path().to_owned())).unwrap();
        let fx = fixture();
        let (path, _, identity, _) = fx.packages[0].clone();
        assert!(cache.get(&identity).is_none());
        let cached = cache.put(&identity, &path).unwrap();
        assert_eq!(cache.get(&identity), Some(cached.clone()));
        assert!(cached
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&hex::encode(identity.identity())));
        // Only the entry: no temporary files left behind.
        assert_eq!(
            std::fs::read_dir(cached.parent().unwrap()).unwrap().count(),
            1
        );

        std::fs::write(&cached, b"not a package").unwrap();
        assert!(cache.get(&identity).is_none());
        assert!(!cached.exists(), "corrupt entry evicted");

        // A file that is not the claimed package is refused.
        let other = Checksum::Sha1([0; 20]);
        assert!(matches!(
            cache.put(&other, &path),
            Err(CacheError::Verify(_))
        ));
        assert!(!cache.package_path(&other).exists());
    }

    #[test]
    fn abandoned_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(dir.path().to_owned())).unwrap();
        let old = cache.temp_package().unwrap().keep().unwrap().1;
        let young = cache.temp_index().unwrap().keep().unwrap().1;
        let entry = cache.package_path(&Checksum::Sha1([1; 20]));
        std::fs::write(&entry, b"x").unwrap();
        let long_ago = std::time::SystemTime::now() - 2 * STALE_AFTER;
        for p in [&old, &entry] {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        Cache::open(Some(dir.path().to_owned())).unwrap();
        assert!(!old.exists() && young.exists() && entry.exists());
    }

    #[test]
    fn index_keys_ignore_credentials() {
        let cache = Cache::open(Some(PathBuf::from("/c"))).unwrap();
        let a = cache.index_path("https://u:p@h/repo/x86_64/APKINDEX.tar.gz");
        let b = cache.index_path("https://h/repo/x86_64/APKINDEX.tar.gz");
        assert_eq!(a, b);
        assert!(a.starts_with("/c/indexes"));
        assert_ne!(
            a,
            cache.index_path("https://h/repo/aarch64/APKINDEX.tar.gz")
        );
    }
}
