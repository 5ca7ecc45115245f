//! OCI registries (the distribution API): pulling a source image into the
//! content-addressed cache so the build reads it like a layout, pushing a
//! finished layout, and the credentials and transport both need.
//!
//! Why each file exists:
//!
//! * [`reference`](mod@reference) — `docker://` references, normalised as docker does;
//! * [`auth`] — credential files and helpers, `login`/`logout` storage,
//!   `WWW-Authenticate` challenges;
//! * `transport` — HTTPS with the system roots, `SSL_CERT_FILE` and
//!   `certs.d`, plain HTTP only where allowed, Basic and Bearer token
//!   authentication, retries with backoff under one deadline, typed errors;
//! * `cache` — verified blobs under the user cache directory;
//! * `pull` — tag → digest, manifests, lazily fetched blobs, copying an
//!   image into a layout;
//! * `push` — a layout's blobs (skipped, mounted or streamed, in parallel),
//!   manifests as their exact bytes, referrers, tags last.
//!
//! This is our own small client on blocking `reqwest` rather than
//! `oci-client`: see the README's "Registries" section for why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub mod auth;
mod cache;
pub(crate) mod pull;
mod push;
pub mod reference;
mod transport;

pub use auth::{AuthConfig, Credential, CredentialSource, Secret, SecretKind, Stored};
pub use pull::Resolved;
pub use push::{
    BlobOutcome, PushEvent, PushOptions, PushReport, PushedImage, PushedPlatform, PushedReferrer,
};
pub use reference::RegistryRef;

use cache::BlobCache;
use transport::Transport;

/// Hosts allowed plain HTTP besides loopback (comma or space separated
/// `HOST[:PORT]`), like `--insecure-registry`.
pub const INSECURE_ENV: &str = "CARGO_ASSEMBLE_INSECURE_REGISTRIES";
/// Overrides the `certs.d` roots (a path list; default
/// `/etc/docker/certs.d` and `/etc/containers/certs.d`).
pub const CERTS_D_ENV: &str = "CARGO_ASSEMBLE_CERTS_D";
/// Overall deadline of one registry operation, in seconds.
pub const TIMEOUT_ENV: &str = "CARGO_ASSEMBLE_REGISTRY_TIMEOUT";
/// The cache root shared with the APK cache.
pub const CACHE_ENV: &str = "CARGO_ASSEMBLE_CACHE";

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Where credentials come from.
    pub auth: AuthConfig,
    /// Registries (`HOST` or `HOST:PORT`) that may be reached over plain
    /// HTTP; loopback registries always may.
    pub insecure: Vec<String>,
    /// `certs.d` roots: `ROOT/HOST[:PORT]/*.crt` are trusted for that
    /// registry, `client.cert`/`client.key` are its client certificate.
    pub certs_d: Vec<PathBuf>,
    /// Extra CA bundles trusted for every host (`SSL_CERT_FILE`).
    pub ca_files: Vec<PathBuf>,
    /// Cache root (`None`: `$CARGO_ASSEMBLE_CACHE`, else the user cache
    /// directory's `cargo-assemble`).
    pub cache_dir: Option<PathBuf>,
    /// Deadline of one operation (a pull, a push, a login).
    pub timeout: Duration,
    /// Limit of one small request (ping, manifest, token, HEAD).
    pub request_timeout: Duration,
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts per request (connection errors, 5xx and 429 are retried).
    pub attempts: u32,
    /// Delay before the second attempt, doubled for each further one.
    pub retry_delay: Duration,
    /// Blobs transferred in parallel.
    pub jobs: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            auth: AuthConfig::default(),
            insecure: Vec::new(),
            certs_d: vec![
                PathBuf::from("/etc/docker/certs.d"),
                PathBuf::from("/etc/containers/certs.d"),
            ],
            ca_files: Vec::new(),
            cache_dir: None,
            timeout: Duration::from_secs(30 * 60),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            attempts: 4,
            retry_delay: Duration::from_millis(200),
            jobs: 4,
        }
    }
}

impl RegistryOptions {
    /// Defaults plus the environment: credential files ([`AuthConfig::from_env`]),
    /// [`INSECURE_ENV`], [`CERTS_D_ENV`], `SSL_CERT_FILE`, [`CACHE_ENV`],
    /// [`TIMEOUT_ENV`].
    pub fn from_env() -> RegistryOptions {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut o = RegistryOptions {
            auth: AuthConfig::from_env(),
            ..RegistryOptions::default()
        };
        if let Some(v) = var(INSECURE_ENV) {
            o.insecure = split_list(&v.to_string_lossy());
        }
        if let Some(v) = var(CERTS_D_ENV) {
            o.certs_d = std::env::split_paths(&v).collect();
        }
        if let Some(v) = var("SSL_CERT_FILE") {
            o.ca_files.push(PathBuf::from(v));
        }
        if let Some(v) = var(TIMEOUT_ENV).and_then(|v| v.to_str()?.trim().parse::<u64>().ok()) {
            o.timeout = Duration::from_secs(v.max(1));
        }
        o
    }
}

/// `a, b c` → `[a, b, c]`.
fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Everything that can go wrong talking to a registry. Messages name the
/// registry and reference; credentials appear only as their source.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry refused the credentials (or their absence).
    #[error("{registry}: unauthorized (HTTP {status}) for {target}; tried {tried}; log in with `cargo assemble login {registry}` or fix the credentials there")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// The reference or operation.
        target: String,
        /// 401, or 403 from a token server.
        status: u16,
        /// Which credential source was tried (never its value).
        tried: String,
    },
    /// Authenticated, but not allowed.
    #[error("{registry}: access denied (HTTP 403) for {target}; tried {tried}; the account may not {action} this repository")]
    Denied {
        /// The registry.
        registry: String,
        /// The reference or operation.
        target: String,
        /// Which credential source was tried.
        tried: String,
        /// `pull from` or `push to`.
        action: &'static str,
    },
    /// 404: the repository, tag, manifest or blob does not exist.
    #[error("{target}: {what} unknown to the registry (HTTP 404{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    NotFound {
        /// The reference.
        target: String,
        /// `repository or tag`, `blob sha256:…`, …
        what: String,
        /// The registry's error code (`MANIFEST_UNKNOWN`, …), escaped.
        code: Option<String>,
    },
    /// Any other unexpected answer.
    #[error("{target}: {action} failed: the registry answered HTTP {status}{detail}")]
    Status {
        /// The reference.
        target: String,
        /// What we were doing.
        action: String,
        /// The status.
        status: u16,
        /// The registry's error code and message (escaped), if any.
        detail: String,
    },
    /// Connection, TLS or transfer failure after every retry.
    #[error("{registry}: {message} (after {attempts} attempt{}){hint}", if *attempts == 1 { "" } else { "s" })]
    Network {
        /// The registry.
        registry: String,
        /// The cause (no URL credentials).
        message: String,
        /// Attempts made.
        attempts: u32,
        /// What to do about it.
        hint: String,
    },
    /// The operation's deadline passed.
    #[error("{target}: not finished within the deadline of {} s (set {TIMEOUT_ENV} to allow longer)", limit.as_secs())]
    Deadline {
        /// The reference.
        target: String,
        /// The deadline.
        limit: Duration,
    },
    /// The registry broke the protocol: wrong digest, oversized or
    /// malformed document, missing header.
    #[error("{target}: {reason}")]
    Protocol {
        /// The reference.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A credential file or helper could not be used.
    #[error("credentials{} from {origin}: {reason}", if registry.is_empty() { String::new() } else { format!(" for {registry}") })]
    Credentials {
        /// The registry.
        registry: String,
        /// The file or helper.
        origin: String,
        /// What is wrong (never the secret).
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP client could not be set up (bad CA file, …).
    #[error("{registry}: cannot set up the HTTP client: {message}")]
    Client {
        /// The registry.
        registry: String,
        /// The cause.
        message: String,
    },
    /// A reference or registry name is malformed.
    #[error(transparent)]
    Reference(Box<crate::OciError>),
}

/// A registry client: credentials, TLS settings, connections and tokens
/// are kept between operations. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    options: RegistryOptions,
    transport: Transport,
    cache: BlobCache,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("insecure", &self.inner.options.insecure)
            .field("cache", &self.inner.cache)
            .finish()
    }
}

impl Registry {
    /// A client with `options`.
    pub fn new(options: RegistryOptions) -> Result<Registry, RegistryError> {
        let cache = BlobCache::open(options.cache_dir.clone())?;
        let transport = Transport::new(&options);
        Ok(Registry {
            inner: Arc::new(Inner {
                options,
                transport,
                cache,
            }),
        })
    }

    /// A client configured from the environment ([`RegistryOptions::from_env`]).
    pub fn from_env() -> Result<Registry, RegistryError> {
        Registry::new(RegistryOptions::from_env())
    }

    /// The options.
    pub fn options(&self) -> &RegistryOptions {
        &self.inner.options
    }

    fn deadline(&self) -> transport::Deadline {
        transport::Deadline::new(self.inner.options.timeout)
    }

    /// Checks `username`/`password` against `registry` (Basic, or a token
    /// request for Bearer registries) and stores them as `docker login`
    /// does ([`AuthConfig::store`]).
    pub fn login(
        &self,
        registry: &str,
        username: &str,
        password: Secret,
    ) -> Result<Stored, RegistryError> {
        let registry = reference::normalize_registry(registry)
            .map_err(|e| RegistryError::Reference(Box::new(e)))?;
        let credential = Credential {
            username: username.to_owned(),
            secret: password,
            kind: SecretKind::Password,
            source: CredentialSource::Given,
        };
        let dl = self.deadline();
        self.inner
            .transport
            .verify_login(&registry, &credential, &dl)?;
        self.inner.options.auth.store(&registry, &credential)
    }

    /// Removes the stored credentials for `registry`; `None` when there
    /// were none.
    pub fn logout(&self, registry: &str) -> Result<Option<Stored>, RegistryError> {
        let registry = reference::normalize_registry(registry)
            .map_err(|e| RegistryError::Reference(Box::new(e)))?;
        self.inner.options.auth.erase(&registry)
    }
}

impl From<RegistryError> for crate::OciError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Reference(e) => *e,
            e => crate::OciError::Registry(Box::new(e)),
        }
    }
}
