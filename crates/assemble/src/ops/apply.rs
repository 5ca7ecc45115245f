//! `apply`: build every image of the declaration, then record the lock
//! and the applied state — in two steps, so that the caller can show the
//! plan and ask before anything is built: [`prepare`] takes the project's
//! apply lock and computes the plan; [`PendingApply::apply`] is the
//! approval and does the work. Outputs, lock and state are each replaced
//! atomically, in that order: an interrupted apply leaves the earlier ones
//! intact and can simply be rerun. An image with `publish` is pushed right
//! after it is built, before the lock and state record it.

use std::fs::File;
use std::path::PathBuf;

use super::build::{self, BuildOptions, BuildReport, ImageError, LockPins};
use super::plan::{self, PlanError};
use super::publish;
use super::{Event, FetchSettings, Progress, Project, Update, Warning};
use crate::lock::{self, LockError};
use crate::plan::Plan;
use crate::state::{self, AppliedState, StateError, STATE_REF};

/// Options of `apply`.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Fail if the lock would change (for CI).
    pub locked: bool,
    /// Locked versions to ignore.
    pub update: Update,
    /// How repositories are reached.
    pub fetch: FetchSettings,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: Option<u64>,
}

/// Why an apply failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    /// The apply lock next to the declaration cannot be taken.
    #[error("cannot lock {}", path.display())]
    ApplyLock {
        /// The lock file.
        path: PathBuf,
        /// Cause.
        #[source]
        error: std::io::Error,
    },
    /// Planning failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
    /// Building an image failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Image(#[from] ImageError),
    /// The lock cannot be read or written.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The state cannot be recorded.
    #[error(transparent)]
    State(#[from] StateError),
    /// `--locked`, and the lock would change.
    #[error("--locked: assembly.lock would change:\n  {}", changes.join("\n  "))]
    #[diagnostic(help(
        "run `cargo assemble apply` without --locked (or `plan`) to see and record the change, \
         and commit assembly.lock"
    ))]
    LockWouldChange {
        /// What would change, one line each.
        changes: Vec<String>,
    },
}

/// An apply whose plan is computed and whose lock is held.
#[derive(Debug)]
pub struct PendingApply<'p> {
    project: &'p Project,
    options: ApplyOptions,
    plan: Plan,
    warnings: Vec<Warning>,
    _guard: File,
}

/// What an apply did.
#[derive(Debug)]
pub struct ApplyReport {
    /// Per image, its build.
    pub images: Vec<(String, BuildReport)>,
    /// The ref the state was recorded on.
    pub state_ref: &'static str,
    /// Warnings of the plan and the builds.
    pub warnings: Vec<Warning>,
}

/// Takes the project's apply lock (waiting for another apply to finish)
/// and computes the plan.
pub fn prepare<'p>(
    project: &'p Project,
    options: ApplyOptions,
    progress: &dyn Progress,
) -> Result<PendingApply<'p>, ApplyError> {
    let guard = apply_lock(project, progress)?;
    // What a killed apply left beside the declaration (the lock's
    // temporary files); outputs' leftovers are removed by their build.
    assemble_io::atomic::remove_leftovers(project.dir(), &[".tmp-"]);
    let lock = lock::read(&project.declaration).map_err(PlanError::from)?;
    // With --locked, what would change is judged on the whole lock below
    // (every difference named), not by the first pin the resolver breaks.
    let (want, warnings) =
        plan::desired(project, &lock, &options.update, &options.fetch, progress)?;
    if options.locked {
        let mut new = lock.clone();
        for image in &want {
            for p in &image.platforms {
                new.set_platform(&image.name, p.clone());
            }
        }
        new.retain_images(&project.names());
        let changes = lock::changes(&lock, &new);
        if !changes.is_empty() {
            return Err(ApplyError::LockWouldChange { changes });
        }
    }
    let old = state::read(&project.declaration, &project.names())
        .map_err(PlanError::from)?
        .map(|s| s.images);
    Ok(PendingApply {
        project,
        options,
        plan: plan::compare(old, want),
        warnings,
        _guard: guard,
    })
}

impl PendingApply<'_> {
    /// What applying will change (empty: nothing to do).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Approved: builds every image, then writes the lock and records the
    /// state.
    pub fn apply(self, progress: &dyn Progress) -> Result<ApplyReport, ApplyError> {
        let project = self.project;
        let mut lock = lock::read(&project.declaration)?;
        let mut state = AppliedState {
            version: 1,
            applied_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            images: Vec::new(),
        };
        let mut warnings = self.warnings;
        let mut images = Vec::new();
        for image in &project.images {
            let options = BuildOptions {
                fetch: self.options.fetch.clone(),
                source_date_epoch: self.options.source_date_epoch,
                pins: if self.options.locked {
                    lock.locked_pins(&image.name, &self.options.update)
                } else {
                    LockPins {
                        keep: lock.pins(&image.name, &self.options.update),
                        ..LockPins::default()
                    }
                },
                ..BuildOptions::new(image)
            };
            let mut report =
                build::build(image, &options, progress).map_err(|e| ImageError::new(image, e))?;
            if !image.publish.is_empty() {
                report.published = publish_image(image, &options, progress)
                    .map_err(|e| ImageError::new(image, e.into()))?;
            }
            let platforms: Vec<_> = report
                .platforms
                .iter()
                .cloned()
                .map(plan::platform_state)
                .collect();
            for p in &platforms {
                lock.set_platform(&image.name, p.clone());
            }
            state.images.push(plan::image_state(image, platforms));
            progress.event(Event::Built {
                image: &image.name,
                output: &options.output,
            });
            warnings.append(&mut report.warnings);
            images.push((image.name.value.clone(), report));
        }
        let names = project.names();
        lock.retain_images(&names);
        lock.version = 1;
        assemble_io::crash_point("before-lock");
        // `--locked` checked up front that the lock stays as it is; it is
        // never written then (not even with new output digests).
        if !self.options.locked {
            lock::write(&project.declaration, &lock)?;
        }
        assemble_io::crash_point("before-state");
        let message = format!("cargo-assemble apply: {}", names.join(", "));
        let recorded = state::write(&project.declaration, &state, &message)?;
        if let Some(lock) = recorded.removed_stale_lock {
            let warning = Warning::StaleRefLock { path: lock };
            progress.event(Event::Warning(&warning));
            warnings.push(warning);
        }
        Ok(ApplyReport {
            images,
            state_ref: STATE_REF,
            warnings,
        })
    }
}

/// Pushes the layout `apply` just wrote for `image` to its `publish` list.
fn publish_image(
    image: &crate::model::Image,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<Vec<publish::Published>, publish::PublishError> {
    let destinations: Vec<_> = image.publish.iter().map(|p| p.value.clone()).collect();
    let layout = options.output.path().unwrap_or(std::path::Path::new("."));
    publish::publish_from_env(
        &options.fetch,
        layout,
        &destinations,
        &image.source.reference,
        progress,
    )
}

/// Serialises applies of one project through a lock file next to the
/// declaration: a second apply waits for the first.
fn apply_lock(project: &Project, progress: &dyn Progress) -> Result<File, ApplyError> {
    let path = project.dir().join(".assembly-apply.lock");
    let err = |error| ApplyError::ApplyLock {
        path: path.clone(),
        error,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            progress.event(Event::WaitingForApplyLock { path: &path });
            file.lock().map_err(err)?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
    }
    Ok(file)
}
