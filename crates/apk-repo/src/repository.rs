//! Repositories: where an index lives for a given architecture, and loading
//! it verified.
//!
//! A repository is named by a local path or `file://` URL (network
//! repositories come with the fetch layer). apk lays repositories out as
//! `BASE/ARCH/APKINDEX.tar.gz`; a directory holding `APKINDEX.tar.gz`
//! directly, or the index file itself, is accepted too.

use std::path::{Path, PathBuf};

use apk::index::archive::{IndexArchiveError, Trust};
use apk::index::{IndexLoader, ParsedIndex};
use apk::signature::Keyring;

use crate::cache::Cache;

/// Loads the index file at `path`: its signature checked on every use
/// (unless `trust` allows otherwise), parsed once and then reused from the
/// parsed-index cache under `cache_root` (default: [`Cache::default_root`])
/// in `parsed-indexes/`. Every caller that loads an index goes through
/// here; see [`apk::index::cache`].
pub fn load_index(
    path: &Path,
    keyring: &Keyring,
    trust: Trust,
    cache_root: Option<&Path>,
) -> Result<ParsedIndex, IndexArchiveError> {
    let root = cache_root
        .map(Path::to_path_buf)
        .or_else(Cache::default_root);
    IndexLoader::new(root.map(|r| r.join("parsed-indexes"))).load(path, keyring, trust)
}

/// The APK architecture of this machine (`x86_64`, `aarch64`, …).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "x86",
        "arm" => "armv7",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Why a repository cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// Not a supported repository address.
    #[error("repository '{0}': only local paths and file:// URLs are supported so far")]
    Unsupported(String),
    /// No index where one was expected.
    #[error("repository '{repo}': no index found (looked for {})", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoIndex {
        /// The repository as given.
        repo: String,
        /// Paths tried.
        looked: Vec<PathBuf>,
    },
    /// The index is unreadable or untrusted.
    #[error(transparent)]
    Index(#[from] IndexArchiveError),
}

/// A repository address: a local directory or index file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// As the user wrote it.
    pub name: String,
    /// Local path it refers to.
    pub path: PathBuf,
}

impl Repository {
    /// Parses a path or `file://` URL.
    pub fn parse(text: &str) -> Result<Self, RepositoryError> {
        let path = if let Some(rest) = text.strip_prefix("file://") {
            PathBuf::from(rest)
        } else if text.contains("://") {
            return Err(RepositoryError::Unsupported(text.to_owned()));
        } else {
            PathBuf::from(text)
        };
        Ok(Repository {
            name: text.to_owned(),
            path,
        })
    }

    /// The index file for `arch`: `PATH/ARCH/APKINDEX.tar.gz`, else
    /// `PATH/APKINDEX.tar.gz`, else `PATH` itself when it is a file.
    pub fn index_path(&self, arch: &str) -> Result<PathBuf, RepositoryError> {
        if self.path.is_file() {
            return Ok(self.path.clone());
        }
        let looked = vec![
            self.path.join(arch).join("APKINDEX.tar.gz"),
            self.path.join("APKINDEX.tar.gz"),
        ];
        looked
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| RepositoryError::NoIndex {
                repo: self.name.clone(),
                looked,
            })
    }

    /// Directory holding the packages that the index for `arch` lists.
    pub fn package_dir(&self, arch: &str) -> Result<PathBuf, RepositoryError> {
        let index = self.index_path(arch)?;
        Ok(index.parent().map(Path::to_path_buf).unwrap_or_default())
    }

    /// Loads and verifies the index for `arch` (see [`load_index`]).
    pub fn load_index(
        &self,
        arch: &str,
        keyring: &Keyring,
        trust: Trust,
    ) -> Result<LoadedIndex, RepositoryError> {
        let path = self.index_path(arch)?;
        let index = load_index(&path, keyring, trust, None)?;
        Ok(LoadedIndex { path, index })
    }
}

/// An index read from a repository.
#[derive(Debug)]
pub struct LoadedIndex {
    /// The index file.
    pub path: PathBuf,
    /// Its parsed contents.
    pub index: ParsedIndex,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_indexes_in_both_layouts() {
        let corpus = testkit::corpus("apk");
        let r = Repository::parse(&format!(
            "file://{}",
            corpus.join("repo-small/packages").display()
        ))
        .unwrap();
        assert!(r
            .index_path("aarch64")
            .unwrap()
            .ends_with("aarch64/APKINDEX.tar.gz"));
        let r =
            Repository::parse(corpus.join("alpine-v3.17-main-aarch64").to_str().unwrap()).unwrap();
        assert!(r
            .index_path("x86_64")
            .unwrap()
            .ends_with("alpine-v3.17-main-aarch64/APKINDEX.tar.gz"));
        let e = Repository::parse("/nonexistent")
            .unwrap()
            .index_path("x86_64")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("/nonexistent/x86_64/APKINDEX.tar.gz"),
            "{e}"
        );
        assert!(Repository::parse("https://example.org/x").is_err());
    }
}
