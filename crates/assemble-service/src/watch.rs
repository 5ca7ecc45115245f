//! The update watcher: rebuilds an image when a package of its closure or
//! its source image gets a new version.
//!
//! Every `--poll-interval` the watcher looks at each *input* any built
//! declaration uses — the index of each repository for each architecture
//! it was built for, and the source image — as cheaply as the input
//! allows: a conditional GET (`If-None-Match` / `If-Modified-Since`) for
//! an http(s) index, the content hash of a local index file, the manifest
//! digest the registry gives the source's tag, the digest of a layout's
//! `index.json` or of an archive. What it saw is kept in the database
//! (`watch_inputs`), so a restarted server or a new leader carries on.
//!
//! Only the declarations using an input that changed are looked at again:
//! the engine re-resolves each one afresh ([`Engine::updates`]) and
//! compares with its last lock; a build (`package-update`, or
//! `source-update` when the source moved) is queued only when something
//! in the closure changed, with the changes in the report. A resolution
//! that now fails also queues a build — so that the failure reaches a
//! person through the report and the notifications, instead of staying
//! silent. A declaration with a build queued or running waits for the next
//! tick. An input whose check fails is retried with exponential backoff
//! (reported in the log and by `GET /v1/watch`); the other inputs go on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use assemble::model::Location;
use assemble::state::ImageState;
use oci_image::ImageRef;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};

use crate::api::{Trigger, WatchedInput};
use crate::engine::{describe, parse_declaration, Declaration, Engine};
use crate::queue::Events;
use crate::store::{now_ms, rfc3339, AuditEntry, Store, WatchInput, WatchTarget};

/// The longest wait between checks of a failing input.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The longest a single check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest index the watcher downloads to fingerprint.
const MAX_INDEX_BYTES: u64 = 512 << 20;

/// Something a declaration's build depends on that can change upstream.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Input {
    /// A repository's index for one architecture.
    Index {
        /// The architecture.
        arch: String,
        /// Where the repository is.
        location: Place,
    },
    /// The source image.
    Source(String),
}

/// Where a repository is, for checking.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// A local directory (or index file).
    Local(PathBuf),
    /// An http(s) base URL (credentials included: never shown).
    Url(String),
}

impl Input {
    /// The name the input is stored and reported under (no credentials).
    pub fn key(&self) -> String {
        match self {
            Input::Index {
                arch,
                location: Place::Local(p),
            } => format!("index {arch} {}", p.display()),
            Input::Index {
                arch,
                location: Place::Url(u),
            } => format!("index {arch} {}", assemble_io::url::redact(u)),
            Input::Source(s) => format!("source {s}"),
        }
    }
}

/// The inputs of a declaration built with the lock `locked`: each
/// repository for each architecture built, and the source image.
pub fn inputs(decl: &Declaration, locked: &ImageState) -> Vec<Input> {
    let image = &decl.image;
    let mut out = Vec::new();
    for p in &locked.platforms {
        for r in &image.repositories {
            let location = match &r.location {
                Location::Local(path) => Place::Local(path.clone()),
                Location::Url(url) => Place::Url(url.expose().to_string()),
            };
            out.push(Input::Index {
                arch: p.arch.clone(),
                location,
            });
        }
    }
    if image.source.reference != ImageRef::Scratch {
        out.push(Input::Source(image.source.as_written.clone()));
    }
    out
}

/// The watcher's settings and handles.
#[derive(Clone)]
pub struct Watcher {
    /// The database.
    pub store: Store,
    /// Re-resolves declarations.
    pub engine: Arc<dyn Engine>,
    /// Time between checks.
    pub interval: Duration,
    /// Woken when a build is queued.
    pub wake: Arc<Notify>,
    /// Operator messages.
    pub events: Events,
    /// Used for source images in registries.
    pub fetch: assemble::ops::FetchSettings,
    /// Basic-auth credentials for repository hosts: the ones builds use
    /// (`HTTP_AUTH`, netrc), so that a private repository is watched too.
    pub credentials: apk_repo::auth::Credentials,
}

/// A declaration to look at again, by `(org, repo)`.
type Pending = BTreeSet<(String, String)>;

impl Watcher {
    /// Checks every `interval` until shutdown, while `lead` says this
    /// process is the leader (one watcher per database).
    pub async fn run<L, F>(self, mut shutdown: watch::Receiver<bool>, mut lead: L)
    where
        L: FnMut() -> F + Send,
        F: std::future::Future<Output = bool> + Send,
    {
        let http = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(CHECK_TIMEOUT)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                (self.events)(format!("watch: cannot start an HTTP client: {e}"));
                return;
            }
        };
        let mut pending = Pending::new();
        let mut leading = false;
        loop {
            let now_leading = lead().await;
            if now_leading != leading {
                leading = now_leading;
                (self.events)(
                    if leading {
                        "watch: this server now watches for package and source updates"
                    } else {
                        "watch: another server watches for updates"
                    }
                    .into(),
                );
            }
            if leading {
                if let Err(e) = self.tick(&http, &mut pending).await {
                    (self.events)(format!("watch: {e}"));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// One round: check the inputs due, look again at the declarations
    /// using a changed one (and those left pending), queue rebuilds.
    pub async fn tick(
        &self,
        http: &reqwest::Client,
        pending: &mut Pending,
    ) -> Result<(), crate::store::StoreError> {
        let targets: Vec<(WatchTarget, Declaration, ImageState, Vec<Input>)> = self
            .store
            .watch_targets()
            .await?
            .into_iter()
            .filter_map(|t| {
                let config: Value = serde_json::from_str(&t.config).ok()?;
                let decl = parse_declaration(&t.name, &config).ok()?;
                let locked: ImageState = serde_json::from_str(t.locked.as_deref()?).ok()?;
                let inputs = inputs(&decl, &locked);
                Some((t, decl, locked, inputs))
            })
            .collect();
        let all: BTreeSet<&Input> = targets.iter().flat_map(|t| &t.3).collect();
        let seen: BTreeMap<String, WatchInput> = self
            .store
            .watch_inputs()
            .await?
            .into_iter()
            .map(|w| (w.input.clone(), w))
            .collect();
        let now = now_ms();
        let due: Vec<&Input> = all
            .into_iter()
            .filter(|i| seen.get(&i.key()).is_none_or(|w| w.next_check_at <= now))
            .collect();
        let checks = due.iter().map(|input| {
            let before = seen.get(&input.key()).cloned();
            self.check(http, input, before)
        });
        let mut changed = BTreeSet::new();
        for (input, row) in due.iter().zip(futures_util::future::join_all(checks).await) {
            if row.failures == 0 {
                let before = seen.get(&row.input).and_then(|w| w.fingerprint.as_ref());
                if before != row.fingerprint.as_ref() {
                    changed.insert((*input).clone());
                }
            } else {
                (self.events)(format!(
                    "watch: {} failed {} time(s) in a row: {}; next check at {}",
                    row.input,
                    row.failures,
                    row.last_error.as_deref().unwrap_or(""),
                    rfc3339(row.next_check_at),
                ));
            }
            self.store.save_watch_input(&row).await?;
        }
        let mut again = Vec::new();
        let mut items = Vec::new();
        for (t, decl, locked, inputs) in targets {
            let key = (t.org.clone(), t.name.clone());
            if !pending.contains(&key) && !inputs.iter().any(|i| changed.contains(i)) {
                continue;
            }
            if t.busy > 0 {
                pending.insert(key);
                continue;
            }
            pending.remove(&key);
            items.push((decl, serde_json::to_value(&locked).unwrap_or_default()));
            again.push(t);
        }
        if items.is_empty() {
            return Ok(());
        }
        let engine = self.engine.clone();
        let n = items.len();
        let found = tokio::task::spawn_blocking(move || engine.updates_all(&items))
            .await
            .unwrap_or_else(|e| vec![Err(format!("the engine crashed: {e}")); n]);
        for (t, found) in again.iter().zip(found) {
            self.queue_rebuild(t, found).await?;
        }
        Ok(())
    }

    /// Queues a rebuild of `t` if re-resolving it found changes (or failed).
    async fn queue_rebuild(
        &self,
        t: &WatchTarget,
        found: Result<Vec<crate::api::Change>, String>,
    ) -> Result<(), crate::store::StoreError> {
        let (trigger, changes, why) = match found {
            Ok(changes) if changes.is_empty() => return Ok(()),
            Ok(changes) => {
                let trigger = if changes.iter().any(|c| c.kind == "source") {
                    Trigger::SourceUpdate
                } else {
                    Trigger::PackageUpdate
                };
                let why: Vec<String> = changes.iter().map(describe).collect();
                (trigger, changes, why.join(", "))
            }
            // Something upstream changed and the declaration no longer
            // resolves: build it, so the failure is reported.
            Err(e) => (
                Trigger::PackageUpdate,
                Vec::new(),
                format!("it no longer resolves: {e}"),
            ),
        };
        let changes_json = serde_json::to_string(&changes).unwrap_or_else(|_| "[]".into());
        let audit = AuditEntry {
            org: &t.org,
            actor: "watcher",
            action: "build.trigger",
            target: &t.name,
            outcome: "ok",
            detail: None,
        };
        if let Some(id) = self
            .store
            .trigger_build(&t.org, &t.name, trigger, &changes_json, &audit)
            .await?
        {
            self.wake.notify_waiters();
            (self.events)(format!(
                "watch: queued {trigger} build {id} of {}/{}: {why}",
                t.org, t.name
            ));
        }
        Ok(())
    }

    /// Checks one input; the row to store (failures counted, backoff set).
    async fn check(
        &self,
        http: &reqwest::Client,
        input: &Input,
        before: Option<WatchInput>,
    ) -> WatchInput {
        let before = before.unwrap_or_default();
        let now = now_ms();
        let result = tokio::time::timeout(CHECK_TIMEOUT, self.fingerprint(http, input, &before))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")));
        let interval = self.interval.as_millis() as i64;
        match result {
            Ok(seen) => WatchInput {
                input: input.key(),
                failures: 0,
                last_error: None,
                checked_at: now,
                next_check_at: now,
                ..seen
            },
            Err(e) => {
                let failures = before.failures + 1;
                let backoff =
                    (interval.max(1000) << failures.min(20)).min(MAX_BACKOFF.as_millis() as i64);
                WatchInput {
                    input: input.key(),
                    failures,
                    last_error: Some(assemble_io::escape::escape(&e).into_owned()),
                    checked_at: now,
                    next_check_at: now + backoff,
                    ..before
                }
            }
        }
    }

    /// What the input is now: its fingerprint (and HTTP validators).
    async fn fingerprint(
        &self,
        http: &reqwest::Client,
        input: &Input,
        before: &WatchInput,
    ) -> Result<WatchInput, String> {
        match input {
            Input::Index {
                arch,
                location: Place::Url(base),
            } => {
                let url = apk_repo::remote_index_url(base, arch).map_err(|e| e.to_string())?;
                index_over_http(http, &url, &self.credentials, before).await
            }
            Input::Index {
                arch,
                location: Place::Local(dir),
            } => {
                let (dir, arch) = (dir.clone(), arch.clone());
                let digest = blocking(move || {
                    let file = local_index(&dir, &arch)?;
                    hash_file(&file)
                })
                .await?;
                Ok(fingerprinted(digest))
            }
            Input::Source(written) => {
                let reference = ImageRef::parse(written).map_err(|e| e.to_string())?;
                let fetch = self.fetch.clone();
                let digest = blocking(move || source_digest(&reference, &fetch)).await?;
                Ok(fingerprinted(digest))
            }
        }
    }
}

fn fingerprinted(digest: String) -> WatchInput {
    WatchInput {
        fingerprint: Some(digest),
        ..WatchInput::default()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

/// The index file a local repository has for `arch` (as the fetcher looks
/// for it).
fn local_index(dir: &Path, arch: &str) -> Result<PathBuf, String> {
    if dir.is_file() {
        return Ok(dir.to_owned());
    }
    [
        dir.join(arch).join("APKINDEX.tar.gz"),
        dir.join("APKINDEX.tar.gz"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .ok_or_else(|| format!("no APKINDEX.tar.gz for {arch} in {}", dir.display()))
}

fn hash_file(path: &Path) -> Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

/// The digest that names the source now: the registry's manifest digest
/// for the tag, or the digest of the layout's `index.json` / the archive.
fn source_digest(
    reference: &ImageRef,
    fetch: &assemble::ops::FetchSettings,
) -> Result<String, String> {
    match reference {
        ImageRef::Registry(r) => {
            let registry =
                assemble::ops::publish::registry_client(fetch).map_err(|e| e.to_string())?;
            let resolved = registry.resolve(r).map_err(|e| e.to_string())?;
            Ok(resolved.digest.to_string())
        }
        ImageRef::Layout { path, .. } => hash_file(&path.join("index.json")),
        ImageRef::Archive { path, .. } => hash_file(path),
        ImageRef::Scratch => Ok("scratch".into()),
    }
}

/// A conditional GET of an index: unchanged on `304`, else the SHA-256 of
/// the body (bounded) with the new validators.
async fn index_over_http(
    http: &reqwest::Client,
    url: &str,
    credentials: &apk_repo::auth::Credentials,
    before: &WatchInput,
) -> Result<WatchInput, String> {
    let shown = assemble_io::url::redact(url);
    let mut request = http.get(url);
    // As the fetcher does: the host's credentials, unless the URL has its
    // own (reqwest sends those, and drops both on a redirect elsewhere).
    if let Ok(parsed) = url::Url::parse(url) {
        if let (true, Some(host)) = (parsed.username().is_empty(), parsed.host_str()) {
            if let Some(c) = credentials.lookup(host, parsed.port()) {
                request = request.basic_auth(&c.user, Some(c.password.expose()));
            }
        }
    }
    if before.fingerprint.is_some() {
        if let Some(etag) = &before.etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &before.last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("{shown}: {}", assemble_io::url::redact(&e.to_string())))?;
    if response.status() == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(before.clone());
    }
    if !response.status().is_success() {
        return Err(format!("{shown}: HTTP {}", response.status()));
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let etag = header(reqwest::header::ETAG);
    let last_modified = header(reqwest::header::LAST_MODIFIED);
    let mut hasher = Sha256::new();
    let mut read = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("{shown}: {e}"))?
    {
        read += chunk.len() as u64;
        if read > MAX_INDEX_BYTES {
            return Err(format!("{shown}: larger than {MAX_INDEX_BYTES} bytes"));
        }
        hasher.update(&chunk);
    }
    Ok(WatchInput {
        fingerprint: Some(format!("sha256:{:x}", hasher.finalize())),
        etag,
        last_modified,
        ..WatchInput::default()
    })
}

/// The watch state of the inputs `targets` use, for `GET /v1/watch`.
pub async fn report(
    store: &Store,
    targets: &[(Declaration, ImageState)],
) -> Result<Vec<WatchedInput>, crate::store::StoreError> {
    let used: BTreeSet<String> = targets
        .iter()
        .flat_map(|(d, l)| inputs(d, l))
        .map(|i| i.key())
        .collect();
    Ok(store
        .watch_inputs()
        .await?
        .into_iter()
        .filter(|w| used.contains(&w.input))
        .map(|w| WatchedInput {
            input: w.input,
            fingerprint: w.fingerprint,
            failures: w.failures,
            last_error: w.last_error,
            checked_at: rfc3339(w.checked_at),
            next_check_at: rfc3339(w.next_check_at),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_input_names() {
        use crate::orgs::parse_interval;
        assert_eq!(parse_interval("0"), Ok(Duration::ZERO));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("soon").is_err());
        let secret = Input::Index {
            arch: "x86_64".into(),
            location: Place::Url("https://user:hunter2@apk.example.org/main".into()),
        };
        assert!(!secret.key().contains("hunter2"), "{}", secret.key());
        assert!(secret.key().starts_with("index x86_64 https://"));
    }

    #[test]
    fn local_indexes_are_found_like_the_fetcher_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        assert!(local_index(dir.path(), "x86_64").is_err());
        std::fs::create_dir(dir.path().join("x86_64")).unwrap();
        std::fs::write(dir.path().join("x86_64/APKINDEX.tar.gz"), b"a").unwrap();
        let found = local_index(dir.path(), "x86_64").unwrap();
        let before = hash_file(&found).unwrap();
        std::fs::write(&found, b"b").unwrap();
        assert_ne!(hash_file(&found).unwrap(), before);
    }
}
