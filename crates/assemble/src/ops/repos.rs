//! Repositories as every operation reads them: one fetcher (local paths,
//! `file://`, `http(s)://` with `HTTP_AUTH`/netrc credentials, one
//! content-addressed cache), indexes verified against a keyring before
//! anything trusts them, and names for messages that never show
//! credentials or cache paths.

use std::path::{Path, PathBuf};

use apk::index::archive::{IndexArchiveError, Trust};
use apk::index::ParsedIndex;
use apk_repo::{FetchError, FetchOptions, FetchedIndex, Fetcher, RetryPolicy};

use super::FetchSettings;
use crate::model::{Location, Repository};

/// Where `search` and `resolve` read packages from, as given on their
/// command line.
#[derive(Clone, Debug)]
pub struct RepositoryArgs {
    /// The repositories, in priority order.
    pub repositories: Vec<Repository>,
    /// Trusted key files, or directories of `*.pub` keys.
    pub keyring: Vec<PathBuf>,
    /// The architecture whose index to read.
    pub arch: String,
    /// Whether unsigned indexes are accepted.
    pub trust: Trust,
    /// How to reach them.
    pub fetch: FetchSettings,
}

/// An index that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum IndexError {
    /// Fetching it failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// It is not a valid, trusted index archive.
    #[error(transparent)]
    Archive(#[from] IndexArchiveError),
}

/// The repositories of [`RepositoryArgs`] cannot be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RepositoryArgsError {
    /// The keyring cannot be loaded.
    #[error(transparent)]
    Key(#[from] apk::signature::KeyError),
    /// The fetcher cannot be set up.
    #[error("cannot set up fetching")]
    Fetcher(#[source] FetchError),
    /// An index cannot be used.
    #[error("repository {repository}")]
    Index {
        /// The repository, credentials redacted.
        repository: String,
        /// Why.
        #[source]
        error: IndexError,
        /// The fix, when it is a signature failure.
        #[help]
        help: Option<String>,
    },
}

/// Where a command's trusted keys come from, for the fix a signature
/// error suggests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `--keyring` and `--allow-untrusted` (search, resolve, verify).
    CommandLine,
    /// `keyring = [...]` in the declaration (build, plan, apply, validate).
    Declaration,
}

/// The fix for a signature failure somewhere in `error`'s chain (the
/// message of [`apk::signature::SignatureError`] says only what is wrong),
/// phrased for where the command's keys come from; `None` for other
/// errors.
pub fn trust_help(error: &dyn std::error::Error, keys: KeySource) -> Option<String> {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(e) = next {
        text.push_str(&e.to_string());
        next = e.source();
    }
    trust_help_text(&text, keys)
}

/// [`trust_help`] for a message already rendered to text.
pub fn trust_help_text(text: &str, keys: KeySource) -> Option<String> {
    use apk::signature::SignatureError;
    let unknown = text.contains(SignatureError::UNKNOWN_KEY);
    let unsigned = text.contains(SignatureError::UNSIGNED);
    Some(match (keys, unknown, unsigned) {
        (_, false, false) => return None,
        (KeySource::CommandLine, true, _) => "add the signer's public key with --keyring".into(),
        (KeySource::CommandLine, false, true) => {
            "sign it, or pass --allow-untrusted to accept unsigned content".into()
        }
        (KeySource::Declaration, true, _) => "add the signer's public key to `keyring = [...]` \
             in the declaration (a key file, or a directory of *.pub keys)"
            .into(),
        (KeySource::Declaration, false, true) => {
            "sign the repository's index: images are built only from signed repositories".into()
        }
    })
}

impl RepositoryArgs {
    /// The keyring and every repository's verified index, in order.
    pub(crate) fn load(
        &self,
    ) -> Result<(apk::signature::Keyring, Vec<LoadedIndex>), RepositoryArgsError> {
        self.load_with(&self.fetcher()?)
    }

    /// The fetcher every repository is read through.
    pub(crate) fn fetcher(&self) -> Result<Fetcher, RepositoryArgsError> {
        fetcher(&self.fetch, false).map_err(RepositoryArgsError::Fetcher)
    }

    /// [`RepositoryArgs::load`] through `fetcher`.
    pub(crate) fn load_with(
        &self,
        fetcher: &Fetcher,
    ) -> Result<(apk::signature::Keyring, Vec<LoadedIndex>), RepositoryArgsError> {
        // Each index is read, and its parsed form looked up, while the
        // keys load; nothing of it is used before it verified.
        let opened: Vec<_> = self
            .repositories
            .iter()
            .map(|r| fetcher.open_index(&r.address(), &self.arch))
            .collect();
        let keyring = apk::signature::Keyring::load(&self.keyring)?;
        let indexes = opened
            .into_iter()
            .zip(&self.repositories)
            .map(|(opened, r)| {
                opened
                    .and_then(|o| o.verify(&keyring, self.trust))
                    .map(|fetched| loaded(r, &self.arch, fetched))
                    .map_err(|error| {
                        let error = IndexError::from(error);
                        RepositoryArgsError::Index {
                            repository: r.as_written.clone(),
                            help: trust_help(&error, KeySource::CommandLine),
                            error,
                        }
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok((keyring, indexes))
    }
}

/// Every repository's parsed index as last verified, recalled from the
/// cache before the files are read: [`RepositoryArgs::recall`].
pub(crate) struct RecalledIndexes {
    /// Each repository's label (as [`LoadedIndex::label`]) and entry.
    pub entries: Vec<(String, apk::index::Recalled)>,
}

impl RepositoryArgs {
    /// Every repository's parsed index as last verified, found without
    /// reading the index files, when every repository is a local one
    /// whose file has not changed since (see
    /// [`apk::index::IndexLoader::recall`]); `None` otherwise. Work done
    /// on them counts only once [`RecalledIndexes::confirm`] accepted
    /// what [`RepositoryArgs::check`] found.
    pub(crate) fn recall(&self, fetcher: &Fetcher) -> Option<RecalledIndexes> {
        let entries = self
            .repositories
            .iter()
            .map(|r| {
                if !matches!(r.location, Location::Local(_)) {
                    return None;
                }
                let (path, recalled) = fetcher.recall_index(&r.address(), &self.arch)?;
                Some((path.display().to_string(), recalled))
            })
            .collect::<Option<_>>()?;
        Some(RecalledIndexes { entries })
    }

    /// What confirms `recalled`, on any thread: its entries' checksums,
    /// then the keyring loaded and every index file read and verified;
    /// `None` when anything fails, for the usual load to report.
    pub(crate) fn check(
        &self,
        recalled: &RecalledIndexes,
    ) -> Option<(apk::signature::Keyring, Vec<apk::index::Checked>)> {
        if !recalled.entries.iter().all(|(_, r)| r.entry_intact()) {
            return None;
        }
        let keyring = apk::signature::Keyring::load(&self.keyring).ok()?;
        let checked = recalled
            .entries
            .iter()
            .map(|(_, r)| r.check_file(&keyring, self.trust).ok())
            .collect::<Option<_>>()?;
        Some((keyring, checked))
    }
}

impl RecalledIndexes {
    /// The indexes, verified: `None` unless every entry is intact and
    /// every file's check found the bytes its entry was built from.
    pub(crate) fn confirm(self, checked: &[apk::index::Checked]) -> Option<Vec<LoadedIndex>> {
        self.entries
            .into_iter()
            .zip(checked)
            .map(|((label, recalled), checked)| {
                Some(LoadedIndex {
                    label,
                    index: recalled.confirm(checked)?,
                })
            })
            .collect()
    }
}

/// A fetcher for `settings`; `single_attempt` for optional repositories
/// (no retries).
pub(crate) fn fetcher(
    settings: &FetchSettings,
    single_attempt: bool,
) -> Result<Fetcher, FetchError> {
    let mut options = FetchOptions {
        offline: settings.offline,
        cache_dir: settings.cache_dir.clone(),
        ..Default::default()
    };
    if single_attempt {
        options.retry = RetryPolicy {
            attempts: 1,
            ..Default::default()
        };
    }
    Fetcher::new(options)
}

/// A verified index of one repository.
pub(crate) struct LoadedIndex {
    /// The index as named in messages: its path for local repositories,
    /// its URL (credentials redacted) for remote ones.
    pub label: String,
    /// Its contents, parsed (once per file contents: the parsed-index
    /// cache every command shares, see [`apk::index::cache`]).
    pub index: ParsedIndex,
}

impl LoadedIndex {
    /// The name parse errors and warnings give the index text.
    pub fn text_name(&self) -> String {
        format!("{}:APKINDEX", self.label)
    }
}

/// Fetches `repo`'s index for `arch` and verifies it against `keyring`.
pub(crate) fn load(
    fetcher: &Fetcher,
    repo: &Repository,
    arch: &str,
    keyring: &apk::signature::Keyring,
    trust: Trust,
) -> Result<LoadedIndex, IndexError> {
    // Verified before anything trusts it (and, remote, before it is cached).
    let fetched = fetcher.fetch_index(&repo.address(), arch, keyring, trust)?;
    Ok(loaded(repo, arch, fetched))
}

/// `fetched`, the index of `repo` for `arch`, named for messages.
fn loaded(repo: &Repository, arch: &str, fetched: FetchedIndex) -> LoadedIndex {
    let label = match &repo.location {
        Location::Local(_) => fetched.path.display().to_string(),
        Location::Url(url) => url
            .join_path(&format!("{arch}/APKINDEX.tar.gz"))
            .to_string(),
    };
    LoadedIndex {
        label,
        index: fetched.index,
    }
}

/// The key files of `paths`: files as given, directories as their `*.pub`
/// files in name order.
pub(crate) fn key_files(paths: &[&Path]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pub") && p.is_file())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(path.to_path_buf());
        }
    }
    Ok(out)
}
