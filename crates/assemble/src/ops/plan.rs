//! `plan`: what applying the declaration would change. Each image is
//! resolved with the lock's pins (a dry-run build: nothing fetched or
//! written) and compared with the last applied state kept in git, or with
//! the declaration and lock at another revision.

use std::path::{Path, PathBuf};

use super::build::{self, BuildError, BuildOptions, BuildReport, ImageError, LockPins};
use super::{FetchSettings, Progress, Project, Update, Warning};
use crate::config::{self, ConfigErrors};
use crate::lock::{self, Lock, LockError, LockedPlatform};
use crate::model::Image;
use crate::plan::{self as diff, Plan};
use crate::state::{self, ImageState, StateError};

/// Options of `plan`.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Compare with the declaration and lock at this git revision instead
    /// of the applied state.
    pub base: Option<String>,
    /// Locked versions to ignore.
    pub update: Update,
    /// How repositories are reached.
    pub fetch: FetchSettings,
}

/// A plan and what came up while making it.
#[derive(Debug)]
pub struct PlanReport {
    /// The changes.
    pub plan: Plan,
    /// Warnings of the resolutions.
    pub warnings: Vec<Warning>,
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    /// An image does not resolve.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Image(#[from] ImageError),
    /// The lock cannot be read.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `--update` names a package no image has.
    #[error("--update {}: no image declares or locks {}", names.join(" "), if names.len() == 1 { "that package" } else { "these packages" })]
    #[diagnostic(help("{}", if known.is_empty() {
        "nothing is locked yet: run `cargo assemble apply` first".to_owned()
    } else {
        format!("packages that can be updated: {}", known.join(", "))
    }))]
    UnknownUpdate {
        /// The unknown names (escaped).
        names: Vec<String>,
        /// The names that can be updated.
        known: Vec<String>,
    },
    /// The applied state cannot be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// The declaration did not exist at the base revision.
    #[error("{} does not exist at {rev}", file.display())]
    MissingAt {
        /// The declaration.
        file: PathBuf,
        /// The revision.
        rev: String,
    },
    /// The declaration at the base revision has errors.
    #[error("{} at {rev}", file.display())]
    ConfigAt {
        /// The declaration.
        file: PathBuf,
        /// The revision.
        rev: String,
        /// Its errors.
        #[source]
        #[diagnostic_source]
        errors: ConfigErrors,
    },
    /// The lock at the base revision is unreadable.
    #[error("the lock at {rev}")]
    LockAt {
        /// The revision.
        rev: String,
        /// Why.
        #[source]
        error: LockError,
    },
}

/// Plans `project`.
pub fn plan(
    project: &Project,
    options: &PlanOptions,
    progress: &dyn Progress,
) -> Result<PlanReport, PlanError> {
    let lock = lock::read(&project.declaration)?;
    let (want, warnings) = desired(project, &lock, &options.update, &options.fetch, progress)?;
    let old = match &options.base {
        Some(rev) => Some(state_at(&project.declaration, rev)?),
        None => state::read(&project.declaration, &project.names())?.map(|s| s.images),
    };
    Ok(PlanReport {
        plan: compare(old, want),
        warnings,
    })
}

/// The plan of one image against a given applied state (the build
/// service's last successful build) rather than the project's.
#[derive(Debug)]
pub struct ImagePlanReport {
    /// The changes (empty: building would change nothing).
    pub plan: Plan,
    /// What the image would be: the lock and state of a build.
    pub state: ImageState,
    /// Warnings of the resolution.
    pub warnings: Vec<Warning>,
}

/// Plans `image` against `applied` (`None`: never built), keeping the
/// versions `applied` has while the declaration allows: a dry-run build,
/// nothing fetched or written.
pub fn plan_image(
    image: &Image,
    applied: Option<&ImageState>,
    fetch: &FetchSettings,
    progress: &dyn Progress,
) -> Result<ImagePlanReport, BuildError> {
    let pins = LockPins {
        keep: applied.map(ImageState::versions).unwrap_or_default(),
        ..LockPins::default()
    };
    let report = dry_run(image, pins, fetch, progress)?;
    let state = image_state(
        image,
        report.platforms.into_iter().map(platform_state).collect(),
    );
    Ok(ImagePlanReport {
        plan: compare(applied.cloned().map(|a| vec![a]), vec![state.clone()]),
        state,
        warnings: report.warnings,
    })
}

/// Compares what matters for the image, not output digests, checksums or
/// repository spellings.
pub fn compare(old: Option<Vec<ImageState>>, want: Vec<ImageState>) -> Plan {
    let strip = |v: Vec<ImageState>| -> Vec<ImageState> {
        v.into_iter()
            .map(|mut i| {
                for p in &mut i.platforms {
                    p.image_digest = None;
                    for k in &mut p.packages {
                        k.checksum.clear();
                        k.repository.clear();
                    }
                }
                i
            })
            .collect()
    };
    diff::diff(old.map(strip).as_deref(), &strip(want))
}

/// A dry-run build of `image` with `lock`'s pins.
pub(crate) fn resolve_image(
    image: &Image,
    lock: &Lock,
    update: &Update,
    strict: bool,
    fetch: &FetchSettings,
    progress: &dyn Progress,
) -> Result<BuildReport, BuildError> {
    let pins = if strict {
        lock.locked_pins(&image.name, update)
    } else {
        LockPins {
            keep: lock.pins(&image.name, update),
            ..LockPins::default()
        }
    };
    dry_run(image, pins, fetch, progress)
}

/// Resolves `image` with `pins`: nothing fetched or written.
fn dry_run(
    image: &Image,
    pins: LockPins,
    fetch: &FetchSettings,
    progress: &dyn Progress,
) -> Result<BuildReport, BuildError> {
    let options = BuildOptions {
        fetch: fetch.clone(),
        pins,
        dry_run: true,
        ..BuildOptions::new(image)
    };
    build::build(image, &options, progress)
}

/// The desired state of every image of the project, resolved with the
/// lock's pins (`--locked` is judged on the whole lock by the caller).
pub(crate) fn desired(
    project: &Project,
    lock: &Lock,
    update: &Update,
    fetch: &FetchSettings,
    progress: &dyn Progress,
) -> Result<(Vec<ImageState>, Vec<Warning>), PlanError> {
    let declared: Vec<&str> = project
        .images
        .iter()
        .flat_map(|i| &i.packages)
        .map(|a| a.name())
        .collect();
    let unknown = lock.unknown_updates(update, &declared);
    if !unknown.is_empty() {
        let mut known: Vec<String> = lock
            .images
            .iter()
            .flat_map(|i| &i.platforms)
            .flat_map(|p| &p.packages)
            .map(|k| k.name.clone())
            .chain(declared.iter().map(|d| (*d).to_owned()))
            .collect();
        known.sort();
        known.dedup();
        return Err(PlanError::UnknownUpdate {
            names: unknown
                .iter()
                .map(|n| assemble_io::escape::escape(n).into_owned())
                .collect(),
            known,
        });
    }
    let mut states = Vec::new();
    let mut warnings = Vec::new();
    for image in &project.images {
        let report = resolve_image(image, lock, update, false, fetch, progress)
            .map_err(|e| ImageError::new(image, e))?;
        warnings.extend(report.warnings);
        states.push(image_state(
            image,
            report.platforms.into_iter().map(platform_state).collect(),
        ));
    }
    Ok((states, warnings))
}

/// What the lock and state record of a built (or resolved) platform.
pub fn platform_state(p: build::PlatformReport) -> LockedPlatform {
    LockedPlatform {
        arch: p.arch,
        source_digest: p.source_digest,
        image_digest: (!p.manifest_digest.is_empty()).then_some(p.manifest_digest),
        packages: p.packages,
    }
}

/// The declared parts of `image` with the given per-architecture facts.
pub fn image_state(image: &Image, platforms: Vec<LockedPlatform>) -> ImageState {
    ImageState {
        name: image.name.value.clone(),
        source: image.source.as_written.clone(),
        tags: image.tags.clone(),
        annotations: image.annotations.clone(),
        environment: image.environment.clone(),
        extras: crate::config::extras_summary(image),
        platforms,
    }
}

/// The images as declared and locked at `rev` (read from git objects).
fn state_at(decl: &Path, rev: &str) -> Result<Vec<ImageState>, PlanError> {
    let text = state::file_at(rev, decl)?.ok_or_else(|| PlanError::MissingAt {
        file: decl.to_owned(),
        rev: rev.to_owned(),
    })?;
    let images = config::parse_str(&text, decl).map_err(|errors| PlanError::ConfigAt {
        file: decl.to_owned(),
        rev: rev.to_owned(),
        errors,
    })?;
    let lock_path = lock::lock_path(decl);
    let lock = match state::file_at(rev, &lock_path)? {
        Some(t) => Lock::parse(&t, &lock_path).map_err(|error| PlanError::LockAt {
            rev: rev.to_owned(),
            error,
        })?,
        None => Lock::default(),
    };
    Ok(images
        .iter()
        .map(|i| {
            let platforms = lock
                .images
                .iter()
                .find(|l| l.name == *i.name)
                .map(|l| l.platforms.clone())
                .unwrap_or_default();
            image_state(i, platforms)
        })
        .collect())
}
