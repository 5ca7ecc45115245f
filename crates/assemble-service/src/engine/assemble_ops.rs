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
    BuildFailure, BuildJob, BuildOutcome, Cancel, Declaration, Engine, LogSink, PackageHit, Plan,
    ResolvedPackage, SearchScope,
};
use crate::api::{Change, FieldError};

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

    fn build(
        &self,
        job: &BuildJob,
        log: &mut dyn LogSink,
        cancel: &Cancel,
    ) -> Result<BuildOutcome, BuildFailure> {
        let image = &job.declaration.image;
        let applied = applied(job.previous.as_ref());
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
                    .map(ImageState::versions)
                    .unwrap_or_default(),
                ..LockPins::default()
            },
            dry_run: false,
            compile: true,
        };
        let progress = LogProgress(Mutex::new(log));
        let report = build::build(image, &options, &progress).map_err(|e| {
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
        let pushed = self.publish(image, &layout, log)?;
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
