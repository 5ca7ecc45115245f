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
    // With a lock, anything it would gain or lose is an error too (a
    // project never applied has nothing locked yet).
    let locked = lock::lock_path(path).exists();
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
        if locked && !strict {
            report(
                image.name.span.clone(),
                format!("image '{}' is not in assembly.lock", image.name),
                Some(APPLY_HELP.into()),
            );
        }
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
                    Some(APPLY_HELP.into()),
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
        for (span, message) in independent_checks(image, &error, fetch) {
            report(span, format!("image '{}': {message}", image.name), None);
        }
    }
    for gone in lock
        .images
        .iter()
        .filter(|l| !images.iter().any(|i| *i.name == l.name))
    {
        let Some(image) = images.first() else { break };
        let at = match files.iter().position(|f| f.file == image.file.path) {
            Some(i) => i,
            None => {
                files.push(ConfigErrors::new(&image.file.path, image.file.text.clone()));
                files.len() - 1
            }
        };
        files[at].push(
            image.name.span.clone(),
            format!(
                "assembly.lock has image '{}', which is no longer declared",
                gone.name
            ),
            Some(APPLY_HELP.into()),
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

const APPLY_HELP: &str = "run `cargo assemble apply` (or build) to update assembly.lock";

/// How far a build got before `error` stopped it: 0 at the source image,
/// 1 at the keyring, 2 at the repositories' indexes, 3 later.
fn stage(error: &BuildError) -> u8 {
    match error {
        BuildError::Key { .. } => 1,
        BuildError::Index { .. } | BuildError::Universe { .. } | BuildError::Fetcher(_) => 2,
        BuildError::Source { .. }
        | BuildError::NoArchitectures
        | BuildError::MissingArchitecture { .. }
        | BuildError::SourceDatabase { .. } => 0,
        _ => 3,
    }
}

/// The checks the build did not reach because an earlier stage failed
/// (a missing source image must not hide a bad key or an unknown
/// package): every configured key loads, every configured repository's
/// index reads, and every declared package is in one of them. Signatures
/// are not judged here: the source image's keys may be the ones that sign.
fn independent_checks(
    image: &Image,
    error: &BuildError,
    fetch: &FetchSettings,
) -> Vec<(std::ops::Range<usize>, String)> {
    let stage = stage(error);
    let mut found = Vec::new();
    if stage < 1 {
        for key in &image.keyring {
            if let Err(e) = apk::signature::Keyring::new().add_path(&key.path) {
                found.push((
                    key.span.clone(),
                    format!("keyring entry {}: {e}", key.as_written),
                ));
            }
        }
    }
    if stage >= 2 || image.repositories.is_empty() {
        return found;
    }
    let Ok(fetcher) = super::repos::fetcher(fetch, false) else {
        return found;
    };
    let arch = image
        .architectures
        .first()
        .map_or(apk_repo::repository::host_arch(), |a| a.as_str());
    let keyring = apk::signature::Keyring::new();
    let mut indexes = Vec::new();
    for r in &image.repositories {
        match super::repos::load(
            &fetcher,
            r,
            arch,
            &keyring,
            apk::index::archive::Trust::AllowUntrusted,
        ) {
            Ok(index) => indexes.push(index),
            Err(e) => found.push((r.span.clone(), format!("repository {}: {e}", r.as_written))),
        }
    }
    if indexes.len() < image.repositories.len() {
        return found;
    }
    // Named by a record, or provided by one.
    let known = |name: &str| {
        indexes.iter().any(|i| {
            let ix = &i.index;
            ix.lookup(name).is_some_and(|id| {
                (0..ix.len())
                    .any(|r| ix.record_name(r) == id || ix.provides(r).any(|(p, _)| p == id))
            })
        })
    };
    for atom in &image.packages {
        if !known(atom.name()) {
            found.push((
                atom.span.clone(),
                format!(
                    "unknown package '{}': none of the configured repositories has it",
                    atom.name()
                ),
            ));
        }
    }
    found
}

/// The span to blame: the declared atom whose name the solver's
/// explanation is about, else the image's name.
fn culprit(image: &Image, error: &BuildError) -> std::ops::Range<usize> {
    match error.culprit(image) {
        Some(i) => image.packages[i].span.clone(),
        None => image.name.span.clone(),
    }
}
