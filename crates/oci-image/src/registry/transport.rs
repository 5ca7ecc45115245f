//! Talking HTTP to registries: one `reqwest` client per host (system roots,
//! `SSL_CERT_FILE`, the host's `certs.d`), the scheme chosen by a `/v2/`
//! ping (HTTPS; plain HTTP only for loopback and allowed hosts), the
//! authentication the ping and later 401s ask for (Basic, or Bearer tokens
//! per scope, anonymous or with credentials), and retries with backoff on
//! connection errors, 5xx and 429 — all under the operation's deadline.
//!
//! Secrets travel only in `Authorization` headers marked sensitive; every
//! message is built from the registry name and the reference, never from a
//! URL with credentials or a header.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use assemble_io::escape::escape;
use assemble_io::limit::Limited;
use assemble_io::url::{error_chain, Url};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::blocking::{Body, Client, Response};
use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::auth::{parse_challenge, AuthConfig, Challenge, Credential, Lookup, Secret, SecretKind};
use super::reference::{api_host, is_loopback};
use super::{RegistryError, RegistryOptions};

/// User agent of every request.
const USER_AGENT: &str = concat!("cargo-assemble/", env!("CARGO_PKG_VERSION"));
/// Largest error or token body read.
const MAX_SMALL_BODY: u64 = 1 << 20;
/// Tokens without `expires_in` live this long (the spec's default).
const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(60);

/// The end of an operation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    end: Instant,
    limit: Duration,
}

impl Deadline {
    pub(crate) fn new(limit: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + limit,
            limit,
        }
    }

    /// Time left, or the deadline error for `target`.
    pub(crate) fn remaining(&self, target: &str) -> Result<Duration, RegistryError> {
        self.end
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| RegistryError::Deadline {
                target: target.to_owned(),
                limit: self.limit,
            })
    }
}

/// The token scopes a request needs (`repository:NAME:pull,push`) and the
/// repository whose credentials apply.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub(crate) repository: String,
    scopes: Vec<String>,
}

impl Scope {
    pub(crate) fn pull(repository: &str) -> Scope {
        Scope {
            repository: repository.to_owned(),
            scopes: vec![format!("repository:{repository}:pull")],
        }
    }

    /// Push to `repository`, mounting from `from` repositories.
    pub(crate) fn push(repository: &str, from: &[String]) -> Scope {
        let mut scopes = vec![format!("repository:{repository}:pull,push")];
        scopes.extend(
            from.iter()
                .filter(|f| f.as_str() != repository)
                .map(|f| format!("repository:{f}:pull")),
        );
        Scope {
            repository: repository.to_owned(),
            scopes,
        }
    }
}

/// A request body.
pub(crate) enum Payload<'a> {
    /// No body (`Content-Length: 0` on POST/PUT).
    Empty,
    /// Bytes in memory (manifests).
    Bytes(&'a [u8]),
    /// A stream reopened for each attempt, with its length.
    Stream(&'a (dyn Fn() -> Result<(Box<dyn Read + Send>, u64), RegistryError> + Sync)),
}

/// One request.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) accept: Option<&'a str>,
    pub(crate) content_type: Option<&'a str>,
    pub(crate) payload: Payload<'a>,
    /// The reference, for messages.
    pub(crate) target: &'a str,
    /// What the request does, for messages (`fetching the manifest`).
    pub(crate) action: &'a str,
    /// A transfer of blob content: limited by the deadline only.
    pub(crate) transfer: bool,
}

struct Token {
    value: Secret,
    expires: Instant,
}

/// What we know about one registry host.
pub(crate) struct Host {
    /// The registry name (`docker.io`, `HOST:PORT`).
    pub(crate) registry: String,
    /// `https://API-HOST/` or `http://…`.
    pub(crate) base: Url,
    client: Client,
    challenge: Mutex<Challenge>,
    lookups: Mutex<HashMap<String, Lookup>>,
    tokens: Mutex<HashMap<String, Token>>,
}

impl Host {
    /// `BASE/v2/REPOSITORY/SUFFIX`.
    pub(crate) fn url(&self, repository: &str, suffix: &str) -> Url {
        let mut u = self.base.clone();
        u.set_path(&format!("/v2/{repository}/{suffix}"));
        u
    }

    /// A `Location` header resolved against the base.
    pub(crate) fn resolve(&self, location: &str) -> Option<Url> {
        self.base.join(location).ok()
    }
}

/// The connections, hosts and tokens of a [`super::Registry`].
pub(crate) struct Transport {
    auth: AuthConfig,
    insecure: Vec<String>,
    certs_d: Vec<std::path::PathBuf>,
    ca_files: Vec<std::path::PathBuf>,
    request_timeout: Duration,
    connect_timeout: Duration,
    attempts: u32,
    retry_delay: Duration,
    roots: OnceLock<Result<Vec<reqwest::Certificate>, String>>,
    clients: Mutex<HashMap<String, Client>>,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

impl Transport {
    pub(crate) fn new(o: &RegistryOptions) -> Transport {
        Transport {
            auth: o.auth.clone(),
            insecure: o.insecure.clone(),
            certs_d: o.certs_d.clone(),
            ca_files: o.ca_files.clone(),
            request_timeout: o.request_timeout,
            connect_timeout: o.connect_timeout,
            attempts: o.attempts.max(1),
            retry_delay: o.retry_delay,
            roots: OnceLock::new(),
            clients: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn delay(&self, attempt: u32) -> Duration {
        self.retry_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(10))
            .min(Duration::from_secs(10))
    }

    /// Whether plain HTTP may be used for `registry` (`HOST[:PORT]`).
    fn allows_http(&self, registry: &str) -> bool {
        let host = registry.rsplit_once(':').map_or(registry, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') {
                h
            } else {
                registry
            }
        });
        is_loopback(registry)
            || self
                .insecure
                .iter()
                .any(|i| i.eq_ignore_ascii_case(registry) || i.eq_ignore_ascii_case(host))
    }

    fn system_roots(&self) -> Result<&[reqwest::Certificate], RegistryError> {
        let roots = self.roots.get_or_init(|| {
            let mut out = Vec::new();
            for der in rustls_native_certs::load_native_certs().certs {
                if let Ok(c) = reqwest::Certificate::from_der(der.as_ref()) {
                    out.push(c);
                }
            }
            for file in &self.ca_files {
                let pem = std::fs::read(file)
                    .map_err(|e| format!("reading the CA bundle {}: {e}", file.display()))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| format!("the CA bundle {} is not PEM: {e}", file.display()))?;
                out.extend(certs);
            }
            Ok(out)
        });
        roots.as_deref().map_err(|message| RegistryError::Client {
            registry: "every registry".into(),
            message: message.clone(),
        })
    }

    /// The client for `host_port` (a registry API host or a token realm's).
    fn client(&self, host_port: &str) -> Result<Client, RegistryError> {
        if let Some(c) = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host_port)
        {
            return Ok(c.clone());
        }
        let fail = |message: String| RegistryError::Client {
            registry: host_port.to_owned(),
            message,
        };
        let mut builder = Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .redirect(reqwest::redirect::Policy::limited(10));
        if is_loopback(host_port) {
            builder = builder.no_proxy();
        }
        for c in self.system_roots()? {
            builder = builder.add_root_certificate(c.clone());
        }
        for root in &self.certs_d {
            let dir = root.join(host_port);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            names.sort();
            for path in &names {
                let ext = path.extension().and_then(|e| e.to_str());
                if ext == Some("crt") {
                    let pem = std::fs::read(path)
                        .map_err(|e| fail(format!("reading {}: {e}", path.display())))?;
                    for c in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                        fail(format!("{} is not a PEM certificate: {e}", path.display()))
                    })? {
                        builder = builder.add_root_certificate(c);
                    }
                } else if ext == Some("cert") {
                    // docker: client.cert goes with client.key.
                    let key = path.with_extension("key");
                    let mut pem = std::fs::read(path)
                        .map_err(|e| fail(format!("reading {}: {e}", path.display())))?;
                    pem.extend(std::fs::read(&key).map_err(|e| {
                        fail(format!(
                            "{} has no readable key {}: {e}",
                            path.display(),
                            key.display()
                        ))
                    })?);
                    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                        fail(format!(
                            "{} and its key are not a usable client certificate: {e}",
                            path.display()
                        ))
                    })?;
                    builder = builder.identity(identity);
                }
            }
        }
        let client = builder
            .build()
            .map_err(|e| fail(error_chain(&e.without_url())))?;
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host_port.to_owned(), client.clone());
        Ok(client)
    }

    /// The host state for `registry`, pinging `/v2/` the first time.
    pub(crate) fn host(&self, registry: &str, dl: &Deadline) -> Result<Arc<Host>, RegistryError> {
        if let Some(h) = self
            .hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(registry)
        {
            return Ok(h.clone());
        }
        let api = api_host(registry);
        let client = self.client(api)?;
        let (base, challenge) = self.ping(registry, &client, dl)?;
        let host = Arc::new(Host {
            registry: registry.to_owned(),
            base,
            client,
            challenge: Mutex::new(challenge),
            lookups: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        });
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        Ok(hosts.entry(registry.to_owned()).or_insert(host).clone())
    }

    /// `GET /v2/` over HTTPS, else (where allowed) plain HTTP: the base
    /// URL and the authentication the registry asks for.
    fn ping(
        &self,
        registry: &str,
        client: &Client,
        dl: &Deadline,
    ) -> Result<(Url, Challenge), RegistryError> {
        let api = api_host(registry);
        let allow_http = self.allows_http(registry);
        let target = format!("{registry} (/v2/)");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let timeout = dl.remaining(&target)?.min(self.request_timeout);
            let https =
                Url::parse(&format!("https://{api}/")).map_err(|e| RegistryError::Client {
                    registry: registry.to_owned(),
                    message: e.to_string(),
                })?;
            let error = match client
                .get(https.join("v2/").unwrap_or(https.clone()))
                .timeout(timeout)
                .send()
            {
                Ok(r) if r.status().is_server_error() => format!("HTTP {}", r.status().as_u16()),
                Ok(r) => return Ok((https, challenge_of(&r))),
                Err(e) => error_chain(&e.without_url()),
            };
            if allow_http {
                let http = Url::parse(&format!("http://{api}/")).unwrap_or(https.clone());
                if let Ok(r) = client
                    .get(http.join("v2/").unwrap_or(http.clone()))
                    .timeout(timeout)
                    .send()
                {
                    let looks_like_registry = r.status() == StatusCode::OK
                        || r.status() == StatusCode::UNAUTHORIZED
                        || r.headers().contains_key("docker-distribution-api-version");
                    if looks_like_registry {
                        return Ok((http, challenge_of(&r)));
                    }
                }
            }
            if attempt >= self.attempts || dl.remaining(&target).is_err() {
                let mut hint = String::new();
                if error.contains("certificate") || error.contains("UnknownIssuer") {
                    hint.push_str(&format!(
                        "; its TLS certificate is not trusted: put its CA in {}/{api}/ca.crt (or a root named in {}) or in a bundle named by SSL_CERT_FILE",
                        self.certs_d.first().map_or("/etc/docker/certs.d".into(), |p| p.display().to_string()),
                        super::CERTS_D_ENV,
                    ));
                }
                if !allow_http {
                    hint.push_str(&format!(
                        "; plain HTTP is used only for loopback registries and those named with --insecure-registry or {}",
                        super::INSECURE_ENV
                    ));
                }
                return Err(RegistryError::Network {
                    registry: registry.to_owned(),
                    message: format!("cannot reach the registry API at https://{api}/v2/: {error}"),
                    attempts: attempt,
                    hint,
                });
            }
            std::thread::sleep(self.delay(attempt));
        }
    }

    fn lookup(&self, host: &Host, repository: &str) -> Result<Lookup, RegistryError> {
        let mut lookups = host.lookups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = lookups.get(repository) {
            return Ok(l.clone());
        }
        let l = self.auth.lookup(&host.registry, repository)?;
        lookups.insert(repository.to_owned(), l.clone());
        Ok(l)
    }

    /// The `Authorization` value for a request needing `scopes`.
    fn authorization(
        &self,
        host: &Host,
        repository: &str,
        scopes: &[String],
        target: &str,
        dl: &Deadline,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let challenge = host
            .challenge
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let value = match challenge {
            Challenge::None => return Ok(None),
            Challenge::Basic => match self.lookup(host, repository)?.credential {
                Some(c) if c.kind == SecretKind::Password => basic(&c),
                _ => return Ok(None),
            },
            Challenge::Bearer { realm, service, .. } => {
                let key = scopes.join(" ");
                let cached = host
                    .tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .filter(|t| t.expires > Instant::now())
                    .map(|t| t.value.clone());
                let token = match cached {
                    Some(t) => t,
                    None => {
                        let lookup = self.lookup(host, repository)?;
                        let (token, life) = self.fetch_token(
                            host,
                            &realm,
                            service.as_deref(),
                            scopes,
                            lookup.credential.as_ref(),
                            &lookup.describe(),
                            target,
                            dl,
                        )?;
                        host.tokens
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(
                                key,
                                Token {
                                    value: token.clone(),
                                    expires: Instant::now()
                                        + life.saturating_sub(Duration::from_secs(10)),
                                },
                            );
                        token
                    }
                };
                format!("Bearer {}", token.expose())
            }
        };
        sensitive(&value)
            .map(Some)
            .ok_or_else(|| RegistryError::Protocol {
                target: target.to_owned(),
                reason: "the credential or token holds characters an HTTP header cannot carry"
                    .into(),
            })
    }

    /// Asks the token server at `realm` for a token for `scopes`.
    #[allow(clippy::too_many_arguments)]
    fn fetch_token(
        &self,
        host: &Host,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        credential: Option<&Credential>,
        tried: &str,
        target: &str,
        dl: &Deadline,
    ) -> Result<(Secret, Duration), RegistryError> {
        let protocol = |reason: String| RegistryError::Protocol {
            target: target.to_owned(),
            reason,
        };
        let url = Url::parse(realm)
            .map_err(|_| protocol(format!("the token realm `{}` is not a URL", escape(realm))))?;
        let realm_host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(protocol(format!(
                    "the token realm `{}` has no host",
                    escape(realm)
                )))
            }
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allows_http(&realm_host) || self.allows_http(&host.registry) => {}
            _ => {
                return Err(protocol(format!(
                    "the token realm `{}` is not HTTPS; refusing to send credentials there",
                    escape(realm)
                )))
            }
        }
        let client = self.client(&realm_host)?;
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s));
        }
        let joined = scopes.join(" ");
        let refresh = credential.filter(|c| c.kind == SecretKind::IdentityToken);
        let call_target = format!(
            "{target} (token from {})",
            url.origin().ascii_serialization()
        );
        let attempts = self.attempts;
        let response = self.retrying(
            &host.registry,
            &call_target,
            "getting a token",
            dl,
            attempts,
            false,
            || {
                Ok(match refresh {
                    Some(c) => {
                        let mut form: Vec<(&str, &str)> = vec![
                            ("grant_type", "refresh_token"),
                            ("refresh_token", c.secret.expose()),
                            ("client_id", "cargo-assemble"),
                            ("scope", &joined),
                        ];
                        if let Some(s) = service {
                            form.push(("service", s));
                        }
                        client.post(url.clone()).form(&form)
                    }
                    None => {
                        let mut q = query.clone();
                        q.extend(scopes.iter().map(|s| ("scope", s.as_str())));
                        if let Some(c) = credential {
                            q.push(("account", &c.username));
                        }
                        let r = client.get(url.clone()).query(&q);
                        match credential.and_then(|c| sensitive(&basic(c))) {
                            Some(v) => r.header(AUTHORIZATION, v),
                            None => r,
                        }
                    }
                })
            },
        )?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RegistryError::Unauthorized {
                registry: host.registry.clone(),
                target: target.to_owned(),
                status,
                tried: tried.to_owned(),
            });
        }
        if !response.status().is_success() {
            return Err(RegistryError::Status {
                target: call_target,
                action: "getting a token".into(),
                status,
                detail: error_detail(response),
            });
        }
        let body = read_small(response, MAX_SMALL_BODY, "the token answer")
            .map_err(|e| protocol(format!("reading the token answer: {e}")))?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| protocol("the token server's answer is not JSON".into()))?;
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| protocol("the token server's answer has no token".into()))?;
        let life = v
            .get("expires_in")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_TOKEN_LIFE, Duration::from_secs)
            .max(DEFAULT_TOKEN_LIFE);
        Ok((Secret::new(token), life))
    }

    /// Sends the request `build` makes, again after connection errors, 5xx
    /// and 429, with backoff, up to `attempts` times and within the
    /// deadline. After the last attempt a 5xx/429 response is returned
    /// (its caller reports the registry's message); a connection error is
    /// [`RegistryError::Network`]. `transfer`: the request carries blob
    /// content and is limited by the deadline only.
    #[allow(clippy::too_many_arguments)]
    fn retrying(
        &self,
        registry: &str,
        target: &str,
        action: &str,
        dl: &Deadline,
        attempts: u32,
        transfer: bool,
        mut build: impl FnMut() -> Result<reqwest::blocking::RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut n = 0;
        loop {
            n += 1;
            let remaining = dl.remaining(target)?;
            let timeout = if transfer {
                remaining
            } else {
                remaining.min(self.request_timeout)
            };
            let last = n >= attempts;
            let failure = match build()?.timeout(timeout).send() {
                Ok(r) if retryable(r.status()) && !last => format!("HTTP {}", r.status().as_u16()),
                Ok(r) => return Ok(r),
                Err(e) => error_chain(&e.without_url()),
            };
            if last || dl.remaining(target).is_err() {
                return Err(RegistryError::Network {
                    registry: registry.to_owned(),
                    message: format!("{action} for {target}: {failure}"),
                    attempts: n,
                    hint: String::new(),
                });
            }
            std::thread::sleep(self.delay(n));
        }
    }

    /// Sends `call` with the authentication `scope` needs; retries
    /// connection errors, 5xx and 429 (not for a streamed body: an upload
    /// session does not survive a failed `PUT`, the caller starts a new
    /// one); answers one 401 by (re)doing the authentication the response
    /// asks for. Returns every other response; a second 401 is
    /// [`RegistryError::Unauthorized`], a 5xx after the last attempt
    /// [`RegistryError::Status`].
    pub(crate) fn send(
        &self,
        host: &Host,
        scope: &Scope,
        call: &Call<'_>,
        dl: &Deadline,
    ) -> Result<Response, RegistryError> {
        let mut scopes = scope.scopes.clone();
        let attempts = match call.payload {
            Payload::Stream(_) => 1,
            _ => self.attempts,
        };
        let mut reauthenticated = false;
        loop {
            let auth = self.authorization(host, &scope.repository, &scopes, call.target, dl)?;
            let build = || {
                let mut request = host.client.request(call.method.clone(), call.url.clone());
                if let Some(a) = call.accept {
                    request = request.header(reqwest::header::ACCEPT, a);
                }
                if let Some(c) = call.content_type {
                    request = request.header(reqwest::header::CONTENT_TYPE, c);
                }
                // Credentials go to the registry's own origin only (an
                // upload `Location` may name another host).
                if let Some(a) = auth
                    .as_ref()
                    .filter(|_| call.url.origin() == host.base.origin())
                {
                    request = request.header(AUTHORIZATION, a.clone());
                }
                Ok(match call.payload {
                    Payload::Empty
                        if matches!(call.method, Method::POST | Method::PUT | Method::PATCH) =>
                    {
                        request.body(Vec::new())
                    }
                    Payload::Empty => request,
                    Payload::Bytes(b) => request.body(b.to_vec()),
                    Payload::Stream(open) => {
                        let (reader, len) = open()?;
                        request.body(Body::sized(reader, len))
                    }
                })
            };
            let r = self.retrying(
                &host.registry,
                call.target,
                call.action,
                dl,
                attempts,
                call.transfer,
                build,
            )?;
            if r.status() == StatusCode::UNAUTHORIZED && !reauthenticated {
                // Authenticate as this answer asks, once.
                reauthenticated = true;
                if let Some(c) = r
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(parse_challenge)
                {
                    if let Challenge::Bearer { scope: Some(s), .. } = &c {
                        for part in s.split_whitespace() {
                            if !scopes.iter().any(|x| x == part) {
                                scopes.push(part.to_owned());
                            }
                        }
                    }
                    *host.challenge.lock().unwrap_or_else(|e| e.into_inner()) = c;
                }
                host.tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&scopes.join(" "));
                continue;
            }
            if r.status() == StatusCode::UNAUTHORIZED {
                return Err(RegistryError::Unauthorized {
                    registry: host.registry.clone(),
                    target: call.target.to_owned(),
                    status: 401,
                    tried: self.lookup(host, &scope.repository)?.describe(),
                });
            }
            if retryable(r.status()) {
                let status = r.status().as_u16();
                let after = if attempts > 1 {
                    format!(" (after {attempts} attempts)")
                } else {
                    String::new()
                };
                return Err(RegistryError::Status {
                    target: call.target.to_owned(),
                    action: call.action.to_owned(),
                    status,
                    detail: format!("{}{after}", error_detail(r)),
                });
            }
            return Ok(r);
        }
    }

    /// Maps a response that is not one of `ok` to an error: 404 →
    /// [`RegistryError::NotFound`] naming `what`, 403 → denied, else the
    /// status with the registry's message.
    pub(crate) fn expect(
        &self,
        host: &Host,
        scope: &Scope,
        call: &Call<'_>,
        response: Response,
        ok: &[u16],
        what: &str,
    ) -> Result<Response, RegistryError> {
        if ok.contains(&response.status().as_u16()) {
            return Ok(response);
        }
        Err(self.failure(host, scope, call, response, what)?)
    }

    /// The error for an unexpected `response` (see [`Transport::expect`]).
    pub(crate) fn failure(
        &self,
        host: &Host,
        scope: &Scope,
        call: &Call<'_>,
        response: Response,
        what: &str,
    ) -> Result<RegistryError, RegistryError> {
        let status = response.status().as_u16();
        Ok(match status {
            404 => RegistryError::NotFound {
                target: call.target.to_owned(),
                what: what.to_owned(),
                code: error_code(response),
            },
            403 => RegistryError::Denied {
                registry: host.registry.clone(),
                target: call.target.to_owned(),
                tried: self.lookup(host, &scope.repository)?.describe(),
                action: if scope.scopes.iter().any(|s| s.ends_with("push")) {
                    "push to"
                } else {
                    "pull from"
                },
            },
            _ => RegistryError::Status {
                target: call.target.to_owned(),
                action: call.action.to_owned(),
                status,
                detail: error_detail(response),
            },
        })
    }

    /// Checks `credential` against `registry` as `docker login` does.
    pub(crate) fn verify_login(
        &self,
        registry: &str,
        credential: &Credential,
        dl: &Deadline,
    ) -> Result<(), RegistryError> {
        let host = self.host(registry, dl)?;
        let target = format!("login to {registry}");
        let tried = "the credentials given".to_owned();
        let challenge = host
            .challenge
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match challenge {
            Challenge::None => Ok(()),
            Challenge::Basic => {
                let url = host.base.join("v2/").unwrap_or(host.base.clone());
                let value =
                    sensitive(&basic(credential)).ok_or_else(|| RegistryError::Protocol {
                        target: target.clone(),
                        reason:
                            "the user name or password holds characters an HTTP header cannot carry"
                                .into(),
                    })?;
                let action = "checking the credentials";
                let response =
                    self.retrying(registry, &target, action, dl, self.attempts, false, || {
                        Ok(host
                            .client
                            .get(url.clone())
                            .header(AUTHORIZATION, value.clone()))
                    })?;
                match response.status().as_u16() {
                    200 => Ok(()),
                    s @ (401 | 403) => Err(RegistryError::Unauthorized {
                        registry: registry.to_owned(),
                        target,
                        status: s,
                        tried,
                    }),
                    s => Err(RegistryError::Status {
                        target,
                        action: "checking the credentials".into(),
                        status: s,
                        detail: error_detail(response),
                    }),
                }
            }
            Challenge::Bearer { realm, service, .. } => self
                .fetch_token(
                    &host,
                    &realm,
                    service.as_deref(),
                    &[],
                    Some(credential),
                    &tried,
                    &target,
                    dl,
                )
                .map(|_| ()),
        }
    }
}

fn basic(c: &Credential) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", c.username, c.secret.expose()))
    )
}

/// A header value that `Debug` output never shows.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS
}

fn challenge_of(r: &Response) -> Challenge {
    if r.status() != StatusCode::UNAUTHORIZED {
        return Challenge::None;
    }
    r.headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_challenge)
        .unwrap_or(Challenge::Basic)
}

/// Reads at most `limit` bytes of a body (more is an error).
pub(crate) fn read_small(r: Response, limit: u64, what: &'static str) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    Limited::new(r, limit, what).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The first `errors[]` entry of a distribution error body.
fn first_error(r: Response) -> Option<(String, String)> {
    let body = read_small(r, 64 << 10, "an error answer").ok()?;
    let v: Value = serde_json::from_slice(&body).ok()?;
    let e = v.get("errors")?.as_array()?.first()?;
    let field = |k: &str| {
        let s = e.get(k).and_then(Value::as_str).unwrap_or_default();
        let s: String = s.chars().take(200).collect();
        escape(&s).into_owned()
    };
    Some((field("code"), field("message")))
}

fn error_code(r: Response) -> Option<String> {
    first_error(r).map(|(c, _)| c).filter(|c| !c.is_empty())
}

/// `: CODE: message` from the body, or nothing.
pub(crate) fn error_detail(r: Response) -> String {
    match first_error(r) {
        Some((c, m)) if !c.is_empty() || !m.is_empty() => format!(" ({c}: {m})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_where_allowed() {
        let t = Transport::new(&RegistryOptions {
            insecure: vec!["reg.lan".into(), "other.lan:5000".into()],
            ..RegistryOptions::default()
        });
        assert!(t.allows_http("127.0.0.1:5000"));
        assert!(t.allows_http("localhost"));
        assert!(t.allows_http("[::1]:80"));
        assert!(t.allows_http("reg.lan:443"));
        assert!(t.allows_http("other.lan:5000"));
        assert!(!t.allows_http("other.lan:5001"));
        assert!(!t.allows_http("ghcr.io"));
    }

    #[test]
    fn scopes_name_the_repositories() {
        let s = Scope::push("team/app", &["library/alpine".into(), "team/app".into()]);
        assert_eq!(
            s.scopes,
            [
                "repository:team/app:pull,push",
                "repository:library/alpine:pull"
            ]
        );
        assert_eq!(Scope::pull("x").scopes, ["repository:x:pull"]);
    }

    /// A loopback server answering one request per connection with the
    /// next of `answers` (status, extra headers, body); returns its address
    /// and a handle yielding the request heads it saw.
    fn fake(
        answers: Vec<(u16, &'static str, &'static str)>,
    ) -> (String, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, headers, body) in answers {
                let mut first = [0u8; 1];
                let stream = loop {
                    let (stream, _) = listener.accept().unwrap();
                    // A TLS handshake (the HTTPS try of a ping) is hung up on.
                    if stream.peek(&mut first).is_ok() && first[0] != 0x16 {
                        break stream;
                    }
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                    head.push_str(&h);
                }
                seen.push(head);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                    body.len()
                );
            }
            seen
        });
        (addr, handle)
    }

    fn get_manifest(host: &Host) -> Call<'static> {
        Call {
            method: Method::GET,
            url: host.url("r", "manifests/t"),
            accept: None,
            content_type: None,
            payload: Payload::Empty,
            target: "docker://h/r:t",
            action: "fetching the manifest",
            transfer: false,
        }
    }

    fn quick() -> Transport {
        Transport::new(&RegistryOptions {
            attempts: 3,
            retry_delay: Duration::from_millis(1),
            ..RegistryOptions::default()
        })
    }

    #[test]
    fn server_errors_are_retried_then_reported_with_the_registry_message() {
        let error = r#"{"errors":[{"code":"UNAVAILABLE","message":"try \u001b[31mlater"}]}"#;
        let (addr, seen) = fake(vec![
            (503, "", ""),
            (200, "", "{}"),
            (500, "", ""),
            (502, "", ""),
            (503, "Content-Type: application/json\r\n", error),
        ]);
        let t = quick();
        let dl = Deadline::new(Duration::from_secs(30));
        // The ping is retried past the first 503 (plain HTTP: loopback).
        let host = t.host(&addr, &dl).unwrap();
        assert_eq!(host.base.scheme(), "http");
        let call = get_manifest(&host);
        let e = t.send(&host, &Scope::pull("r"), &call, &dl).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, RegistryError::Status { status: 503, .. }),
            "{text}"
        );
        assert!(
            text.contains("docker://h/r:t") && text.contains("after 3 attempts"),
            "{text}"
        );
        // The registry's message is escaped before it can reach a terminal.
        assert!(text.contains("UNAVAILABLE: try \\u{1b}[31mlater"), "{text}");
        let seen = seen.join().unwrap();
        assert_eq!(seen.len(), 5);
        assert!(seen[2].starts_with("GET /v2/r/manifests/t "), "{seen:?}");
    }

    #[test]
    fn credentials_go_to_the_registry_only() {
        let (registry, seen_registry) = fake(vec![
            (401, "WWW-Authenticate: Basic realm=\"r\"\r\n", ""),
            (200, "", ""),
        ]);
        let (elsewhere, seen_elsewhere) = fake(vec![(200, "", "")]);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        let auth = STANDARD.encode("u:pw");
        std::fs::write(
            &config,
            format!("{{\"auths\":{{\"{registry}\":{{\"auth\":\"{auth}\"}}}}}}"),
        )
        .unwrap();
        let t = Transport::new(&RegistryOptions {
            auth: AuthConfig::docker_only(&config),
            ..RegistryOptions::default()
        });
        let dl = Deadline::new(Duration::from_secs(30));
        let host = t.host(&registry, &dl).unwrap();
        let scope = Scope::pull("r");
        t.send(&host, &scope, &get_manifest(&host), &dl).unwrap();
        let mut away = get_manifest(&host);
        away.url = Url::parse(&format!("http://{elsewhere}/upload")).unwrap();
        t.send(&host, &scope, &away, &dl).unwrap();
        let ours = seen_registry.join().unwrap();
        assert!(
            ours[1]
                .to_ascii_lowercase()
                .contains("authorization: basic"),
            "{ours:?}"
        );
        let theirs = seen_elsewhere.join().unwrap();
        assert!(
            !theirs[0].to_ascii_lowercase().contains("authorization"),
            "{theirs:?}"
        );
    }

    #[test]
    fn a_missing_manifest_names_the_repository_or_tag() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        let (addr, _seen) = fake(vec![(200, "", "{}"), (404, "", body)]);
        let t = quick();
        let dl = Deadline::new(Duration::from_secs(30));
        let host = t.host(&addr, &dl).unwrap();
        let scope = Scope::pull("r");
        let call = get_manifest(&host);
        let r = t.send(&host, &scope, &call, &dl).unwrap();
        let e = t
            .expect(&host, &scope, &call, r, &[200], "repository or tag")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "docker://h/r:t: repository or tag unknown to the registry (HTTP 404, MANIFEST_UNKNOWN)"
        );
    }

    #[test]
    fn unreachable_registry_is_a_network_error_with_the_hint() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Transport::new(&RegistryOptions {
            attempts: 2,
            retry_delay: Duration::from_millis(1),
            ..RegistryOptions::default()
        });
        let e = t
            .host(
                &format!("127.0.0.1:{port}"),
                &Deadline::new(Duration::from_secs(20)),
            )
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(
            matches!(e, RegistryError::Network { attempts: 2, .. }),
            "{text}"
        );
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        let e = Deadline::new(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(
            e.remaining("x"),
            Err(RegistryError::Deadline { .. })
        ));
    }
}
