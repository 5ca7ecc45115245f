//! `validate` (the pre-commit hook): the schema, atoms and values of the
//! declaration, then that every image resolves and that the lock still
//! fits — every problem reported at once, each pointing at the line that
//! causes it.

use std::path::{Path, PathBuf};

use super::build::BuildError;
use super::plan::resolve_image;
use super::{FetchSettings, Progress, Update, Warning};
use crate::config::{self, ConfigErrors};
use crate::lock::{self, LockError};
use crate::model::Image;

/// Options of `validate`.
#[derive(Clone, Debug, Default)]
pub struct ValidateOptions {
    /// How repositories are reached.
    pub fetch: FetchSettings,
}

/// The verdict.
#[derive(Debug)]
pub struct ValidateReport {
    /// The declaration checked.
    pub declaration: PathBuf,
    /// Every problem (empty: valid).
    pub errors: ConfigErrors,
    /// Warnings of the resolutions.
    pub warnings: Vec<Warning>,
}

impl ValidateReport {
    /// True when nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Why validation could not run at all.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ValidateError {
    /// The lock cannot be read.
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// Validates the declaration `path`.
pub fn validate(
    path: &Path,
    options: &ValidateOptions,
    progress: &dyn Progress,
) -> Result<ValidateReport, ValidateError> {
    let images = match config::load(path) {
        Ok(i) => i,
        Err(errors) => {
            return Ok(ValidateReport {
                declaration: path.to_owned(),
                errors,
                warnings: Vec::new(),
            })
        }
    };
    let lock = lock::read(path)?;
    // Errors per declaring file (a Cargo workspace has several).
    let mut files: Vec<ConfigErrors> = Vec::new();
    let mut warnings = Vec::new();
    for image in &images {
        let mut report = |span, message: String, help| {
            let at = match files.iter().position(|f| f.file == image.file.path) {
                Some(i) => i,
                None => {
                    files.push(ConfigErrors::new(&image.file.path, image.file.text.clone()));
                    files.len() - 1
                }
            };
            files[at].push(span, message, help)
        };
        // The usual case, a valid declaration, costs one resolution; only a
        // failure is resolved again without the lock's strictness to tell a
        // stale lock from a declaration that cannot resolve at all.
        let strict = lock.has_image(&image.name);
        let fetch = &options.fetch;
        let first = match resolve_image(image, &lock, &Update::Keep, strict, fetch, progress) {
            Ok(r) => {
                warnings.extend(r.warnings);
                continue;
            }
            Err(e) => e,
        };
        let error = match strict
            .then(|| resolve_image(image, &lock, &Update::Keep, false, fetch, progress))
        {
            Some(Ok(_)) => {
                report(
                    image.name.span.clone(),
                    format!("image '{}': {}", image.name, first.explain()),
                    Some("run `cargo assemble apply` (or build) to update assembly.lock".into()),
                );
                continue;
            }
            Some(Err(e)) => e,
            None => first,
        };
        report(
            culprit(image, &error),
            format!("image '{}': {}", image.name, error.explain()),
            None,
        );
    }
    let errors = if files.is_empty() {
        ConfigErrors::new(path, String::new())
    } else {
        let mut first = files.remove(0);
        first.others = files;
        first
    };
    Ok(ValidateReport {
        declaration: path.to_owned(),
        errors,
        warnings,
    })
}

/// The span to blame: the declared atom whose name the solver's
/// explanation is about, else the image's name.
fn culprit(image: &Image, error: &BuildError) -> std::ops::Range<usize> {
    match error.culprit(image) {
        Some(i) => image.packages[i].span.clone(),
        None => image.name.span.clone(),
    }
}
