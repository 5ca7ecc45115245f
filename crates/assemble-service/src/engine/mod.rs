//! The seam between the service and the image engine.
//!
//! The service decides *when* and *whether* to build (auth, entitlements,
//! queue, leases); the engine decides *what* a declaration means: its plan
//! and its build. [`Engine`] is that boundary, so the service is tested on
//! its own with [`FakeEngine`] and the real engine, [`AssembleEngine`] (the
//! `assemble` library's operations, in process), plugs in without touching
//! the rest. [`parse_declaration`] is the one place where submitted JSON
//! becomes a declaration, through the same checks as assembly.toml.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::Path;

use apk::dependency::{Context, Dependency};
use assemble::config;
use assemble::model::{Image, Location};
use oci_image::ImageRef;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::api::{Change, FieldError, Trigger};

mod assemble_ops;
pub use assemble_ops::AssembleEngine;

/// A submitted declaration that passed the checks of an `[image]` table:
/// the JSON as stored and returned by the API (`name` set) and the typed
/// image it means.
#[derive(Clone, Debug, PartialEq)]
pub struct Declaration {
    /// The declaration as stored and returned by the API.
    pub json: Value,
    /// The typed image (relative paths resolved against `/`).
    pub image: Image,
}

impl Declaration {
    /// The string elements of an array key.
    pub fn strings(&self, key: &str) -> Vec<&str> {
        self.json
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// A string value of the `annotations` object.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.json.get("annotations")?.get(key)?.as_str()
    }

    /// Local paths of the declaration (source layouts and archives, local
    /// repositories, keys), refused unless `allowed` (the server runs with
    /// `--allow-local-paths`); when allowed they must be absolute.
    pub fn local_path_errors(&self, allowed: bool) -> Vec<FieldError> {
        let image = &self.image;
        let mut paths = Vec::new();
        if let ImageRef::Layout { .. } | ImageRef::Archive { .. } = image.source.reference {
            let written = &image.source.as_written;
            let path = written.split_once(':').map_or(written.as_str(), |(_, p)| p);
            paths.push(("/source".to_owned(), written.clone(), path.to_owned()));
        }
        for (i, r) in image.repositories.iter().enumerate() {
            if let Location::Local(_) = r.location {
                let path = match &r.tag {
                    Some(_) => r.as_written.split_once(' ').map_or("", |(_, p)| p.trim()),
                    None => &r.as_written,
                };
                let path = path.strip_prefix("file://").unwrap_or(path).to_owned();
                paths.push((format!("/repositories/{i}"), r.as_written.clone(), path));
            }
        }
        for (i, k) in image.keyring.iter().enumerate() {
            paths.push((
                format!("/keyring/{i}"),
                k.as_written.clone(),
                k.as_written.clone(),
            ));
        }
        paths
            .into_iter()
            .filter_map(|(pointer, written, path)| {
                let message = if !allowed {
                    format!(
                        "'{written}' is a local path, which the server cannot read (it is not on \
                         your machine): use an http(s) repository and the source image's keys, \
                         or run the server with --allow-local-paths for single-machine use"
                    )
                } else if !Path::new(&path).is_absolute() {
                    format!(
                        "'{written}' is relative: the server resolves no relative paths; write \
                         it absolute (`apply --server` does)"
                    )
                } else {
                    return None;
                };
                Some(FieldError::new(pointer, message))
            })
            .collect()
    }
}

/// Checks a declaration for the repo called `name` with the same checks as
/// an `[image]` table of assembly.toml: every problem at once, as JSON
/// pointers.
pub fn parse_declaration(name: &str, body: &Value) -> Result<Declaration, Vec<FieldError>> {
    let Some(object) = body.as_object() else {
        return Err(vec![FieldError::new(
            "",
            "the body must be a JSON object with the keys of [image] (name, source, packages, …)",
        )]);
    };
    let mut errors = Vec::new();
    let mut json = object.clone();
    if let Some(Value::String(n)) = json.get("name") {
        if n != name {
            errors.push(FieldError::new(
                "/name",
                format!("'name' is '{n}' but the URL names the repo '{name}'; omit it or make them equal"),
            ));
        }
    }
    // A `name` of another type is reported by the checks below.
    if json.get("name").is_none_or(Value::is_string) {
        json.insert("name".into(), Value::String(name.to_owned()));
    }
    // `notify` is the service's own key (webhooks), not one of [image].
    errors.extend(notify_errors(json.get("notify")));
    let mut image_keys = json.clone();
    image_keys.remove("notify");
    let json = Value::Object(json);
    match config::image_from_value(&Value::Object(image_keys), Path::new("/"), "request body") {
        Ok(image) if errors.is_empty() => Ok(Declaration { json, image }),
        Ok(_) => Err(errors),
        Err(found) => {
            errors.extend(
                found
                    .into_iter()
                    .map(|e| FieldError::new(e.path, e.message)),
            );
            Err(errors)
        }
    }
}

/// The problems of a declaration's `notify`: an array of http(s) URLs.
/// Whether a receiver may be reached (https, public address) is judged at
/// delivery, against the server's settings.
fn notify_errors(notify: Option<&Value>) -> Vec<FieldError> {
    let Some(notify) = notify else {
        return Vec::new();
    };
    let Some(urls) = notify.as_array() else {
        return vec![FieldError::new(
            "/notify",
            "'notify' is a list of webhook URLs, e.g. [\"https://hooks.example.org/builds\"]",
        )];
    };
    urls.iter()
        .enumerate()
        .filter_map(|(i, u)| {
            let ok = u
                .as_str()
                .and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
            (!ok).then(|| {
                FieldError::new(
                    format!("/notify/{i}"),
                    format!("{u} is not a webhook URL: write https://HOST/PATH"),
                )
            })
        })
        .collect()
}

/// A package the plan would install, for the entitlement check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPackage {
    /// Package name.
    pub name: String,
    /// Version to install.
    pub version: String,
    /// The repository it comes from, as written.
    pub repository: String,
}

/// What a declaration would do if built now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Changes compared with the previous successful build.
    pub changes: Vec<Change>,
    /// Every package the build would add (the whole closure).
    pub packages: Vec<ResolvedPackage>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
}

/// What a successful build produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuildOutcome {
    /// The declaration with every version and digest pinned.
    pub locked_config: Value,
    /// Manifest digests by architecture.
    pub digests: BTreeMap<String, String>,
    /// Where the image was published.
    pub pushed: Vec<String>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
    /// Changes compared with the previous successful build.
    pub changes: Vec<Change>,
}

/// Why a build failed: the failing step and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {message}")]
pub struct BuildFailure {
    /// The step that failed (`resolve`, `fetch`, `layer`, `publish`, …).
    pub step: String,
    /// What went wrong.
    pub message: String,
}

/// Receives a build's log lines as they happen.
pub trait LogSink: Send {
    /// One line (without the newline).
    fn line(&mut self, line: &str);
}

/// Set when a build must stop (timeout, lost lease, shutdown).
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks the build to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once asked to stop; an engine checks this between steps.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// One build to run.
#[derive(Clone, Debug)]
pub struct BuildJob {
    /// The build's id.
    pub id: String,
    /// Organization.
    pub org: String,
    /// Repo.
    pub repo: String,
    /// What to build.
    pub declaration: Declaration,
    /// The previous successful build's locked config, if any.
    pub previous: Option<Value>,
    /// What made the build: a `config` build keeps the previous build's
    /// versions while the declaration allows (like `apply`); every rebuild
    /// (`manual`, `package-update`, `source-update`) resolves afresh.
    pub trigger: Trigger,
    /// The repo's build number: the image is also tagged
    /// [`immutable_tag`]`(number)`, a tag no later build moves.
    pub number: Option<i64>,
    /// Where to publish the OCI layout (`DATA/images/<org>/<repo>`).
    pub output: std::path::PathBuf,
}

/// Where [`Engine::search`] looks: repositories and keys as declarations
/// name them (already filtered to what the organization is entitled to).
#[derive(Clone, Debug, Default)]
pub struct SearchScope {
    /// Repositories, in priority order, without duplicates.
    pub repositories: Vec<assemble::model::Repository>,
    /// Trusted key files (or directories of keys).
    pub keyring: Vec<std::path::PathBuf>,
    /// The architecture whose indexes to read.
    pub arch: String,
}

/// A package offered to add (the console's package picker).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackageHit {
    /// Name.
    pub name: String,
    /// Newest version in the scope.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Package file size in bytes.
    pub size: Option<u64>,
    /// Installed size in bytes.
    pub installed_size: Option<u64>,
}

/// Plans and builds declarations. Called from blocking threads.
pub trait Engine: Send + Sync + 'static {
    /// Packages of `scope` whose name contains `query` (all of them when it
    /// is empty), one per name at its newest version, by name. A scope
    /// that cannot be read is an error for people.
    fn search(&self, scope: &SearchScope, query: &str) -> Result<Vec<PackageHit>, String>;

    /// Validates and resolves `decl`, comparing with `previous` (the last
    /// successful build's locked config): every problem at once.
    fn check(&self, decl: &Declaration, previous: Option<&Value>) -> Result<Plan, Vec<FieldError>>;

    /// Builds and publishes `job`, writing progress to `log`, stopping soon
    /// after `cancel` is set.
    fn build(
        &self,
        job: &BuildJob,
        log: &mut dyn LogSink,
        cancel: &Cancel,
    ) -> Result<BuildOutcome, BuildFailure>;

    /// Resolves `decl` afresh (no pins) against the repositories and the
    /// source image as they are now and returns what a rebuild would change
    /// in the closure compared with `previous`, the last successful build's
    /// locked config: package upgrades, downgrades, additions and removals
    /// and source digests — never declaration edits, which are `config`
    /// builds' business. Empty: nothing to rebuild. The update watcher calls
    /// it for each declaration using an input that changed.
    fn updates(&self, decl: &Declaration, previous: &Value) -> Result<Vec<Change>, String> {
        let _ = (decl, previous);
        Ok(Vec::new())
    }

    /// [`Engine::updates`] of many declarations at once (what the watcher
    /// calls after a change), in order. An engine may share work between
    /// them: the real one downloads each remote index once per call.
    fn updates_all(&self, items: &[(Declaration, Value)]) -> Vec<Result<Vec<Change>, String>> {
        items.iter().map(|(d, p)| self.updates(d, p)).collect()
    }
}

/// The tag a successful build `number` keeps for good (`build-7`), next to
/// the declaration's moving tags (`latest`, …).
pub fn immutable_tag(number: i64) -> String {
    format!("build-{number}")
}

/// True for a change that an update (of a package or of the source image)
/// brings, as opposed to one of the declaration.
pub fn is_update(change: &Change) -> bool {
    matches!(
        change.kind.as_str(),
        "upgrade" | "downgrade" | "add_package" | "remove_package" | "source"
    )
}

/// One line per change, as the report's log and notifications show them:
/// `hello 1.0-r0 → 1.1-r0`, `source sha256:… → sha256:…`.
pub fn describe(change: &Change) -> String {
    let arch = change
        .arch
        .as_deref()
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    let name = change.name.as_deref().unwrap_or(&change.kind);
    let (from, to) = (change.from.as_deref(), change.to.as_deref());
    match (change.kind.as_str(), from, to) {
        ("source", Some(f), Some(t)) => format!("source {f} → {t}{arch}"),
        (_, Some(f), Some(t)) => format!("{name} {f} → {t}{arch}"),
        ("add_package", ..) => format!(
            "{name} {} added{arch}",
            change.version.as_deref().unwrap_or("")
        ),
        ("remove_package", ..) => format!(
            "{name} {} removed{arch}",
            change.version.as_deref().unwrap_or("")
        ),
        _ => format!("{}{arch}", change.kind),
    }
}

/// A stand-in engine for testing the service: behaviour comes from the
/// declaration, nothing is written. Annotations: `fake.sleep` (e.g. `"3s"`)
/// makes the build take that long, `fake.fail` makes it fail with that
/// message. A package named `missing-*` does not resolve; every other atom
/// resolves to `NAME 1.0-r0` from the first repository.
#[derive(Debug, Default)]
pub struct FakeEngine;

/// The fake engine's package universe, whatever the scope.
const FAKE_PACKAGES: [(&str, &str, &str, u64); 5] = [
    (
        "curl",
        "8.11.1-r0",
        "URL retrieval utility and library",
        290_000,
    ),
    (
        "git",
        "2.47.1-r0",
        "Distributed version control system",
        15_400_000,
    ),
    (
        "jq",
        "1.7.1-r0",
        "A lightweight and flexible command-line JSON processor",
        380_000,
    ),
    (
        "python-3.12",
        "3.12.8-r1",
        "The Python programming language",
        48_000_000,
    ),
    ("replayout", "1.0-r0", "Replays an OCI layout", 120_000),
];

impl Engine for FakeEngine {
    fn search(&self, _scope: &SearchScope, query: &str) -> Result<Vec<PackageHit>, String> {
        Ok(FAKE_PACKAGES
            .iter()
            .filter(|(name, ..)| name.contains(query))
            .map(|&(name, version, description, installed)| PackageHit {
                name: name.into(),
                version: version.into(),
                description: description.into(),
                size: Some(installed / 3),
                installed_size: Some(installed),
            })
            .collect())
    }

    fn check(&self, decl: &Declaration, previous: Option<&Value>) -> Result<Plan, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut packages = Vec::new();
        let repository = decl
            .strings("repositories")
            .first()
            .map_or("fake", |r| r)
            .to_owned();
        for (i, atom) in decl.strings("packages").into_iter().enumerate() {
            let Ok(dep) = Dependency::parse(atom, Context::World) else {
                continue;
            };
            if dep.name.starts_with("missing-") {
                errors.push(FieldError::new(
                    format!("/packages/{i}"),
                    format!("package '{}' not found in any repository", dep.name),
                ));
            }
            packages.push(ResolvedPackage {
                name: dep.name.to_owned(),
                version: "1.0-r0".into(),
                repository: repository.clone(),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Plan {
            changes: package_changes(decl, previous),
            packages,
            warnings: Vec::new(),
        })
    }

    fn build(
        &self,
        job: &BuildJob,
        log: &mut dyn LogSink,
        cancel: &Cancel,
    ) -> Result<BuildOutcome, BuildFailure> {
        let decl = &job.declaration;
        log.line(&format!(
            "fake engine: building {} (build {})",
            job.repo, job.id
        ));
        let sleep = decl
            .annotation("fake.sleep")
            .and_then(|s| humantime::parse_duration(s).ok())
            .unwrap_or_default();
        let start = Instant::now();
        let mut step = 0;
        while start.elapsed() < sleep {
            if cancel.is_cancelled() {
                return Err(BuildFailure {
                    step: "fake".into(),
                    message: "cancelled".into(),
                });
            }
            step += 1;
            if step % 10 == 0 {
                log.line(&format!(
                    "fake engine: working ({} ms)",
                    start.elapsed().as_millis()
                ));
            }
            std::thread::sleep(
                Duration::from_millis(50).min(sleep.saturating_sub(start.elapsed())),
            );
        }
        if let Some(message) = decl.annotation("fake.fail") {
            log.line(&format!("fake engine: failing: {message}"));
            return Err(BuildFailure {
                step: "fake".into(),
                message: message.to_owned(),
            });
        }
        let packages: Map<String, Value> = decl
            .strings("packages")
            .into_iter()
            .filter_map(|a| Dependency::parse(a, Context::World).ok())
            .map(|d| (d.name.to_owned(), json!("1.0-r0")))
            .collect();
        let digest = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(decl.json.to_string()))
        );
        log.line(&format!("fake engine: done, {digest}"));
        Ok(BuildOutcome {
            locked_config: json!({ "source": decl.json.get("source"), "packages": packages }),
            digests: BTreeMap::from([("x86_64".to_owned(), digest)]),
            pushed: Vec::new(),
            warnings: Vec::new(),
            changes: package_changes(decl, job.previous.as_ref()),
        })
    }
}

/// Package additions and removals by name against a previous locked config
/// (`{"packages": {name: version}}`): what can be said without resolving.
fn package_changes(decl: &Declaration, previous: Option<&Value>) -> Vec<Change> {
    let before: BTreeMap<&str, &str> = previous
        .and_then(|p| p.get("packages"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let now: Vec<&str> = decl
        .strings("packages")
        .into_iter()
        .filter_map(|a| Dependency::parse(a, Context::World).ok().map(|d| d.name))
        .collect();
    let change = |kind: &str, name: &str, version: Option<&str>| Change {
        kind: kind.into(),
        name: Some(name.into()),
        version: version.map(str::to_owned),
        ..Change::default()
    };
    let mut changes = Vec::new();
    if previous.is_none() {
        let name = decl
            .json
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        changes.push(change("create_image", name, None));
    }
    changes.extend(
        now.iter()
            .filter(|n| !before.contains_key(*n))
            .map(|n| change("add_package", n, None)),
    );
    changes.extend(
        before
            .iter()
            .filter(|(n, _)| !now.contains(n))
            .map(|(n, v)| change("remove_package", n, Some(v))),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_error_at_once() {
        let body = json!({
            "name": "other",
            "packages": ["curl", 7, "bad atom>>"],
            "tags": "latest",
            "annotations": {"a": 1},
            "pakages": [],
        });
        let errors = parse_declaration("img", &body).unwrap_err();
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/name",
                "/annotations/a",
                "/packages/1",
                "/packages/2",
                "/pakages",
                "/tags",
                "/source"
            ]
        );
        assert!(errors[4].message.contains("did you mean 'packages'"));
    }

    #[test]
    fn a_valid_declaration_gets_its_name() {
        let d = parse_declaration(
            "img",
            &json!({"source": "scratch", "packages": ["curl>=8"]}),
        )
        .unwrap();
        assert_eq!(d.json["name"], "img");
        assert_eq!(d.strings("packages"), ["curl>=8"]);
    }

    #[test]
    fn local_paths_need_the_server_s_consent_and_must_be_absolute() {
        let d = parse_declaration(
            "img",
            &json!({
                "source": "oci:./base:latest",
                "repositories": ["@t /srv/repo", "https://h.example/r", "file:///srv/x"],
                "keyring": ["/keys/k.rsa.pub"],
            }),
        )
        .unwrap();
        let refused: Vec<_> = d
            .local_path_errors(false)
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(
            refused,
            [
                "/source",
                "/repositories/0",
                "/repositories/2",
                "/keyring/0"
            ]
        );
        let relative: Vec<_> = d
            .local_path_errors(true)
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(relative, ["/source"]);
        let scratch = parse_declaration("img", &json!({"source": "scratch"})).unwrap();
        assert!(scratch.local_path_errors(false).is_empty());
    }

    #[test]
    fn fake_plan_names_changes_and_missing_packages() {
        let d = parse_declaration("img", &json!({"source": "scratch", "packages": ["a", "b"]}))
            .unwrap();
        let prev = json!({"packages": {"a": "1.0-r0", "c": "1.0-r0"}});
        let plan = FakeEngine.check(&d, Some(&prev)).unwrap();
        let kinds: Vec<_> = plan
            .changes
            .iter()
            .map(|c| (c.kind.as_str(), c.name.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [("add_package", Some("b")), ("remove_package", Some("c"))]
        );
        let bad = parse_declaration(
            "img",
            &json!({"source": "scratch", "packages": ["a", "missing-x"]}),
        )
        .unwrap();
        assert_eq!(
            FakeEngine.check(&bad, None).unwrap_err()[0].path,
            "/packages/1"
        );
    }
}
