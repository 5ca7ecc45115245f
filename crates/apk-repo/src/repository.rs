//! Repositories: where an index lives for a given architecture, and loading
//! it verified.
//!
//! A repository here is a local path or `file://` URL (network
//! repositories go through the [`Fetcher`](crate::Fetcher)). apk lays repositories out as
//! `BASE/ARCH/APKINDEX.tar.gz`; a directory holding `APKINDEX.tar.gz`
//! directly, or the index file itself, is accepted too.

use std::path::{Path, PathBuf};

use apk::index::archive::{IndexArchiveError, Trust};
use apk::index::{IndexLoader, ParsedIndex};
use apk::signature::Keyring;
use assemble_io::escape::escape;
use assemble_io::url::strip_credentials;

/// A repository address as messages show it: no credentials, no control
/// characters.
fn shown(repo: &str) -> String {
    escape(&strip_credentials(repo)).into_owned()
}

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
    /// Not a supported repository address (shown without credentials).
    #[error("repository '{}': only local paths and file:// URLs are supported here", shown(.0))]
    Unsupported(String),
    /// No index where one was expected.
    #[error("repository '{}': no index found (looked for {})", shown(repo), looked.iter().map(|p| escape(&p.display().to_string()).into_owned()).collect::<Vec<_>>().join(", "))]
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
        let dir = tempfile::tempdir().unwrap();
        let arch_dir = dir.path().join("layered/aarch64");
        std::fs::create_dir_all(&arch_dir).unwrap();
        std::fs::write(arch_dir.join("APKINDEX.tar.gz"), b"x").unwrap();
        let flat = dir.path().join("flat");
        std::fs::create_dir_all(&flat).unwrap();
        std::fs::write(flat.join("APKINDEX.tar.gz"), b"x").unwrap();
        let r =
            Repository::parse(&format!("file://{}", dir.path().join("layered").display())).unwrap();
        assert!(r
            .index_path("aarch64")
            .unwrap()
            .ends_with("aarch64/APKINDEX.tar.gz"));
        let r = Repository::parse(flat.to_str().unwrap()).unwrap();
        assert!(r
            .index_path("x86_64")
            .unwrap()
            .ends_with("flat/APKINDEX.tar.gz"));
        let e = Repository::parse("/nonexistent")
            .unwrap()
            .index_path("x86_64")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("/nonexistent/x86_64/APKINDEX.tar.gz"),
            "{e}"
        );
        let e = Repository::parse("https://me:s3cret@example.org/x\x1b[2J").unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("s3cret") && !text.contains('\x1b'), "{text}");
        assert!(text.contains("https://example.org/x"), "{text}");
    }
}
