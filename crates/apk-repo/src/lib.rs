//! Getting repository indexes and packages from local paths, `file://` and
//! `http(s)://` repositories, through a content-addressed cache.
//!
//! - [`auth`]: credentials from `HTTP_AUTH` and `~/.netrc`, never printed.
//! - [`http`]: a blocking client with timeouts, retries and Basic auth.
//! - [`cache`]: packages keyed by identity, indexes keyed by URL.
//!
//! A [`Fetcher`] hands out local paths: a local repository's own files
//! (verified, not copied), or cache entries for remote ones. Every package
//! is checked against the identity its index record gives before it is
//! cached or returned. With `offline`, remote repositories are served from
//! the cache only.

pub mod auth;
pub mod cache;
pub mod http;
pub mod repository;

#[cfg(test)]
mod testserver;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub use auth::{AuthError, Credentials, Secret};
pub use cache::{Cache, CacheError};
pub use http::{HttpClient, HttpConfig, HttpError, RetryPolicy};

use crate::repository::{Repository, RepositoryError};
use apk::checksum::Checksum;
use apk::package::read::PackageError;
use auth::redact_url;

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
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            offline: false,
            cache_dir: None,
            parallel: 4,
            retry: RetryPolicy::default(),
            credentials: None,
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
    /// The HTTP client could not be set up.
    #[error(transparent)]
    Client(HttpError),
    /// A path component is not safe to use.
    #[error("{what} '{value}' is not a plain file or directory name; check the index record")]
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
    /// Downloading a package failed.
    #[error("cannot download package {package}: {error}")]
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
        if packages.len() == 1 { format!("{} is", packages[0]) } else { format!("{} are", packages.join(", ")) },
        if packages.len() == 1 { "it" } else { "them" })]
    PackagesNotCached {
        /// `NAME-VERSION` of each missing package.
        packages: Vec<String>,
        /// URL of the first one (redacted).
        url: String,
    },
    /// A downloaded package is not the one its index record names.
    #[error("package {package} downloaded from {url} does not match its index record: {}; the mirror may be inconsistent or the index out of date, refresh the index and try again", error.problem)]
    Mismatch {
        /// `NAME-VERSION`.
        package: String,
        /// Where it came from (redacted).
        url: String,
        /// What failed.
        #[source]
        error: PackageError,
    },
    /// A package of a local repository is missing or not the one its
    /// index record names.
    #[error("package {package} in {}: {}; the repository's index may be out of date, regenerate it", path.display(), error.problem)]
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
    client: HttpClient,
}

impl Fetcher {
    /// Sets up the cache and the HTTP client.
    pub fn new(options: FetchOptions) -> Result<Fetcher, FetchError> {
        let cache = Cache::open(options.cache_dir.clone())?;
        let credentials = match &options.credentials {
            Some(c) => c.clone(),
            None => Credentials::from_env()?,
        };
        let client = HttpClient::new(HttpConfig {
            retry: options.retry,
            credentials,
            ..HttpConfig::default()
        })
        .map_err(FetchError::Client)?;
        Ok(Fetcher {
            options,
            cache,
            client,
        })
    }

    /// The cache in use.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The options in use.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// A local path to the index of `repo` for `arch`: the repository's own
    /// file for local repositories; for remote ones `BASE/ARCH/APKINDEX.tar.gz`
    /// freshly downloaded into the cache, or, offline, the cached copy. The
    /// caller verifies the index's signature when loading it.
    pub fn fetch_index(&self, repo: &str, arch: &str) -> Result<PathBuf, FetchError> {
        let base = match locate(repo)? {
            Location::Local(r) => return Ok(r.index_path(arch)?),
            Location::Remote(base) => base,
        };
        check_name("architecture", arch)?;
        let url = format!("{base}/{}/APKINDEX.tar.gz", encode_segment(arch));
        if self.options.offline {
            return self
                .cache
                .get_index(&url)
                .ok_or_else(|| FetchError::IndexNotCached {
                    url: redact_url(&url),
                });
        }
        let mut tmp = self.cache.temp_index()?;
        self.client
            .download(&url, tmp.as_file_mut(), None)
            .map_err(|error| FetchError::IndexDownload {
                repo: redact_url(&base),
                arch: arch.to_owned(),
                error,
            })?;
        Ok(self.cache.commit_index(&url, tmp)?)
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

    /// Fetches one package (see [`Fetcher::fetch_packages`]).
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
                url: redact_url(&url),
            });
        }
        let mut tmp = self.cache.temp_package()?;
        self.client
            .download(&url, tmp.as_file_mut(), request.size)
            .map_err(|error| FetchError::PackageDownload {
                package: request.package().to_owned(),
                error,
            })?;
        cache::verify_package(tmp.path(), &request.identity).map_err(|error| {
            FetchError::Mismatch {
                package: request.package().to_owned(),
                url: redact_url(&url),
                error,
            }
        })?;
        Ok(self.cache.commit_package(&request.identity, tmp)?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::testserver::{Mode, Server};
    use super::*;
    use apk::index::archive::{self, Trust};
    use apk::index::text::{self, Strictness};
    use apk::signature::Keyring;

    /// The repository holding `x86_64/*.apk` and `x86_64/APKINDEX.tar.gz`.
    pub(crate) fn corpus_repo() -> PathBuf {
        testkit::corpus("apk/repo-small/packages")
    }

    /// Each corpus package: (path, file name, identity, size), from the index.
    pub(crate) fn corpus_index() -> Vec<(PathBuf, String, Checksum, Option<u64>)> {
        let dir = corpus_repo().join("x86_64");
        let index = archive::read_file(
            &dir.join("APKINDEX.tar.gz"),
            &Keyring::new(),
            Trust::AllowUntrusted,
        )
        .unwrap();
        let parsed = text::parse(&index.text, "APKINDEX", Strictness::Lenient).unwrap();
        let out: Vec<_> = parsed
            .records
            .iter()
            .map(|r| {
                let file = format!("{}-{}.apk", r.info.name, r.info.version);
                (dir.join(&file), file, r.info.checksum.unwrap(), r.info.size)
            })
            .collect();
        assert!(out.len() >= 3, "corpus index lists {} packages", out.len());
        out
    }

    /// (path, identity) of each corpus package.
    pub(crate) fn corpus_packages() -> Vec<(PathBuf, Checksum)> {
        corpus_index()
            .into_iter()
            .map(|(p, _, c, _)| (p, c))
            .collect()
    }

    fn requests(repo: &str) -> Vec<PackageRequest> {
        corpus_index()
            .into_iter()
            .map(|(_, file_name, identity, size)| PackageRequest {
                repo: repo.to_owned(),
                arch: "x86_64".into(),
                file_name,
                identity,
                size,
            })
            .collect()
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
        }
    }

    fn fetcher(options: FetchOptions) -> Fetcher {
        Fetcher::new(options).unwrap()
    }

    #[test]
    fn downloads_verify_and_cache() {
        let server = Server::start(&corpus_repo(), Mode::Files);
        let cache = tempfile::tempdir().unwrap();
        let reqs = requests(&format!("{}/", server.base));
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
        let cache = tempfile::tempdir().unwrap();
        let reqs = requests("https://user:topsecret@repo.invalid/alpine");
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
            .fetch_index("https://user:topsecret@repo.invalid/alpine", "x86_64")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("https://repo.invalid/alpine/x86_64/APKINDEX.tar.gz")
                && e.contains("--offline"),
            "{e}"
        );
        assert!(!e.contains("topsecret"), "{e}");
    }

    #[test]
    fn retries_server_errors() {
        let server = Server::start(&corpus_repo(), Mode::FailFirst(2, 503));
        let cache = tempfile::tempdir().unwrap();
        let reqs = requests(&server.base);
        let paths = fetcher(options(cache.path()))
            .fetch_packages(&reqs[..1])
            .unwrap();
        assert_eq!(server.hits(), 3, "two 503s, then success");
        cache::verify_package(&paths[0], &reqs[0].identity).unwrap();

        let server = Server::start(&corpus_repo(), Mode::Always(503));
        let e = fetcher(options(cache.path()))
            .fetch_packages(&requests(&server.base)[1..2])
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
        let server = Server::start(&corpus_repo(), Mode::Always(404));
        let cache = tempfile::tempdir().unwrap();
        let reqs = requests(&server.base);
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
            .fetch_index(&server.base, "x86_64")
            .unwrap_err();
        assert!(e.to_string().contains("APKINDEX.tar.gz"), "{e}");
        assert_eq!(server.hits(), 2);
    }

    #[test]
    fn basic_auth() {
        let password = "pa:ss w0rd";
        let server = Server::start(
            &corpus_repo(),
            Mode::BasicAuth("alice".into(), password.into()),
        );
        let reqs = requests(&server.base);

        let cache = tempfile::tempdir().unwrap();
        let creds =
            Credentials::from_http_auth(&format!("basic:127.0.0.1:alice:{password}")).unwrap();
        let f = fetcher(FetchOptions {
            credentials: Some(creds),
            ..options(cache.path())
        });
        f.fetch_packages(&reqs[..1]).unwrap();
        f.fetch_index(&server.base, "x86_64").unwrap();
        assert_eq!(server.hits(), 2);

        // Without credentials: 401 at once, with a hint.
        let cache = tempfile::tempdir().unwrap();
        let e = fetcher(options(cache.path()))
            .fetch_packages(&reqs[..1])
            .unwrap_err();
        assert_eq!(server.hits(), 3);
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
        let e2 = f.fetch_packages(&requests(&url)[..1]).unwrap_err();
        let e3 = f.fetch_index(&url, "x86_64").unwrap_err();
        for text in [
            e.to_string(),
            format!("{e:?}"),
            e2.to_string(),
            format!("{e2:?}"),
            e3.to_string(),
            format!("{f:?}"),
        ] {
            for secret in [password, "wrong-secret", "url-secret"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
        assert!(e2.to_string().contains(&server.base), "{e2}");
        assert_eq!(server.hits(), 6);
    }

    #[test]
    fn rejects_wrong_or_oversized_content() {
        let server = Server::start(&corpus_repo(), Mode::Files);
        let cache = tempfile::tempdir().unwrap();
        let f = fetcher(options(cache.path()));
        let reqs = requests(&server.base);
        // The file of one package under the identity of another.
        let wrong = PackageRequest {
            identity: reqs[1].identity,
            ..reqs[0].clone()
        };
        let e = f.fetch_packages(&[wrong]).unwrap_err();
        assert!(matches!(e, FetchError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains(reqs[0].package()), "{e}");
        assert!(f.cache().get(&reqs[1].identity).is_none());
        assert!(std::fs::read_dir(cache.path().join("packages"))
            .unwrap()
            .next()
            .is_none());

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
    }

    #[test]
    fn indexes_download_and_serve_offline() {
        let server = Server::start(&corpus_repo(), Mode::Files);
        let cache = tempfile::tempdir().unwrap();
        let path = fetcher(options(cache.path()))
            .fetch_index(&server.base, "x86_64")
            .unwrap();
        assert!(path.starts_with(cache.path()));
        let original = corpus_repo().join("x86_64/APKINDEX.tar.gz");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(original).unwrap()
        );
        let offline = fetcher(FetchOptions {
            offline: true,
            ..options(cache.path())
        });
        assert_eq!(offline.fetch_index(&server.base, "x86_64").unwrap(), path);
        assert_eq!(server.hits(), 1);
        let e = offline.fetch_index(&server.base, "aarch64").unwrap_err();
        assert!(matches!(e, FetchError::IndexNotCached { .. }), "{e}");
    }

    #[test]
    fn local_repositories_are_used_in_place() {
        let cache = tempfile::tempdir().unwrap();
        let repo = format!("file://{}", corpus_repo().display());
        let f = fetcher(FetchOptions {
            offline: true,
            ..options(cache.path())
        });
        assert!(f
            .fetch_index(&repo, "x86_64")
            .unwrap()
            .starts_with(corpus_repo()));
        let reqs = requests(&repo);
        let paths = f.fetch_packages(&reqs).unwrap();
        let expected: Vec<_> = corpus_index().into_iter().map(|(p, ..)| p).collect();
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
