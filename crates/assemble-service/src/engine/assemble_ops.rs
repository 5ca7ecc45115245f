//! The real engine: the `assemble` library's operations, in process (no
//! shelling out). A check is `ops::plan::plan_image`, a dry-run build
//! against the last successful build's state; a build is `ops::build` into
//! a staging layout beside the published one, which replaces it only when
//! the build is complete and was not cancelled meanwhile (a timed-out build
//! whose thread runs on publishes nothing).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use apk::index::archive::Trust;
use assemble::ops::build::{self, BuildError, BuildOptions, LockPins, Output};
use assemble::ops::search::{self, PackageRecord, SearchOptions};
use assemble::ops::{plan, Event, FetchSettings, Progress, RepositoryArgs, Silent};
use assemble::state::ImageState;
use serde_json::Value;

use super::{
    describe, immutable_tag, is_update, BuildFailure, BuildJob, BuildOutcome, Cancel, Declaration,
    Engine, LogSink, PackageHit, Plan, ResolvedPackage, SearchScope,
};
use crate::api::{Change, FieldError, Trigger};

/// Builds with `assemble::ops`, caching indexes and packages in one
/// directory.
#[derive(Debug)]
pub struct AssembleEngine {
    fetch: FetchSettings,
}

impl AssembleEngine {
    /// An engine caching downloads in `cache_dir` (e.g. `DATA/cache`).
    pub fn new(cache_dir: PathBuf) -> AssembleEngine {
        AssembleEngine {
            fetch: FetchSettings {
                offline: false,
                cache_dir: Some(cache_dir),
            },
        }
    }
}

impl AssembleEngine {
    /// Pushes the built `layout` to the declaration's `publish`
    /// registries (credentials from the server's environment: docker
    /// config, auth.json); every reference now naming the image.
    fn publish(
        &self,
        image: &assemble::model::Image,
        layout: &Path,
        log: &mut dyn LogSink,
    ) -> Result<Vec<String>, BuildFailure> {
        if image.publish.is_empty() {
            return Ok(Vec::new());
        }
        let destinations: Vec<_> = image.publish.iter().map(|p| p.value.clone()).collect();
        let progress = LogProgress(Mutex::new(log));
        let published = assemble::ops::publish::publish_from_env(
            &self.fetch,
            layout,
            &destinations,
            &image.source.reference,
            &progress,
        )
        .map_err(|e| {
            let message = assemble_io::escape::escape(&assemble::ops::error_chain(&e)).into_owned();
            progress.line(&format!("failed: {message}"));
            BuildFailure {
                step: "publish".into(),
                message,
            }
        })?;
        let references: Vec<String> = published
            .iter()
            .flat_map(|p| &p.report.images)
            .flat_map(|i| i.references.iter().cloned())
            .collect();
        for r in &references {
            progress.line(&format!("pushed {r}"));
        }
        Ok(references)
    }
}

impl Engine for AssembleEngine {
    fn search(&self, scope: &SearchScope, query: &str) -> Result<Vec<PackageHit>, String> {
        if scope.repositories.is_empty() {
            return Ok(Vec::new());
        }
        let options = SearchOptions {
            repositories: RepositoryArgs {
                repositories: scope.repositories.clone(),
                keyring: scope.keyring.clone(),
                arch: scope.arch.clone(),
                trust: Trust::Verify,
                fetch: self.fetch.clone(),
            },
            pattern: (!query.is_empty()).then(|| query.to_owned()),
        };
        let report =
            search::search(&options, &Silent).map_err(|e| assemble::ops::error_chain(&e))?;
        // One hit per name: the newest version among the repositories.
        let mut newest: BTreeMap<String, PackageRecord> = BTreeMap::new();
        for p in report.packages {
            let newer = newest.get(&p.name).is_none_or(|old| {
                apk::version::compare(&p.version, &old.version) == std::cmp::Ordering::Greater
            });
            if newer {
                newest.insert(p.name.clone(), p);
            }
        }
        Ok(newest
            .into_values()
            .map(|p| PackageHit {
                name: p.name,
                version: p.version,
                description: p.description,
                size: p.size,
                installed_size: p.installed_size,
            })
            .collect())
    }

    fn check(&self, decl: &Declaration, previous: Option<&Value>) -> Result<Plan, Vec<FieldError>> {
        let applied = applied(previous);
        let report = plan::plan_image(&decl.image, applied.as_ref(), &self.fetch, &Silent)
            .map_err(|e| vec![field_error(decl, &e)])?;
        let packages = report.state.platforms.iter().flat_map(|p| &p.packages);
        Ok(Plan {
            changes: changes(&report.plan),
            packages: packages
                .map(|k| ResolvedPackage {
                    name: k.name.clone(),
                    version: k.version.clone(),
                    repository: k.repository.clone(),
                })
                .collect(),
            warnings: report.warnings.iter().map(ToString::to_string).collect(),
        })
    }

    fn updates(&self, decl: &Declaration, previous: &Value) -> Result<Vec<Change>, String> {
        updates_with(decl, previous, &self.fetch)
    }

    /// Each remote index is downloaded once: a declaration whose remote
    /// repositories were all fetched earlier in this call reads them from
    /// the cache (offline), where they are verified again and their parsed
    /// form is shared (`parsed-indexes`).
    fn updates_all(&self, items: &[(Declaration, Value)]) -> Vec<Result<Vec<Change>, String>> {
        let mut fetched = std::collections::BTreeSet::new();
        items
            .iter()
            .map(|(decl, previous)| {
                let remote: Vec<String> = decl
                    .image
                    .repositories
                    .iter()
                    .filter_map(|r| match &r.location {
                        assemble::model::Location::Url(u) => Some(u.expose().to_string()),
                        assemble::model::Location::Local(_) => None,
                    })
                    .collect();
                let fetch = FetchSettings {
                    offline: remote.iter().all(|r| fetched.contains(r)),
                    ..self.fetch.clone()
                };
                let found = updates_with(decl, previous, &fetch);
                if found.is_ok() {
                    fetched.extend(remote);
                }
                found
            })
            .collect()
    }

    fn build(
        &self,
        job: &BuildJob,
        log: &mut dyn LogSink,
        cancel: &Cancel,
    ) -> Result<BuildOutcome, BuildFailure> {
        let image = &job.declaration.image;
        let applied = applied(job.previous.as_ref());
        // The layout also gets the build's own tag, which no later build
        // moves; the state (and so the plan) knows only the declared tags.
        let mut tagged = image.clone();
        tagged.tags.extend(job.number.map(immutable_tag));
        let failure = |step: &str, message: String| BuildFailure {
            step: step.into(),
            message,
        };
        let publish_err = |e: io::Error| failure("publish", e.to_string());
        log.line(&format!(
            "building {}/{} (build {})",
            job.org, job.repo, job.id
        ));
        let parent = job.output.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(publish_err)?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.build-", job.repo))
            .tempdir_in(parent)
            .map_err(publish_err)?;
        let layout = staging.path().join(&job.repo);
        let options = BuildOptions {
            output: Output::Layout(layout.clone()),
            fetch: self.fetch.clone(),
            source_date_epoch: None,
            pins: LockPins {
                keep: applied
                    .as_ref()
                    .filter(|_| job.trigger == Trigger::Config)
                    .map(ImageState::versions)
                    .unwrap_or_default(),
                ..LockPins::default()
            },
            dry_run: false,
            compile: true,
        };
        let progress = LogProgress(Mutex::new(log));
        let report = build::build(&tagged, &options, &progress).map_err(|e| {
            progress.line(&format!("failed: {}", e.explain()));
            failure(step(&e), e.explain())
        })?;
        let log = progress.0.into_inner().unwrap_or_else(|e| e.into_inner());
        if cancel.is_cancelled() {
            log.line("cancelled: the image is not published");
            return Err(failure("publish", "cancelled before publishing".into()));
        }
        // Pushed before the served copy is replaced: a failed push
        // publishes nothing anywhere the tags would move.
        let pushed = self.publish(&tagged, &layout, log)?;
        keep_earlier_images(&job.output, &layout, &image.tags).map_err(publish_err)?;
        for p in &report.platforms {
            let name = p.sbom.file_name().unwrap_or_default();
            std::fs::rename(&p.sbom, parent.join(name)).map_err(publish_err)?;
        }
        replace_dir(&layout, &job.output, staging.path()).map_err(publish_err)?;
        log.line(&format!(
            "published oci:{} {}",
            job.output.display(),
            report.digest
        ));
        let digests: BTreeMap<String, String> = report
            .platforms
            .iter()
            .map(|p| (p.arch.clone(), p.manifest_digest.clone()))
            .collect();
        let warnings = report.warnings.iter().map(ToString::to_string).collect();
        let platforms = report.platforms.into_iter().map(plan::platform_state);
        let state = plan::image_state(image, platforms.collect());
        let changes = changes(&plan::compare(
            applied.map(|a| vec![a]),
            vec![state.clone()],
        ));
        for c in changes.iter().filter(|c| is_update(c)) {
            log.line(&format!("changed: {}", describe(c)));
        }
        let mut locked_config = serde_json::to_value(&state).unwrap_or_default();
        if let Some(lock) = locked_config.as_object_mut() {
            // Beside the lock (readers of `ImageState` ignore it): what the
            // console charts as the image's size over builds.
            lock.insert("image_size".into(), image_sizes(&job.output, &digests));
        }
        Ok(BuildOutcome {
            locked_config,
            digests,
            pushed,
            warnings,
            changes,
        })
    }
}

/// Bytes of each platform's manifest, config and layers (compressed, as
/// pulled), by architecture, read from the published `layout`.
fn image_sizes(layout: &Path, digests: &BTreeMap<String, String>) -> Value {
    let size = |digest: &str| -> Option<u64> {
        let hex = digest.strip_prefix("sha256:")?;
        let blob = layout.join("blobs/sha256").join(hex);
        let bytes = std::fs::read(&blob).ok()?;
        let manifest: Value = serde_json::from_slice(&bytes).ok()?;
        let layers = manifest["layers"].as_array()?;
        let sizes = layers.iter().chain([&manifest["config"]]);
        Some(bytes.len() as u64 + sizes.filter_map(|d| d["size"].as_u64()).sum::<u64>())
    };
    digests
        .iter()
        .filter_map(|(arch, d)| Some((arch.clone(), Value::from(size(d)?))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// What a fresh resolution of `decl` changes in the closure locked in
/// `previous`.
fn updates_with(
    decl: &Declaration,
    previous: &Value,
    fetch: &FetchSettings,
) -> Result<Vec<Change>, String> {
    let applied = applied(Some(previous)).ok_or("the last build's lock is unreadable")?;
    let fresh = plan::plan_image(&decl.image, None, fetch, &Silent).map_err(|e| e.explain())?;
    let compared = plan::compare(Some(vec![applied]), vec![fresh.state]);
    Ok(changes(&compared).into_iter().filter(is_update).collect())
}

/// The state of the last successful build (its `locked_config`); `None`
/// for a first build, or one recorded by another engine.
fn applied(previous: Option<&Value>) -> Option<ImageState> {
    serde_json::from_value(previous?.clone()).ok()
}

/// The plan's changes as the API's objects (the same JSON as `plan
/// --format json`).
fn changes(plan: &assemble::plan::Plan) -> Vec<Change> {
    plan.images
        .iter()
        .flat_map(|i| &i.changes)
        .filter_map(|c| serde_json::from_value(serde_json::to_value(c).ok()?).ok())
        .collect()
}

/// The failure as a problem of the declaration, at the value to blame.
fn field_error(decl: &Declaration, error: &BuildError) -> FieldError {
    let image = &decl.image;
    let path = match error {
        BuildError::Resolve { .. } => match error.culprit(image) {
            Some(i) => format!("/packages/{i}"),
            None => "/packages".into(),
        },
        BuildError::Source { .. } | BuildError::SourceDatabase { .. } => "/source".into(),
        BuildError::NoArchitectures | BuildError::MissingArchitecture { .. } => {
            "/architectures".into()
        }
        BuildError::Key { path, .. } => match image.keyring.iter().position(|k| k.path == *path) {
            Some(i) => format!("/keyring/{i}"),
            None => "/keyring".into(),
        },
        BuildError::Index { repository, .. } => {
            match image
                .repositories
                .iter()
                .position(|r| r.as_written == *repository)
            {
                Some(i) => format!("/repositories/{i}"),
                None => "/repositories".into(),
            }
        }
        _ => String::new(),
    };
    FieldError::new(path, error.explain())
}

/// The step a build failed in, for the report.
fn step(error: &BuildError) -> &'static str {
    match error {
        BuildError::Source { .. }
        | BuildError::NoArchitectures
        | BuildError::MissingArchitecture { .. }
        | BuildError::SourceDatabase { .. }
        | BuildError::Limit(_) => "source",
        BuildError::Fetcher(_)
        | BuildError::Key { .. }
        | BuildError::Index { .. }
        | BuildError::Universe { .. } => "indexes",
        BuildError::Resolve { .. } => "resolve",
        BuildError::Unfetchable { .. } | BuildError::Fetch { .. } => "fetch",
        BuildError::Layer { .. } | BuildError::LayerChanged { .. } => "layer",
        _ => "write",
    }
}

/// Carries the images of the layout at `old` (the previous build) over to
/// the layout at `new` (this build), so that every earlier digest stays
/// pullable: its blobs (hard-linked), and its index entries — tagged with
/// their build tags; an entry under a tag this build took over
/// (`moving`) stays only by digest. Index entries are compared as JSON, so
/// whatever the layout writer adds (SBOM referrers) is kept alike.
fn keep_earlier_images(old: &Path, new: &Path, moving: &[String]) -> io::Result<()> {
    const REF_NAME: &str = "org.opencontainers.image.ref.name";
    let read = |dir: &Path| -> io::Result<Option<Value>> {
        match std::fs::read(dir.join("index.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    };
    let (Some(before), Some(mut after)) = (read(old)?, read(new)?) else {
        return Ok(());
    };
    let entries = |v: &Value| v["manifests"].as_array().cloned().unwrap_or_default();
    let moved = |e: &Value| {
        e["annotations"][REF_NAME]
            .as_str()
            .is_some_and(|t| moving.iter().any(|m| m == t))
    };
    let earlier = entries(&before);
    let mut kept = entries(&after);
    for mut entry in earlier.clone() {
        if moved(&entry) {
            // Reachable under its build tag already: nothing to keep.
            if earlier
                .iter()
                .any(|e| e["digest"] == entry["digest"] && !moved(e))
            {
                continue;
            }
            if let Some(a) = entry["annotations"].as_object_mut() {
                a.remove(REF_NAME);
            }
        }
        let same = |k: &Value| {
            k["digest"] == entry["digest"]
                && k["annotations"][REF_NAME] == entry["annotations"][REF_NAME]
        };
        if !kept.iter().any(same) {
            kept.push(entry);
        }
    }
    let blobs = old.join("blobs/sha256");
    let into = new.join("blobs/sha256");
    if let Ok(dir) = std::fs::read_dir(&blobs) {
        for file in dir {
            let file = file?;
            let target = into.join(file.file_name());
            if !target.exists() && std::fs::hard_link(file.path(), &target).is_err() {
                std::fs::copy(file.path(), &target)?;
            }
        }
    }
    after["manifests"] = Value::Array(kept);
    let text = serde_json::to_vec(&after).map_err(io::Error::other)?;
    assemble_io::atomic::write_file(&new.join("index.json"), |w| {
        std::io::Write::write_all(w, &text)
    })
}

/// Moves the directory `new` to `dest`, the previous `dest` going into
/// `aside` (removed with it): `dest` is always a complete layout.
fn replace_dir(new: &Path, dest: &Path, aside: &Path) -> io::Result<()> {
    let old = aside.join(".old");
    let had_old = match std::fs::rename(dest, &old) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    if let Err(e) = std::fs::rename(new, dest) {
        if had_old {
            let _ = std::fs::rename(&old, dest);
        }
        return Err(e);
    }
    Ok(())
}

/// The build's progress, as lines of its log.
struct LogProgress<'a>(Mutex<&'a mut dyn LogSink>);

impl LogProgress<'_> {
    fn line(&self, line: &str) {
        let mut sink = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sink.line(line);
    }
}

impl Progress for LogProgress<'_> {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Step { arch, step, .. } => self.line(&format!("{arch}: {step}")),
            Event::Fetched {
                arch, done, total, ..
            } if done == total => self.line(&format!("{arch}: fetched {total} packages")),
            Event::Warning(w) => self.line(&format!("warning: {w}")),
            _ => {}
        }
    }
}
