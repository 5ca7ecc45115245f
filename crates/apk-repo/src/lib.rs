//! Getting repository indexes and packages from local paths, `file://` and
//! `http(s)://` repositories, through a content-addressed cache that cannot
//! be poisoned.
//!
//! - [`auth`]: credentials from `HTTP_AUTH` and `~/.netrc`, never printed.
//! - `http`: a blocking client with timeouts, retries, Basic auth, and
//!   bounds on every download (size and an overall deadline).
//! - [`cache`]: packages keyed by identity, indexes keyed by URL.
//! - [`repository`]: where a local repository keeps its index.
//!
//! A [`Fetcher`] hands out verified content: an index's text once its
//! signature verified ([`Fetcher::fetch_index`]), and local paths of
//! packages checked against the identity their index record gives
//! ([`Fetcher::fetch_packages`]) — a local repository's own files in place,
//! remote ones from the cache. A download lands in a temporary file and
//! enters the cache only after verification, so an HTML error page, a
//! truncated body or a forged file never replaces a good entry. With
//! `offline`, remote repositories are served from the cache only (verified
//! again on the way out). Errors name the URL without its credentials, never
//! a cache or temporary file.
#![deny(missing_docs)]

pub mod auth;
pub mod cache;
pub(crate) mod http;
pub mod repository;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub use auth::{AuthError, Credentials, Secret};
pub use cache::{Cache, CacheError};
pub use http::{HttpError, RetryPolicy, USER_AGENT};

use crate::http::{HttpClient, HttpConfig, SizeLimit};
use crate::repository::{Repository, RepositoryError};
use apk::checksum::Checksum;
use apk::index::archive::{IndexArchiveError, Trust};
use apk::index::{IndexLoader, ParsedIndex};
use apk::package::read::{PackageError, Problem};
use apk::signature::Keyring;
use assemble_io::bounds::{self, InvalidBound};
use assemble_io::escape::escape;
use assemble_io::url::strip_credentials;

/// How a [`Fetcher`] works.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Use only the cache for remote repositories (`--offline`).
    pub offline: bool,
    /// Cache root; `None` means `$CARGO_ASSEMBLE_CACHE`, else the user
    /// cache directory (see [`Cache::default_root`]).
    pub cache_dir: Option<PathBuf>,
    /// Packages fetched at once (at least 1).
    pub parallel: usize,
    /// Retries for network failures and `5xx` answers.
    pub retry: RetryPolicy,
    /// Credentials; `None` reads `HTTP_AUTH` and the netrc file from the
    /// environment (see [`Credentials::from_env`]).
    pub credentials: Option<Credentials>,
    /// Deadline of one download, retries included
    /// (default: `CARGO_ASSEMBLE_HTTP_TIMEOUT`, 300 s).
    pub timeout: Duration,
    /// Largest index download (default: `CARGO_ASSEMBLE_MAX_INDEX_SIZE`).
    pub max_index_size: u64,
    /// Largest package download when its index record gives no size
    /// (default: `CARGO_ASSEMBLE_MAX_PACKAGE_SIZE`).
    pub max_package_size: u64,
}

impl Default for FetchOptions {
    /// The defaults, with the bounds users may set in the environment.
    fn default() -> Self {
        FetchOptions {
            offline: false,
            cache_dir: None,
            parallel: 4,
            retry: RetryPolicy::default(),
            credentials: None,
            timeout: bounds::HTTP_TIMEOUT.duration(),
            max_index_size: bounds::MAX_INDEX_SIZE.get(),
            max_package_size: bounds::MAX_PACKAGE_SIZE.get(),
        }
    }
}

/// One package to fetch, as an index record describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageRequest {
    /// The repository as configured (path, `file://` or `http(s)://` URL).
    pub repo: String,
    /// The architecture directory the package lives in (`x86_64`).
    pub arch: String,
    /// `NAME-VERSION.apk`.
    pub file_name: String,
    /// The record's `C:`.
    pub identity: Checksum,
    /// The record's `S:` (the file size), when known.
    pub size: Option<u64>,
}

impl PackageRequest {
    /// `NAME-VERSION`, for messages.
    pub fn package(&self) -> &str {
        self.file_name
            .strip_suffix(".apk")
            .unwrap_or(&self.file_name)
    }
}

/// A verified index.
#[derive(Debug)]
pub struct FetchedIndex {
    /// The repository without credentials, for messages, locks and state.
    pub label: String,
    /// The index file: the local repository's own, or the cache entry.
    pub path: PathBuf,
    /// Its contents, signature checked as asked, parsed (once per file
    /// contents: see [`apk::index::cache`]).
    pub index: ParsedIndex,
}

/// An index file found and read, not yet verified: [`Fetcher::open_index`].
#[derive(Debug)]
pub struct OpenedIndex<'f> {
    fetcher: &'f Fetcher,
    label: String,
    source: IndexSource,
    /// The file read; a failure to read it is reported with the
    /// verification's, as [`Fetcher::fetch_index`] always did.
    opened: Result<apk::index::OpenedIndex, IndexArchiveError>,
}

/// Where an opened index file came from.
#[derive(Debug)]
enum IndexSource {
    /// A local repository's own file.
    Local(PathBuf),
    /// The cached download of `url` (offline).
    Cached { url: String, path: PathBuf },
    /// Just downloaded from `url`, cached once it verified.
    Downloaded {
        url: String,
        tmp: tempfile::NamedTempFile,
    },
}

impl OpenedIndex<'_> {
    /// Verifies the index with `keyring` as `trust` says and parses it
    /// (see [`Fetcher::fetch_index`]).
    pub fn verify(self, keyring: &Keyring, trust: Trust) -> Result<FetchedIndex, FetchError> {
        let OpenedIndex {
            fetcher,
            label,
            source,
            opened,
        } = self;
        let loaded = opened.and_then(|o| o.load(keyring, trust));
        // A remote index's message is about its URL, whatever a server sent.
        let remote_message = |e: IndexArchiveError| escape(&e.to_string()).into_owned();
        match source {
            IndexSource::Local(path) => Ok(FetchedIndex {
                label,
                path,
                index: loaded.map_err(|e| FetchError::Repository(RepositoryError::Index(e)))?,
            }),
            IndexSource::Cached { url, path } => match loaded {
                Ok(index) => Ok(FetchedIndex { label, path, index }),
                Err(e) => {
                    fetcher.cache.evict_index(&url);
                    Err(FetchError::InvalidCachedIndex {
                        message: remote_message(e),
                    })
                }
            },
            IndexSource::Downloaded { url, tmp } => {
                let index = loaded.map_err(|e| FetchError::InvalidIndex {
                    message: remote_message(e),
                })?;
                let path = fetcher.cache.commit_index(&url, tmp)?;
                Ok(FetchedIndex { label, path, index })
            }
        }
    }
}

/// Why an index or package could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A local repository is unusable.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The cache is unusable.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Credentials could not be read.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A limit set in the environment is malformed.
    #[error(transparent)]
    Setting(#[from] InvalidBound),
    /// The HTTP client could not be set up.
    #[error(transparent)]
    Client(HttpError),
    /// A path component is not safe to use.
    #[error(
        "{what} '{}' is not a plain file or directory name; check the index record",
        escape(value)
    )]
    BadName {
        /// `file name` or `architecture`.
        what: &'static str,
        /// The rejected value.
        value: String,
    },
    /// Downloading an index failed.
    #[error("cannot download the {arch} index of {repo}: {error}")]
    IndexDownload {
        /// The repository (redacted).
        repo: String,
        /// The architecture.
        arch: String,
        /// Cause (names the URL).
        #[source]
        error: HttpError,
    },
    /// A downloaded index is not a valid index signed by a trusted key.
    #[error(
        "{message}; the download was discarded (a cached copy, if any, is kept). \
             If the server answered with an HTML page, check the repository URL, proxy or mirror"
    )]
    InvalidIndex {
        /// What failed, naming the URL.
        message: String,
    },
    /// The cached copy of an index no longer verifies.
    #[error("offline: the cached copy of {message}; it was removed, run without --offline to download the index again")]
    InvalidCachedIndex {
        /// What failed, naming the URL.
        message: String,
    },
    /// Downloading a package failed.
    #[error("cannot download package {}: {error}", escape(package))]
    PackageDownload {
        /// `NAME-VERSION`.
        package: String,
        /// Cause (names the URL).
        #[source]
        error: HttpError,
    },
    /// Offline, and the index was never downloaded.
    #[error("offline: no cached copy of the index {url}; run without --offline to download it")]
    IndexNotCached {
        /// The index URL (redacted).
        url: String,
    },
    /// Offline, and packages are not in the cache.
    #[error("offline: package{} {} not in the cache (from {url}); run without --offline to download {}",
        if packages.len() == 1 { "" } else { "s" },
        if packages.len() == 1 { format!("{} is", escape(&packages[0])) } else { format!("{} are", escape(&packages.join(", "))) },
        if packages.len() == 1 { "it" } else { "them" })]
    PackagesNotCached {
        /// `NAME-VERSION` of each missing package.
        packages: Vec<String>,
        /// URL of the first one (redacted).
        url: String,
    },
    /// A downloaded package is not the one its index record names.
    #[error("package {} downloaded from {url} does not match its index record: {problem}; the download was discarded. \
             The mirror may be inconsistent or the index out of date: refresh the index and try again", escape(package))]
    Mismatch {
        /// `NAME-VERSION`.
        package: String,
        /// Where it came from (redacted).
        url: String,
        /// What failed.
        #[source]
        problem: Box<Problem>,
    },
    /// A package of a local repository is missing or not the one its
    /// index record names.
    #[error("package {} in {}: {}; the repository's index may be out of date, regenerate it", escape(package), path.display(), error.problem)]
    Local {
        /// `NAME-VERSION`.
        package: String,
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        error: PackageError,
    },
}

/// Where a repository lives.
enum Location {
    Local(Repository),
    /// Base URL without a trailing `/`.
    Remote(String),
}

fn locate(repo: &str) -> Result<Location, FetchError> {
    let lower = repo.get(..8).unwrap_or(repo).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(Location::Remote(repo.trim_end_matches('/').to_owned()))
    } else {
        Ok(Location::Local(Repository::parse(repo)?))
    }
}

/// The index of the remote repository at `base` for `arch`: the URL
/// [`Fetcher::fetch_index`] downloads (one `/` however `base` ends).
pub fn remote_index_url(base: &str, arch: &str) -> Result<String, FetchError> {
    check_name("architecture", arch)?;
    Ok(format!(
        "{}/{}/APKINDEX.tar.gz",
        base.trim_end_matches('/'),
        encode_segment(arch)
    ))
}

/// Rejects names that could escape a directory or break a URL path.
fn check_name(what: &'static str, value: &str) -> Result<(), FetchError> {
    let bad = value.is_empty()
        || value == "."
        || value == ".."
        || value.contains(['/', '\\'])
        || value.chars().any(char::is_control);
    if bad {
        return Err(FetchError::BadName {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Percent-encodes one URL path segment (keeping what apk file names use).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+@:!$&'()*,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Fetches indexes and packages; shareable between threads.
#[derive(Debug)]
pub struct Fetcher {
    options: FetchOptions,
    cache: Cache,
    http: HttpConfig,
    /// Made on first download: setting up TLS and the client's thread
    /// costs more than reading a local repository does.
    client: std::sync::OnceLock<HttpClient>,
}

impl Fetcher {
    /// Sets up the cache and the HTTP client.
    pub fn new(options: FetchOptions) -> Result<Fetcher, FetchError> {
        bounds::check_all()?;
        let cache = Cache::open(options.cache_dir.clone())?;
        let credentials = match &options.credentials {
            Some(c) => c.clone(),
            None => Credentials::from_env()?,
        };
        let http = HttpConfig {
            retry: options.retry,
            credentials,
            timeout: options.timeout,
            ..HttpConfig::default()
        };
        Ok(Fetcher {
            options,
            cache,
            http,
            client: std::sync::OnceLock::new(),
        })
    }

    /// The HTTP client, set up on first use.
    fn client(&self) -> Result<&HttpClient, FetchError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = HttpClient::new(self.http.clone()).map_err(FetchError::Client)?;
        Ok(self.client.get_or_init(|| client))
    }

    /// The cache in use.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The options in use.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// The index of `repo` for `arch`, verified with `keyring` as `trust`
    /// says: the repository's own file for local repositories; for remote
    /// ones `BASE/ARCH/APKINDEX.tar.gz`, downloaded (at most
    /// [`FetchOptions::max_index_size`] bytes) and cached once it verified,
    /// or, offline, the cached copy, verified again.
    pub fn fetch_index(
        &self,
        repo: &str,
        arch: &str,
        keyring: &Keyring,
        trust: Trust,
    ) -> Result<FetchedIndex, FetchError> {
        self.open_index(repo, arch)?.verify(keyring, trust)
    }

    /// The first half of [`Fetcher::fetch_index`], which needs no keys:
    /// the index file found, downloaded or taken from the cache, read, and
    /// its parsed form looked up meanwhile (see
    /// [`IndexLoader::open_as`]), so that the caller can load the keyring
    /// at the same time. Nothing is trusted or cached before
    /// [`OpenedIndex::verify`].
    pub fn open_index(&self, repo: &str, arch: &str) -> Result<OpenedIndex<'_>, FetchError> {
        let base = match locate(repo)? {
            Location::Local(r) => {
                let path = r.index_path(arch)?;
                let opened = self.index_loader().open_as(&path, &path);
                return Ok(OpenedIndex {
                    fetcher: self,
                    label: strip_credentials(repo),
                    source: IndexSource::Local(path),
                    opened,
                });
            }
            Location::Remote(base) => base,
        };
        let url = remote_index_url(&base, arch)?;
        let shown = strip_credentials(&url);
        let label = strip_credentials(&base);
        let (source, file) = if self.options.offline {
            let path = self
                .cache
                .get_index(&url)
                .ok_or_else(|| FetchError::IndexNotCached { url: shown.clone() })?;
            (
                IndexSource::Cached {
                    url,
                    path: path.clone(),
                },
                path,
            )
        } else {
            let mut tmp = self.cache.temp_index()?;
            let limit = SizeLimit {
                bytes: self.options.max_index_size,
                why: "raise CARGO_ASSEMBLE_MAX_INDEX_SIZE if the index is really this large",
            };
            self.client()?
                .download(&url, tmp.as_file_mut(), limit)
                .map_err(|error| FetchError::IndexDownload {
                    repo: label.clone(),
                    arch: arch.to_owned(),
                    error,
                })?;
            let file = tmp.path().to_owned();
            (IndexSource::Downloaded { url, tmp }, file)
        };
        let opened = self.index_loader().open_as(&file, Path::new(&shown));
        Ok(OpenedIndex {
            fetcher: self,
            label,
            source,
            opened,
        })
    }

    /// The parsed index last verified for a local repository's index
    /// file, found without reading the file ([`IndexLoader::recall`]),
    /// with the file's path; `None` for remote repositories and when
    /// there is none to recall. Nothing of it may be used before
    /// [`apk::index::Recalled::confirm`] accepted it.
    pub fn recall_index(&self, repo: &str, arch: &str) -> Option<(PathBuf, apk::index::Recalled)> {
        let Ok(Location::Local(r)) = locate(repo) else {
            return None;
        };
        let path = r.index_path(arch).ok()?;
        let recalled = self.index_loader().recall(&path)?;
        Some((path, recalled))
    }

    /// Loads indexes through the cache's parsed indexes
    /// (`ROOT/parsed-indexes`), bounded by
    /// [`FetchOptions::max_index_size`].
    fn index_loader(&self) -> IndexLoader {
        IndexLoader::new(Some(self.cache.root().join("parsed-indexes")))
            .with_max_size(self.options.max_index_size)
    }

    /// Local paths to the requested packages, in request order, each
    /// verified against its identity. Up to `parallel` are fetched at once;
    /// the first failure (in request order) is returned, and after a
    /// failure no further downloads start. Offline, every package missing
    /// from the cache is named in one error.
    pub fn fetch_packages(&self, requests: &[PackageRequest]) -> Result<Vec<PathBuf>, FetchError> {
        let n = requests.len();
        let workers = self.options.parallel.clamp(1, n.max(1));
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let mut slots: Vec<Option<Result<PathBuf, FetchError>>> = (0..n).map(|_| None).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        while !failed.load(Ordering::SeqCst) {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(request) = requests.get(i) else {
                                break;
                            };
                            let result = self.fetch_package(request);
                            // Offline misses are cheap: keep going to name them all.
                            if matches!(&result, Err(e) if !matches!(e, FetchError::PackagesNotCached { .. }))
                            {
                                failed.store(true, Ordering::SeqCst);
                            }
                            done.push((i, result));
                        }
                        done
                    })
                })
                .collect();
            for h in handles {
                let done = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                for (i, result) in done {
                    slots[i] = Some(result);
                }
            }
        });

        let mut missing: Option<(Vec<String>, String)> = None;
        let mut first_error = None;
        for slot in slots.iter_mut() {
            match slot.take() {
                Some(Err(FetchError::PackagesNotCached { packages, url })) => {
                    let m = missing.get_or_insert_with(|| (Vec::new(), url));
                    m.0.extend(packages);
                }
                Some(Err(e)) if first_error.is_none() => first_error = Some(e),
                Some(Ok(path)) => *slot = Some(Ok(path)),
                _ => {}
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if let Some((packages, url)) = missing {
            return Err(FetchError::PackagesNotCached { packages, url });
        }
        Ok(slots.into_iter().flatten().filter_map(Result::ok).collect())
    }

    /// Fetches one package (see [`Fetcher::fetch_packages`]). A download is
    /// cut off past the record's size (or [`FetchOptions::max_package_size`]
    /// without one) and cached only once it matches the record's identity.
    pub fn fetch_package(&self, request: &PackageRequest) -> Result<PathBuf, FetchError> {
        check_name("file name", &request.file_name)?;
        check_name("architecture", &request.arch)?;
        let base = match locate(&request.repo)? {
            Location::Local(repo) => {
                let path = repo.package_dir(&request.arch)?.join(&request.file_name);
                return match cache::verify_package(&path, &request.identity) {
                    Ok(()) => Ok(path),
                    Err(error) => Err(FetchError::Local {
                        package: request.package().to_owned(),
                        path,
                        error,
                    }),
                };
            }
            Location::Remote(base) => base,
        };
        if let Some(path) = self.cache.get(&request.identity) {
            return Ok(path);
        }
        let url = format!(
            "{base}/{}/{}",
            encode_segment(&request.arch),
            encode_segment(&request.file_name)
        );
        if self.options.offline {
            return Err(FetchError::PackagesNotCached {
                packages: vec![request.package().to_owned()],
                url: strip_credentials(&url),
            });
        }
        let limit = match request.size {
            Some(bytes) => SizeLimit {
                bytes,
                why: "the index record gives that size; the mirror may be inconsistent or the index out of date",
            },
            None => SizeLimit {
                bytes: self.options.max_package_size,
                why: "the index record gives no size; raise CARGO_ASSEMBLE_MAX_PACKAGE_SIZE if the package is really this large",
            },
        };
        let mut tmp = self.cache.temp_package()?;
        self.client()?
            .download(&url, tmp.as_file_mut(), limit)
            .map_err(|error| FetchError::PackageDownload {
                package: request.package().to_owned(),
                error,
            })?;
        cache::verify_package(tmp.path(), &request.identity).map_err(|error| {
            FetchError::Mismatch {
                package: request.package().to_owned(),
                url: strip_credentials(&url),
                problem: error.problem,
            }
        })?;
        Ok(self.cache.commit_package(&request.identity, tmp)?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use super::*;
    use apk::signature::SigningKey;
    use testkit::mirror::{Behaviour, Mirror};
    use testkit::repo::{Pkg, Repo};

    /// The signing key of every fixture repository (generated once).
    fn key() -> SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate("fetch-test.rsa.pub", 2048).unwrap())
            .clone()
    }

    /// A signed repository with three x86_64 packages, made by our writer.
    pub(crate) struct Fixture {
        _dir: tempfile::TempDir,
        /// The repository root (holds `x86_64/`).
        pub root: PathBuf,
        /// The keyring trusting it.
        pub keyring: Keyring,
        /// (path, file name, identity, size) of each package.
        pub packages: Vec<(PathBuf, String, Checksum, Option<u64>)>,
    }

    pub(crate) fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let mut repo = Repo::with_key(&root, key());
        let mut packages = Vec::new();
        for (name, size) in [("alpha", 10), ("beta", 5000), ("gamma", 70_000)] {
            let content = vec![b'x'; size];
            let rec = repo.add(Pkg::new(name, "1.0-r0").file(
                &format!("usr/share/{name}"),
                &content,
                0o644,
            ));
            let file = format!("{name}-1.0-r0.apk");
            packages.push((
                root.join("x86_64").join(&file),
                file,
                rec.checksum.unwrap(),
                rec.size,
            ));
        }
        repo.write_index();
        let keyring = Keyring::load(&[repo.key_path()]).unwrap();
        Fixture {
            _dir: dir,
            root,
            keyring,
            packages,
        }
    }

    impl Fixture {
        fn requests(&self, repo: &str) -> Vec<PackageRequest> {
            self.packages
                .iter()
                .map(|(_, file_name, identity, size)| PackageRequest {
                    repo: repo.to_owned(),
                    arch: "x86_64".into(),
                    file_name: file_name.clone(),
                    identity: *identity,
                    size: *size,
                })
                .collect()
        }
    }

    fn options(cache: &Path) -> FetchOptions {
        FetchOptions {
            offline: false,
            cache_dir: Some(cache.to_owned()),
            parallel: 3,
            retry: RetryPolicy {
                attempts: 4,
                initial_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            },
            credentials: Some(Credentials::none()),
            timeout: Duration::from_secs(60),
            max_index_size: 1 << 20,
            max_package_size: 1 << 20,
        }
    }

    fn fetcher(options: FetchOptions) -> Fetcher {
        Fetcher::new(options).unwrap()
    }

    /// Regular files in the cache (temporary files included).
    fn cache_files(cache: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for sub in ["packages", "indexes"] {
            if let Ok(entries) = std::fs::read_dir(cache.join(sub)) {
                out.extend(entries.map(|e| e.unwrap().path()));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn downloads_verify_and_cache() {
        let fx = fixture();
        let server = Mirror::start(&fx.root, Behaviour::Files);
        let cache = tempfile::tempdir().unwrap();
        let reqs = fx.requests(&format!("{}/", server.base));
        let paths = fetcher(options(cache.path()))
            .fetch_packages(&reqs)
            .unwrap();
        assert_eq!(server.hits(), reqs.len());
        assert_eq!(paths.len(), reqs.len());
        for (p, r) in paths.iter().zip(&reqs) {
            assert!(p.starts_with(cache.path()), "{}", p.display());
            cache::verify_package(p, &r.identity).unwrap();
        }

        // Second run, new fetcher: served from the cache, no request.
        let again = fetcher(options(cache.path()))
            .fetch_packages(&reqs)
            .unwrap();
        assert_eq!(again, paths);
        assert_eq!(server.hits(), reqs.len());
        // Offline works from the cache too.
        let offline = fetcher(FetchOptions {
            offline: true,
            ..options(cache.path())
        });
        assert_eq!(offline.fetch_packages(&reqs).unwrap(), paths);
        assert_eq!(server.hits(), reqs.len());

        // A corrupt entry is evicted and downloaded again.
        std::fs::write(&paths[1], b"garbage").unwrap();
        let healed = fetcher(options(cache.path()))
            .fetch_packages(&reqs)
            .unwrap();
        assert_eq!(healed, paths);
        assert_eq!(server.hits(), reqs.len() + 1);
        cache::verify_package(&paths[1], &reqs[1].identity).unwrap();
        // Truncated entry, offline: evicted, then a miss naming it.
        let len = std::fs::metadata(&paths[0]).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(&paths[0])
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let e = offline.fetch_packages(&reqs).unwrap_err().to_string();
        assert!(
            e.contains(reqs[0].package()) && e.contains("--offline"),
            "{e}"
        );
        assert!(!paths[0].exists());
    }

    #[test]
    fn offline_misses_name_every_package() {
        let fx = fixture();
        let cache = tempfile::tempdir().unwrap();
        let reqs = fx.requests("https://user:topsecret@repo.invalid/alpine");
        let f = fetcher(FetchOptions {
            offline: true,
            ..options(cache.path())
        });
        let e = f.fetch_packages(&reqs).unwrap_err();
        let text = e.to_string();
        for r in &reqs {
            assert!(text.contains(r.package()), "{text}");
        }
        assert!(text.contains("run without --offline"), "{text}");
        assert!(
            text.contains("https://repo.invalid/alpine/x86_64/"),
            "{text}"
        );
        assert!(!text.contains("topsecret") && !format!("{e:?}").contains("topsecret"));

        let e = f
            .fetch_index(
                "https://user:topsecret@repo.invalid/alpine",
                "x86_64",
                &fx.keyring,
                Trust::Verify,
            )
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("https://repo.invalid/alpine/x86_64/APKINDEX.tar.gz")
                && text.contains("--offline"),
            "{text}"
        );
        assert!(!text.contains("topsecret") && !format!("{e:?}").contains("topsecret"));
    }

    #[test]
    fn retries_server_errors() {
        let fx = fixture();
        let server = Mirror::start(&fx.root, Behaviour::FailFirst(2, 503));
        let cache = tempfile::tempdir().unwrap();
        let reqs = fx.requests(&server.base);
        let paths = fetcher(options(cache.path()))
            .fetch_packages(&reqs[..1])
            .unwrap();
        assert_eq!(server.hits(), 3, "two 503s, then success");
        cache::verify_package(&paths[0], &reqs[0].identity).unwrap();

        let server = Mirror::start(&fx.root, Behaviour::Always(503));
        let e = fetcher(options(cache.path()))
            .fetch_packages(&fx.requests(&server.base)[1..2])
            .unwrap_err();
        assert_eq!(server.hits(), 4, "gives up after 4 attempts");
        let text = e.to_string();
        assert!(
            text.contains("503") && text.contains("4 attempts"),
            "{text}"
        );
    }

    #[test]
    fn not_found_is_not_retried() {
        let fx = fixture();
        let server = Mirror::start(&fx.root, Behaviour::Always(404));
        let cache = tempfile::tempdir().unwrap();
        let reqs = fx.requests(&server.base);
        let e = fetcher(options(cache.path()))
            .fetch_packages(&reqs[..1])
            .unwrap_err();
        assert_eq!(server.hits(), 1);
        let text = e.to_string();
        let url = format!("{}/x86_64/{}", server.base, reqs[0].file_name);
        assert!(text.contains("404") && text.contains(&url), "{text}");
        assert!(text.contains(reqs[0].package()), "{text}");
        assert!(matches!(
            e,
            FetchError::PackageDownload {
                error: HttpError::Status { status: 404, .. },
                ..
            }
        ));
        let e = fetcher(options(cache.path()))
            .fetch_index(&server.base, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap_err();
        assert!(e.to_string().contains("APKINDEX.tar.gz"), "{e}");
        assert_eq!(server.hits(), 2);
    }

    #[test]
    fn basic_auth() {
        let fx = fixture();
        let password = "pa:ss w0rd";
        let server = Mirror::start(
            &fx.root,
            Behaviour::BasicAuth("alice".into(), password.into()),
        );
        let reqs = fx.requests(&server.base);

        let cache = tempfile::tempdir().unwrap();
        let creds =
            Credentials::from_http_auth(&format!("basic:127.0.0.1:alice:{password}")).unwrap();
        let f = fetcher(FetchOptions {
            credentials: Some(creds),
            ..options(cache.path())
        });
        f.fetch_packages(&reqs[..1]).unwrap();
        f.fetch_index(&server.base, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap();
        assert_eq!(server.hits(), 2);

        // Credentials written in the URL work too, and are never shown.
        let url = server
            .base
            .replace("http://", &format!("http://alice:{}@", "pa%3Ass%20w0rd"));
        let cache2 = tempfile::tempdir().unwrap();
        let f2 = fetcher(options(cache2.path()));
        let idx = f2
            .fetch_index(&url, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap();
        assert_eq!(idx.label, server.base);
        assert_eq!(server.hits(), 3);

        // Without credentials: 401 at once, with a hint.
        let cache = tempfile::tempdir().unwrap();
        let e = fetcher(options(cache.path()))
            .fetch_packages(&reqs[..1])
            .unwrap_err();
        assert_eq!(server.hits(), 4);
        let text = e.to_string();
        assert!(text.contains("401") && text.contains("HTTP_AUTH"), "{text}");

        // Wrong credentials, in the URL and in HTTP_AUTH: never shown.
        let creds = Credentials::from_http_auth("basic:127.0.0.1:alice:wrong-secret").unwrap();
        let f = fetcher(FetchOptions {
            credentials: Some(creds),
            ..options(cache.path())
        });
        let e = f.fetch_packages(&reqs[..1]).unwrap_err();
        let url = server.base.replace("http://", "http://alice:url-secret@");
        let e2 = f.fetch_packages(&fx.requests(&url)[..1]).unwrap_err();
        let e3 = f
            .fetch_index(&url, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap_err();
        for text in [
            e.to_string(),
            format!("{e:?}"),
            e2.to_string(),
            format!("{e2:?}"),
            e3.to_string(),
            format!("{e3:?}"),
            format!("{f:?}"),
        ] {
            for secret in [password, "wrong-secret", "url-secret"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
        assert!(e2.to_string().contains(&server.base), "{e2}");
        assert_eq!(server.hits(), 7);
    }

    #[test]
    fn credentials_do_not_follow_a_redirect_to_another_host() {
        let fx = fixture();
        let elsewhere = Mirror::start(&fx.root, Behaviour::Files);
        let first = Mirror::start(&fx.root, Behaviour::Redirect(elsewhere.base.clone()));
        let cache = tempfile::tempdir().unwrap();
        let url = first.base.replace("http://", "http://alice:s3cret@");
        let creds = Credentials::from_http_auth("basic:127.0.0.1:bob:other").unwrap();
        let f = fetcher(FetchOptions {
            credentials: Some(creds),
            ..options(cache.path())
        });
        f.fetch_index(&url, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap();
        f.fetch_packages(&fx.requests(&first.base)[..1]).unwrap();
        assert!(first.requests().iter().all(|r| r.ends_with("[auth]")));
        assert_eq!(elsewhere.requests().len(), 2);
        assert!(
            elsewhere.requests().iter().all(|r| !r.ends_with("[auth]")),
            "{:?}",
            elsewhere.requests()
        );
    }

    #[test]
    fn rejects_wrong_or_oversized_content() {
        let fx = fixture();
        let server = Mirror::start(&fx.root, Behaviour::Files);
        let cache = tempfile::tempdir().unwrap();
        let f = fetcher(options(cache.path()));
        let reqs = fx.requests(&server.base);
        // The file of one package under the identity of another.
        let wrong = PackageRequest {
            identity: reqs[1].identity,
            ..reqs[0].clone()
        };
        let e = f.fetch_packages(&[wrong]).unwrap_err();
        assert!(matches!(e, FetchError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains(reqs[0].package()), "{e}");
        assert!(f.cache().get(&reqs[1].identity).is_none());
        assert_eq!(cache_files(cache.path()), Vec::<PathBuf>::new());

        let small = PackageRequest {
            size: Some(10),
            ..reqs[0].clone()
        };
        let e = f.fetch_package(&small).unwrap_err();
        assert!(
            matches!(
                &e,
                FetchError::PackageDownload {
                    error: HttpError::TooLarge { .. },
                    ..
                }
            ),
            "{e}"
        );
        let bad = PackageRequest {
            file_name: "../x.apk".into(),
            ..reqs[0].clone()
        };
        assert!(matches!(
            f.fetch_package(&bad),
            Err(FetchError::BadName { .. })
        ));
        // Without a size in the record, the configured cap applies.
        let unsized_ = PackageRequest {
            size: None,
            ..reqs[2].clone()
        };
        let capped = fetcher(FetchOptions {
            max_package_size: 100,
            ..options(cache.path())
        });
        let e = capped.fetch_package(&unsized_).unwrap_err().to_string();
        assert!(e.contains("CARGO_ASSEMBLE_MAX_PACKAGE_SIZE"), "{e}");
        assert_eq!(cache_files(cache.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn indexes_download_verified_and_serve_offline() {
        let fx = fixture();
        let server = Mirror::start(&fx.root, Behaviour::Files);
        let cache = tempfile::tempdir().unwrap();
        let got = fetcher(options(cache.path()))
            .fetch_index(&server.base, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap();
        assert!(got.path.starts_with(cache.path()));
        assert!(got.index.records().any(|r| r.info.name == "beta"));
        let original = fx.root.join("x86_64/APKINDEX.tar.gz");
        assert_eq!(
            std::fs::read(&got.path).unwrap(),
            std::fs::read(original).unwrap()
        );
        let offline = fetcher(FetchOptions {
            offline: true,
            ..options(cache.path())
        });
        let again = offline
            .fetch_index(&server.base, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap();
        assert_eq!(again.path, got.path);
        assert_eq!(server.hits(), 1);
        let e = offline
            .fetch_index(&server.base, "aarch64", &fx.keyring, Trust::Verify)
            .unwrap_err();
        assert!(matches!(e, FetchError::IndexNotCached { .. }), "{e}");

        // A cached copy that was tampered with is refused and removed.
        let mut bytes = std::fs::read(&got.path).unwrap();
        let n = bytes.len() - 30;
        bytes[n] ^= 0xff;
        std::fs::write(&got.path, bytes).unwrap();
        let e = offline
            .fetch_index(&server.base, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, FetchError::InvalidCachedIndex { .. }), "{text}");
        assert!(text.contains(&format!("{}/x86_64/APKINDEX.tar.gz", server.base)));
        assert!(
            !text.contains(&cache.path().display().to_string()),
            "{text}"
        );
        assert!(!got.path.exists());
    }

    #[test]
    fn a_bad_download_never_replaces_a_good_cached_index() {
        let fx = fixture();
        let cache = tempfile::tempdir().unwrap();
        let good = Mirror::start(&fx.root, Behaviour::Files);
        let f = fetcher(options(cache.path()));
        let cached = f
            .fetch_index(&good.base, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap()
            .path;
        let before = std::fs::read(&cached).unwrap();
        // Same URL (same port), now answering with HTML, with an unsigned
        // index, and with one signed by a key nobody trusts.
        let base = good.base.clone();
        let stranger = tempfile::tempdir().unwrap();
        let mut other = Repo::new(&stranger.path().join("r"), "stranger");
        other.add(Pkg::new("alpha", "9-r0"));
        other.write_index();
        let cases = [
            (fx.root.clone(), Behaviour::Html, "not a gzip"),
            (stranger.path().join("r"), Behaviour::Files, "stranger"),
        ];
        for (root, behaviour, why) in cases {
            good.set(&root, behaviour);
            let e = f
                .fetch_index(&base, "x86_64", &fx.keyring, Trust::Verify)
                .unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, FetchError::InvalidIndex { .. }), "{text}");
            assert!(
                text.contains(&format!("{base}/x86_64/APKINDEX.tar.gz")) && text.contains(why),
                "{text}"
            );
            assert!(
                !text.contains(&cache.path().display().to_string()),
                "{text}"
            );
            assert!(!text.contains('\x1b'), "{text}");
            assert_eq!(std::fs::read(&cached).unwrap(), before);
            assert_eq!(cache_files(cache.path()), vec![cached.clone()]);
        }
    }

    #[test]
    fn endless_bodies_are_cut_off() {
        let fx = fixture();
        let server = Mirror::start(&fx.root, Behaviour::Endless);
        let cache = tempfile::tempdir().unwrap();
        let f = fetcher(options(cache.path()));
        let e = f
            .fetch_index(&server.base, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("larger than the limit of 1 MiB")
                && text.contains("CARGO_ASSEMBLE_MAX_INDEX_SIZE"),
            "{text}"
        );
        let e = f.fetch_packages(&fx.requests(&server.base)).unwrap_err();
        assert!(
            matches!(
                e,
                FetchError::PackageDownload {
                    error: HttpError::TooLarge { .. },
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(cache_files(cache.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_dripping_server_meets_the_deadline() {
        let fx = fixture();
        let server = Mirror::start(&fx.root, Behaviour::Drip(Duration::from_millis(400)));
        let cache = tempfile::tempdir().unwrap();
        let f = fetcher(FetchOptions {
            timeout: Duration::from_secs(2),
            ..options(cache.path())
        });
        let started = Instant::now();
        let e = f
            .fetch_index(&server.base, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(
                e,
                FetchError::IndexDownload {
                    error: HttpError::Timeout { seconds: 2, .. },
                    ..
                }
            ),
            "{text}"
        );
        assert!(text.contains("CARGO_ASSEMBLE_HTTP_TIMEOUT"), "{text}");
        // Not a benchmark: the transfer would otherwise take many minutes.
        assert!(started.elapsed() < Duration::from_secs(60));
        assert_eq!(cache_files(cache.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn local_repositories_are_used_in_place() {
        let fx = fixture();
        let cache = tempfile::tempdir().unwrap();
        let repo = format!("file://{}", fx.root.display());
        let f = fetcher(FetchOptions {
            offline: true,
            ..options(cache.path())
        });
        assert!(f
            .fetch_index(&repo, "x86_64", &fx.keyring, Trust::Verify)
            .unwrap()
            .path
            .starts_with(&fx.root));
        let e = f
            .fetch_index(&repo, "x86_64", &Keyring::new(), Trust::Verify)
            .unwrap_err();
        assert!(e.to_string().contains("fetch-test.rsa.pub"), "{e}");
        let reqs = fx.requests(&repo);
        let paths = f.fetch_packages(&reqs).unwrap();
        let expected: Vec<_> = fx.packages.iter().map(|(p, ..)| p.clone()).collect();
        assert_eq!(paths, expected);
        let wrong = PackageRequest {
            identity: reqs[1].identity,
            ..reqs[0].clone()
        };
        let e = f.fetch_packages(&[wrong]).unwrap_err();
        assert!(matches!(e, FetchError::Local { .. }), "{e}");
        assert!(e.to_string().contains(reqs[0].package()), "{e}");
        assert!(f.fetch_packages(&[]).unwrap().is_empty());
    }
}
