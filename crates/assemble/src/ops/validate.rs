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
                    format!("image '{}': {}", image.name, describe(&first)),
                    Some("run `cargo assemble apply` (or build) to update assembly.lock".into()),
                );
                continue;
            }
            Some(Err(e)) => e,
            None => first,
        };
        report(
            culprit(image, &error),
            format!("image '{}': {}", image.name, describe(&error)),
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
    let names = error
        .resolve_report()
        .map(|r| r.names())
        .unwrap_or_default();
    image
        .packages
        .iter()
        .find(|p| names.contains(&p.name()))
        .map(|p| p.span.clone())
        .unwrap_or_else(|| image.name.span.clone())
}

/// The error with the solver's explanation, or else its causes, as one
/// message.
fn describe(error: &BuildError) -> String {
    let mut text = error.to_string();
    if let Some(report) = error.resolve_report() {
        text.push('\n');
        text.push_str(report.render(usize::MAX).trim_end());
        return text;
    }
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}
