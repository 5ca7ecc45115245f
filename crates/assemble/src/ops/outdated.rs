//! `outdated`: locked versions that have newer versions in the
//! repositories, and source images whose digest changed — the basis of
//! rebuild-on-update. Each image is resolved afresh, ignoring the lock,
//! and compared with it.

use serde::Serialize;

use super::build::ImageError;
use super::plan::{resolve_image, PlanError};
use super::{FetchSettings, Progress, Project, Update, Warning};
use crate::lock::{self, Lock};

/// Options of `outdated`.
#[derive(Clone, Debug, Default)]
pub struct OutdatedOptions {
    /// How repositories are reached.
    pub fetch: FetchSettings,
}

/// One thing newer than the lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outdated {
    /// A package resolves to another version than the locked one.
    Package {
        /// Image name.
        image: String,
        /// APK architecture.
        arch: String,
        /// Package name.
        name: String,
        /// The locked version.
        locked: String,
        /// The version resolving gives now.
        available: String,
    },
    /// The source image's manifest digest changed.
    Source {
        /// Image name.
        image: String,
        /// APK architecture.
        arch: String,
        /// The locked digest.
        locked: String,
        /// The digest now.
        current: String,
        /// The source as declared.
        source: String,
    },
}

/// Everything outdated.
#[derive(Debug)]
pub struct OutdatedReport {
    /// In declaration order.
    pub items: Vec<Outdated>,
    /// Warnings of the resolutions.
    pub warnings: Vec<Warning>,
}

/// Compares a fresh resolution of every image with the lock.
pub fn outdated(
    project: &Project,
    options: &OutdatedOptions,
    progress: &dyn Progress,
) -> Result<OutdatedReport, PlanError> {
    let lock = lock::read(&project.declaration)?;
    let none = Lock::default();
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    for image in &project.images {
        let newest = resolve_image(image, &none, &Update::All, false, &options.fetch, progress)
            .map_err(|e| ImageError::new(image, e))?;
        for p in &newest.platforms {
            let Some(locked) = lock.platform(&image.name, &p.arch) else {
                continue;
            };
            let versions = locked.versions();
            for k in &p.packages {
                match versions.get(k.name.as_str()) {
                    Some(v) if *v != k.version => items.push(Outdated::Package {
                        image: image.name.value.clone(),
                        arch: p.arch.clone(),
                        name: k.name.clone(),
                        locked: v.to_string(),
                        available: k.version.clone(),
                    }),
                    _ => {}
                }
            }
            if locked.source_digest != p.source_digest {
                items.push(Outdated::Source {
                    image: image.name.value.clone(),
                    arch: p.arch.clone(),
                    locked: locked.source_digest.clone(),
                    current: p.source_digest.clone(),
                    source: image.source.as_written.clone(),
                });
            }
        }
        warnings.extend(newest.warnings);
    }
    Ok(OutdatedReport { items, warnings })
}
