//! Where registry credentials come from, the way docker, podman and skopeo
//! find them, and how `login`/`logout` store them.
//!
//! Sources, first match wins:
//!
//! 1. `$REGISTRY_AUTH_FILE` (podman/skopeo's `auth.json`), when set;
//! 2. docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//!    `~/.docker/config.json`): `credHelpers[HOST]`, then `credsStore`
//!    (both run `docker-credential-NAME get`), then `auths[HOST]`;
//! 3. podman's `$XDG_RUNTIME_DIR/containers/auth.json`, then
//!    `~/.config/containers/auth.json`.
//!
//! `auths` keys may carry a scheme or path (`https://index.docker.io/v1/`)
//! and, in `auth.json`, a repository prefix (`quay.io/team`): the longest
//! key matching `HOST/REPOSITORY` wins. An entry holds `auth`
//! (base64 of `USER:PASSWORD`), or `username`/`password`, or an
//! `identitytoken` (an OAuth2 refresh token).
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Display` print
//! `****`; errors name the file or helper a credential came from, never
//! its value.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

pub use assemble_io::secret::Secret;

use super::reference::{normalize_registry, DOCKER_HUB};
use super::RegistryError;

/// Docker Hub's key in docker's `config.json`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Largest credential file or helper answer read.
const MAX_AUTH_FILE: u64 = 4 << 20;
/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// What kind of secret a credential holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A password (or a personal access token used as one).
    Password,
    /// An OAuth2 refresh token (`identitytoken`, or a helper's answer with
    /// user `<token>`).
    IdentityToken,
}

/// Where a credential came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// An `auths` entry of a file (docker `config.json` or `auth.json`).
    File(PathBuf),
    /// A credential helper, `docker-credential-NAME`.
    Helper(String),
    /// Given directly (to `login`, before it is stored).
    Given,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::File(p) => write!(f, "{}", p.display()),
            CredentialSource::Helper(name) => {
                write!(f, "credential helper docker-credential-{name}")
            }
            CredentialSource::Given => f.write_str("the credentials given"),
        }
    }
}

/// A user name and secret for one registry.
#[derive(Clone, Debug)]
pub struct Credential {
    /// User name (may be empty with an identity token).
    pub username: String,
    /// Password or token.
    pub secret: Secret,
    /// What the secret is.
    pub kind: SecretKind,
    /// Where it came from.
    pub source: CredentialSource,
}

/// The result of looking credentials up: the credential, if any, and a
/// description of where we looked (for "unauthorized" messages).
#[derive(Clone, Debug)]
pub struct Lookup {
    /// The credential found.
    pub credential: Option<Credential>,
    /// The places searched, in order.
    pub searched: Vec<String>,
}

impl Lookup {
    /// "credentials from SOURCE" or "no credentials (looked in …)".
    pub fn describe(&self) -> String {
        match &self.credential {
            Some(c) => format!("the credentials from {}", c.source),
            None if self.searched.is_empty() => {
                "no credentials (no credential file exists)".to_owned()
            }
            None => format!("no credentials (none in {})", self.searched.join(", ")),
        }
    }
}

/// The credential files and helpers to consult.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// Podman/skopeo's explicit `auth.json` (`$REGISTRY_AUTH_FILE`),
    /// consulted first.
    pub auth_file: Option<PathBuf>,
    /// Docker's `config.json`; `login` writes here.
    pub docker_config: Option<PathBuf>,
    /// Podman's default `auth.json` files, consulted last.
    pub podman_files: Vec<PathBuf>,
    /// `PATH` to find `docker-credential-*` helpers on (`None`: the
    /// process's).
    pub helper_path: Option<std::ffi::OsString>,
}

impl AuthConfig {
    /// The files docker, podman and skopeo would use, from the
    /// environment (see the module docs).
    pub fn from_env() -> AuthConfig {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let home = dirs::home_dir();
        let docker_config = var("DOCKER_CONFIG")
            .map(|d| PathBuf::from(d).join("config.json"))
            .or_else(|| home.as_ref().map(|h| h.join(".docker/config.json")));
        let mut podman_files = Vec::new();
        if let Some(run) = var("XDG_RUNTIME_DIR") {
            podman_files.push(PathBuf::from(run).join("containers/auth.json"));
        }
        if let Some(h) = &home {
            podman_files.push(h.join(".config/containers/auth.json"));
        }
        AuthConfig {
            auth_file: var("REGISTRY_AUTH_FILE").map(PathBuf::from),
            docker_config,
            podman_files,
            helper_path: None,
        }
    }

    /// Only docker's `config.json` at `path` (for tests and tools that
    /// want exactly one file).
    pub fn docker_only(path: impl Into<PathBuf>) -> AuthConfig {
        AuthConfig {
            docker_config: Some(path.into()),
            ..AuthConfig::default()
        }
    }

    /// Looks up credentials for `registry` (`HOST[:PORT]` or `docker.io`)
    /// and `repository`.
    pub fn lookup(&self, registry: &str, repository: &str) -> Result<Lookup, RegistryError> {
        let mut searched = Vec::new();
        let files = self
            .auth_file
            .iter()
            .chain(&self.docker_config)
            .chain(&self.podman_files);
        for path in files {
            let Some(doc) = read_config(path, registry)? else {
                continue;
            };
            searched.push(path.display().to_string());
            if let Some(c) = self.in_config(&doc, path, registry, repository)? {
                return Ok(Lookup {
                    credential: Some(c),
                    searched,
                });
            }
        }
        Ok(Lookup {
            credential: None,
            searched,
        })
    }

    fn in_config(
        &self,
        doc: &Map<String, Value>,
        path: &Path,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Credential>, RegistryError> {
        let helper = Self::helper_for(doc, registry);
        if let Some(name) = helper {
            if let Some(c) = self.helper_get(&name, registry)? {
                return Ok(Some(c));
            }
        }
        let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        // The longest key that is the registry or a repository prefix.
        let full = format!("{registry}/{repository}");
        let best = auths
            .iter()
            .filter_map(|(k, v)| {
                let scope = key_scope(k)?;
                let matches = scope == registry
                    || (full.starts_with(&scope)
                        && full.as_bytes().get(scope.len()) == Some(&b'/'));
                matches.then_some((scope.len(), v))
            })
            .max_by_key(|(len, _)| *len);
        match best {
            Some((_, entry)) => parse_entry(entry, path, registry),
            None => Ok(None),
        }
    }

    fn helper_command(&self, name: &str) -> Result<Command, RegistryError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(RegistryError::Credentials {
                registry: String::new(),
                origin: format!("credential helper `{}`", assemble_io::escape::escape(name)),
                reason: "the helper name may only hold letters, digits, `-`, `_` and `.`".into(),
            });
        }
        let program = format!("docker-credential-{name}");
        let mut cmd = match &self.helper_path {
            Some(path) => {
                let found = std::env::split_paths(path)
                    .map(|d| d.join(&program))
                    .find(|p| p.is_file())
                    .unwrap_or_else(|| PathBuf::from(&program));
                Command::new(found)
            }
            None => Command::new(&program),
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(cmd)
    }

    /// Runs `docker-credential-NAME ACTION` with `input` on stdin and
    /// returns its stdout (`Err(stderr)` when it fails).
    fn run_helper(
        &self,
        name: &str,
        action: &str,
        input: &[u8],
        registry: &str,
    ) -> Result<Result<Vec<u8>, String>, RegistryError> {
        let fail = |reason: String| RegistryError::Credentials {
            registry: registry.to_owned(),
            origin: CredentialSource::Helper(name.to_owned()).to_string(),
            reason,
        };
        let mut child = self
            .helper_command(name)?
            .arg(action)
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "cannot run it: {e}; install it or remove it from the docker config"
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is reported by its status.
            let _ = stdin.write_all(input);
        }
        let read_all = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(r) = r {
                    let _ = r.take(MAX_AUTH_FILE).read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = read_all(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let err = read_all(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if started.elapsed() > HELPER_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "it did not answer within {} s",
                        HELPER_TIMEOUT.as_secs()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(fail(e.to_string())),
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if status.success() {
            return Ok(Ok(stdout));
        }
        // Helpers report on stdout or stderr; neither holds the secret.
        let text = if stdout.is_empty() { stderr } else { stdout };
        let line = String::from_utf8_lossy(&text);
        let line = line.lines().next().unwrap_or("").trim();
        Ok(Err(assemble_io::escape::escape(line).into_owned()))
    }

    fn helper_get(&self, name: &str, registry: &str) -> Result<Option<Credential>, RegistryError> {
        let server = store_key(registry);
        let fail = |reason: String| RegistryError::Credentials {
            registry: registry.to_owned(),
            origin: CredentialSource::Helper(name.to_owned()).to_string(),
            reason,
        };
        let out = match self.run_helper(name, "get", server.as_bytes(), registry)? {
            Ok(out) => out,
            Err(msg) if msg.to_ascii_lowercase().contains("not found") => return Ok(None),
            Err(msg) => return Err(fail(format!("`get` failed: {msg}"))),
        };
        let v: Value = serde_json::from_slice(&out).map_err(|_| {
            fail("its answer is not the JSON object {ServerURL, Username, Secret}".into())
        })?;
        let username = v
            .get("Username")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let secret = v.get("Secret").and_then(Value::as_str).unwrap_or_default();
        if secret.is_empty() {
            return Ok(None);
        }
        let kind = if username == "<token>" {
            SecretKind::IdentityToken
        } else {
            SecretKind::Password
        };
        Ok(Some(Credential {
            username: if kind == SecretKind::IdentityToken {
                String::new()
            } else {
                username.to_owned()
            },
            secret: Secret::new(secret),
            kind,
            source: CredentialSource::Helper(name.to_owned()),
        }))
    }
}

/// Reads a credential file as a JSON object; `None` when it does not exist.
fn read_config(path: &Path, registry: &str) -> Result<Option<Map<String, Value>>, RegistryError> {
    let bad = |reason: String| RegistryError::Credentials {
        registry: registry.to_owned(),
        origin: path.display().to_string(),
        reason,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read it: {e}"))),
    };
    let mut bytes = Vec::new();
    assemble_io::limit::Limited::new(file, MAX_AUTH_FILE, "a credential file")
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    // serde_json's message quotes no input, only line and column.
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(bad("it is not a JSON object".into())),
        Err(e) => Err(bad(format!("it is not valid JSON ({e})"))),
    }
}

/// The registry a `credHelpers`/`auths` key names.
fn key_registry(key: &str) -> Option<String> {
    normalize_registry(key).ok()
}

/// The `HOST[/PATH]` scope of an `auths` key (scheme dropped; docker's
/// `https://index.docker.io/v1/` means Docker Hub).
fn key_scope(key: &str) -> Option<String> {
    let registry = key_registry(key)?;
    let rest = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let path = rest
        .split_once('/')
        .map_or("", |(_, p)| p.trim_end_matches('/'));
    // Only podman's repository prefixes are scopes; docker's `/v1/` is not.
    if path.is_empty() || key.contains("://") {
        Some(registry)
    } else {
        Some(format!("{registry}/{path}"))
    }
}

fn parse_entry(
    entry: &Value,
    path: &Path,
    registry: &str,
) -> Result<Option<Credential>, RegistryError> {
    let bad = |reason: &str| RegistryError::Credentials {
        registry: registry.to_owned(),
        origin: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or_default();
    let source = CredentialSource::File(path.to_owned());
    if !field("identitytoken").is_empty() {
        return Ok(Some(Credential {
            username: field("username").to_owned(),
            secret: Secret::new(field("identitytoken")),
            kind: SecretKind::IdentityToken,
            source,
        }));
    }
    let (user, password) = if !field("auth").is_empty() {
        let decoded = STANDARD
            .decode(field("auth").trim())
            .map_err(|_| bad("the `auth` value of its entry is not base64"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| bad("the `auth` value of its entry is not UTF-8"))?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| bad("the `auth` value of its entry is not base64 of USER:PASSWORD"))?;
        (u.to_owned(), p.to_owned())
    } else {
        (field("username").to_owned(), field("password").to_owned())
    };
    if user.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credential {
        username: user,
        secret: Secret::new(password),
        kind: SecretKind::Password,
        source,
    }))
}

/// The key docker uses for `registry` in `auths` and with helpers.
pub(crate) fn store_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_owned()
    } else {
        registry.to_owned()
    }
}

/// Where `login` stored a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// In this `config.json`.
    File(PathBuf),
    /// With this credential helper.
    Helper(String),
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stored::File(p) => write!(f, "{}", p.display()),
            Stored::Helper(n) => write!(f, "credential helper docker-credential-{n}"),
        }
    }
}

impl AuthConfig {
    fn config_path(&self) -> Result<&Path, RegistryError> {
        self.docker_config
            .as_deref()
            .ok_or_else(|| RegistryError::Credentials {
                registry: String::new(),
                origin: "docker's config.json".into(),
                reason: "no home directory is known; set DOCKER_CONFIG".into(),
            })
    }

    fn helper_for(doc: &Map<String, Value>, registry: &str) -> Option<String> {
        doc.get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| key_registry(k).as_deref() == Some(registry))
                    .and_then(|(_, v)| v.as_str())
            })
            .or_else(|| doc.get("credsStore").and_then(Value::as_str))
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
    }

    /// Stores `credential` for `registry` as `docker login` does: with the
    /// configured helper (`credHelpers[HOST]`, else `credsStore`), else in
    /// `auths` of docker's `config.json` (atomically, mode 0600, other
    /// entries kept).
    pub fn store(&self, registry: &str, credential: &Credential) -> Result<Stored, RegistryError> {
        let path = self.config_path()?;
        let mut doc = read_config(path, registry)?.unwrap_or_default();
        let key = store_key(registry);
        if let Some(helper) = Self::helper_for(&doc, registry) {
            let username = match credential.kind {
                SecretKind::Password => credential.username.as_str(),
                SecretKind::IdentityToken => "<token>",
            };
            let input = json!({"ServerURL": key, "Username": username, "Secret": credential.secret.expose()});
            let input = serde_json::to_vec(&input).unwrap_or_default();
            if let Err(msg) = self.run_helper(&helper, "store", &input, registry)? {
                return Err(RegistryError::Credentials {
                    registry: registry.to_owned(),
                    origin: CredentialSource::Helper(helper).to_string(),
                    reason: format!("`store` failed: {msg}"),
                });
            }
            return Ok(Stored::Helper(helper));
        }
        let auths = doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let entry = match credential.kind {
            SecretKind::Password => {
                let pair = format!("{}:{}", credential.username, credential.secret.expose());
                json!({"auth": STANDARD.encode(pair)})
            }
            SecretKind::IdentityToken => json!({"identitytoken": credential.secret.expose()}),
        };
        if let Some(m) = auths.as_object_mut() {
            m.retain(|k, _| key_scope(k).as_deref() != Some(registry));
            m.insert(key, entry);
        }
        write_config(path, &doc)?;
        Ok(Stored::File(path.to_owned()))
    }

    /// Removes the credential for `registry` (helper `erase` or the
    /// `auths` entries naming it). Returns where it was, `None` when
    /// there was nothing to remove.
    pub fn erase(&self, registry: &str) -> Result<Option<Stored>, RegistryError> {
        let path = self.config_path()?;
        let Some(mut doc) = read_config(path, registry)? else {
            return Ok(None);
        };
        if let Some(helper) = Self::helper_for(&doc, registry) {
            return match self.run_helper(
                &helper,
                "erase",
                store_key(registry).as_bytes(),
                registry,
            )? {
                Ok(_) => Ok(Some(Stored::Helper(helper))),
                Err(msg) if msg.to_ascii_lowercase().contains("not found") => Ok(None),
                Err(msg) => Err(RegistryError::Credentials {
                    registry: registry.to_owned(),
                    origin: CredentialSource::Helper(helper).to_string(),
                    reason: format!("`erase` failed: {msg}"),
                }),
            };
        }
        let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) else {
            return Ok(None);
        };
        let before = auths.len();
        auths.retain(|k, _| key_scope(k).as_deref() != Some(registry));
        if auths.len() == before {
            return Ok(None);
        }
        write_config(path, &doc)?;
        Ok(Some(Stored::File(path.to_owned())))
    }
}

/// Writes docker's config atomically with mode 0600 (its directory 0700
/// when created).
fn write_config(path: &Path, doc: &Map<String, Value>) -> Result<(), RegistryError> {
    let io_err = |action: &'static str, p: &Path, source: std::io::Error| RegistryError::Io {
        action,
        path: p.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|e| io_err("creating directory", dir, e))?;
        }
    }
    let bytes = serde_json::to_vec_pretty(&Value::Object(doc.clone())).unwrap_or_default();
    // It holds credentials: private (0600), like docker writes it.
    assemble_io::atomic::write_private_file::<_, std::io::Error>(path, |w| {
        w.write_all(&bytes)?;
        w.write_all(b"\n")
    })
    .map_err(|e| io_err("writing", path, e))
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// No authentication asked for.
    None,
    /// HTTP Basic.
    Basic,
    /// Token authentication: get a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter to pass.
        service: Option<String>,
        /// The scope the server asked for, if it said.
        scope: Option<String>,
    },
}

/// Parses the first Bearer or Basic challenge of a `WWW-Authenticate`
/// value (`Bearer realm="…",service="…",scope="…"`).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    Some(Challenge::Bearer {
        realm: get("realm")?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// `k=v, k="quoted \" value"` pairs.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, v: &Value) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(v).unwrap()).unwrap();
    }

    #[test]
    fn credentials_never_print_their_secret() {
        let c = Credential {
            username: "u".into(),
            secret: Secret::new("hunter2"),
            kind: SecretKind::Password,
            source: CredentialSource::Given,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn docker_config_auths_and_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("docker/config.json");
        let authfile = dir.path().join("auth.json");
        write(
            &docker,
            &json!({"auths": {
                "https://index.docker.io/v1/": {"auth": STANDARD.encode("hub:pw1")},
                "http://localhost:5000": {"username": "lu", "password": "pw2"},
                "ghcr.io": {"identitytoken": "tok"},
            }}),
        );
        write(
            &authfile,
            &json!({"auths": {
                "quay.io": {"auth": STANDARD.encode("q:pw3")},
                "quay.io/team": {"auth": STANDARD.encode("team:pw4")},
            }}),
        );
        let config = AuthConfig {
            auth_file: Some(authfile.clone()),
            docker_config: Some(docker.clone()),
            podman_files: vec![dir.path().join("missing.json")],
            helper_path: None,
        };
        let get = |reg: &str, repo: &str| config.lookup(reg, repo).unwrap().credential;
        let hub = get("docker.io", "library/alpine").unwrap();
        assert_eq!((hub.username.as_str(), hub.secret.expose()), ("hub", "pw1"));
        assert_eq!(hub.source, CredentialSource::File(docker.clone()));
        let local = get("localhost:5000", "x").unwrap();
        assert_eq!(
            (local.username.as_str(), local.secret.expose()),
            ("lu", "pw2")
        );
        assert_eq!(
            get("ghcr.io", "o/r").unwrap().kind,
            SecretKind::IdentityToken
        );
        assert_eq!(get("quay.io", "team/app").unwrap().username, "team");
        assert_eq!(get("quay.io", "teamx/app").unwrap().username, "q");
        assert_eq!(get("quay.io", "other/app").unwrap().username, "q");
        let none = config.lookup("example.com", "x").unwrap();
        assert!(none.credential.is_none());
        let text = none.describe();
        assert!(
            text.contains("auth.json") && text.contains("config.json"),
            "{text}"
        );
        assert!(!text.contains("missing.json"), "{text}");
    }

    #[test]
    fn malformed_files_name_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            b"{\"auths\": {\"h\": {\"auth\": \"s3cret-not-base64!\"}}}",
        )
        .unwrap();
        let e = AuthConfig::docker_only(&p)
            .lookup("h", "r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.json") && e.contains("base64"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        std::fs::write(&p, b"{\"auths\": s3cret").unwrap();
        let e = AuthConfig::docker_only(&p)
            .lookup("h", "r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid JSON") && !e.contains("s3cret"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn helpers_get_store_and_erase() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let store = dir.path().join("store");
        // A helper keeping one credential in a file.
        let script = format!(
            "#!/bin/sh\nread -r input || true\ncase \"$1\" in\n\
             get) [ -f {s} ] && cat {s} || {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n\
             store) echo \"$input\" > {s} ;;\n\
             erase) rm {s} ;;\nesac\n",
            s = store.display()
        );
        let helper = bin.join("docker-credential-test");
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config_path = dir.path().join("config.json");
        write(&config_path, &json!({"credsStore": "test", "auths": {}}));
        let config = AuthConfig {
            helper_path: Some(bin.into_os_string()),
            ..AuthConfig::docker_only(&config_path)
        };
        assert!(config.lookup("h:1", "r").unwrap().credential.is_none());
        let cred = Credential {
            username: "u".into(),
            secret: Secret::new("pw"),
            kind: SecretKind::Password,
            source: CredentialSource::Given,
        };
        assert_eq!(
            config.store("h:1", &cred).unwrap(),
            Stored::Helper("test".into())
        );
        let got = config.lookup("h:1", "r").unwrap().credential.unwrap();
        assert_eq!(got.secret.expose(), "pw");
        assert_eq!(got.source, CredentialSource::Helper("test".into()));
        assert!(!std::fs::read_to_string(&config_path)
            .unwrap()
            .contains("pw"));
        assert_eq!(
            config.erase("h:1").unwrap(),
            Some(Stored::Helper("test".into()))
        );
        assert!(config.lookup("h:1", "r").unwrap().credential.is_none());
        // A helper that is not installed is a clear error.
        write(&config_path, &json!({"credHelpers": {"h:1": "absent"}}));
        let e = config.lookup("h:1", "r").unwrap_err().to_string();
        assert!(e.contains("docker-credential-absent"), "{e}");
    }

    #[test]
    fn store_and_erase_keep_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new/config.json");
        let config = AuthConfig::docker_only(&p);
        let cred = |u: &str, pw: &str| Credential {
            username: u.into(),
            secret: Secret::new(pw),
            kind: SecretKind::Password,
            source: CredentialSource::Given,
        };
        config.store("docker.io", &cred("a", "pa")).unwrap();
        config.store("h:5000", &cred("b", "pb")).unwrap();
        config.store("h:5000", &cred("c", "pc")).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert!(v["auths"][DOCKER_HUB_KEY]["auth"].is_string());
        assert_eq!(v["auths"].as_object().unwrap().len(), 2);
        assert_eq!(
            config
                .lookup("h:5000", "r")
                .unwrap()
                .credential
                .unwrap()
                .username,
            "c"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(config.erase("h:5000").unwrap().is_some());
        assert!(config.erase("h:5000").unwrap().is_none());
        assert!(config
            .lookup("docker.io", "library/x")
            .unwrap()
            .credential
            .is_some());
    }

    #[test]
    fn challenges_parse() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://h/t, error="insufficient_scope",scope="a b""#),
            Some(Challenge::Bearer {
                realm: "http://h/t".into(),
                service: None,
                scope: Some("a b".into()),
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }
}
