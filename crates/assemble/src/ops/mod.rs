//! The operations, as cargo's `ops::*`: each verb of the command line is a
//! function here taking typed options and returning a typed report or a
//! typed error. The CLI only parses arguments, calls one operation and
//! renders what comes back; the build service and the GitHub Action call
//! the same functions.
//!
//! Nothing here prints. Progress and warnings go to the [`Progress`] the
//! caller supplies (a terminal spinner, a per-build log in the service, or
//! [`Silent`]); warnings are also part of each report.

// Errors carry their causes, spans and the solver's explanation up to the
// renderer; an operation returns at most one, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod build;
pub mod export;
pub mod import;
pub mod index;
pub mod init;
pub mod keygen;
pub mod outdated;
pub mod package;
pub mod plan;
mod project;
pub mod publish;
mod repos;
pub mod resolve;
pub mod search;
pub mod validate;
pub mod verify;
mod warning;

use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::layer::LayerWarning;
pub use project::{Project, ProjectError, Update};
pub use repos::{
    trust_help, trust_help_text, IndexError, KeySource, RepositoryArgs, RepositoryArgsError,
};
pub use warning::{chain as error_chain, Warning};

/// How operations reach repositories.
#[derive(Clone, Debug, Default)]
pub struct FetchSettings {
    /// Use only cached indexes and packages for remote repositories.
    pub offline: bool,
    /// Cache root (default: `$CARGO_ASSEMBLE_CACHE`, else the user cache
    /// directory).
    pub cache_dir: Option<PathBuf>,
}

/// A phase of an image build, for progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reading the source image's filesystem metadata and apk state.
    ReadingSource,
    /// Fetching and verifying repository indexes.
    LoadingIndexes,
    /// Resolving the packages to add.
    Resolving,
    /// Fetching and verifying packages.
    Fetching,
    /// Writing the new layer.
    WritingLayer,
    /// Writing config, manifest and SBOM.
    WritingImage,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::ReadingSource => "reading the source image",
            Step::LoadingIndexes => "loading repository indexes",
            Step::Resolving => "resolving",
            Step::Fetching => "fetching packages",
            Step::WritingLayer => "writing the layer",
            Step::WritingImage => "writing the image",
        })
    }
}

/// Something an operation wants its caller to know while it runs.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A build phase starts for one architecture of an image.
    Step {
        /// Image name.
        image: &'a str,
        /// APK architecture.
        arch: &'a str,
        /// The phase.
        step: Step,
    },
    /// Packages were fetched.
    Fetched {
        /// Image name.
        image: &'a str,
        /// APK architecture.
        arch: &'a str,
        /// Fetched so far.
        done: usize,
        /// To fetch.
        total: usize,
    },
    /// Something the user should know (also listed in the report).
    Warning(&'a Warning),
    /// `apply` built an image.
    Built {
        /// Image name.
        image: &'a str,
        /// Where it went.
        output: &'a build::Output,
    },
    /// A built image is being pushed to a registry.
    Publishing {
        /// `docker://HOST/REPO`.
        destination: &'a str,
    },
    /// Another apply of the same project holds its lock; waiting for it.
    WaitingForApplyLock {
        /// The lock file.
        path: &'a Path,
    },
}

/// Receives [`Event`]s while an operation runs; it may be called from the
/// operation's worker threads.
pub trait Progress: Sync {
    /// One event.
    fn event(&self, event: Event<'_>);
}

impl<F: Fn(Event<'_>) + Sync> Progress for F {
    fn event(&self, event: Event<'_>) {
        self(event)
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Event<'_>) {}
}

/// `SOURCE_DATE_EPOCH` from the environment, if set.
pub fn source_date_epoch() -> Result<Option<u64>, SourceDateEpochError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| SourceDateEpochError(v)),
        Err(_) => Ok(None),
    }
}

/// `SOURCE_DATE_EPOCH` is not a number.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("SOURCE_DATE_EPOCH must be a whole number of seconds, found '{0}'")]
pub struct SourceDateEpochError(pub String);
