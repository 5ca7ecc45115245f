//! Warnings: things an operation did or skipped that the user should know,
//! typed so that each caller decides how to show them (the CLI escapes
//! them for the terminal; the service stores them in the build log).

use std::fmt;

use serde::{Serialize, Serializer};

use super::repos::IndexError;
use crate::layer::LayerWarning;

/// A warning.
#[derive(Debug)]
#[non_exhaustive]
pub enum Warning {
    /// A repository listed by the source image could not be used (such
    /// repositories are optional extras, often unreachable from a build
    /// machine).
    SourceRepositorySkipped {
        /// APK architecture.
        arch: String,
        /// The repository, credentials redacted.
        repository: String,
        /// Why.
        error: Box<IndexError>,
    },
    /// Something the layer writer did (overwritten unowned files, scripts
    /// not run).
    Layer {
        /// APK architecture.
        arch: String,
        /// What.
        warning: LayerWarning,
    },
    /// An index's text was not valid UTF-8; invalid bytes were replaced.
    IndexNotUtf8 {
        /// The index.
        index: String,
    },
    /// A malformed index record: listed, but not installable.
    IndexRecord {
        /// The index.
        index: String,
        /// 1-based line of the record.
        line: usize,
        /// `name-version`, when known.
        package: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A git ref lock left by an interrupted apply was removed before the
    /// state was recorded.
    StaleRefLock {
        /// The lock file.
        path: std::path::PathBuf,
    },
    /// The indexes hold packages that cannot be installed here (malformed,
    /// or for another architecture).
    Uninstallable {
        /// How many.
        count: usize,
    },
    /// Something about the declaration's accounts or certificates (a
    /// certificate expiring soon, a home directory left as the base has it).
    Extras {
        /// What, naming the item.
        message: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::SourceRepositorySkipped {
                arch,
                repository,
                error,
            } => write!(
                f,
                "{arch}: skipping the source image's repository {repository}: {}",
                one_line(error.as_ref())
            ),
            Warning::Layer { arch, warning } => write!(f, "{arch}: {warning}"),
            Warning::IndexNotUtf8 { index } => write!(
                f,
                "{index}: text is not valid UTF-8; invalid bytes were replaced"
            ),
            Warning::IndexRecord {
                index,
                line,
                package,
                message,
            } => {
                write!(f, "{index}:{line}:")?;
                if let Some(p) = package {
                    write!(f, " {p}:")?;
                }
                write!(f, " {message}")
            }
            Warning::StaleRefLock { path } => write!(
                f,
                "removed {}: a git ref lock left by an interrupted apply (no apply was running)",
                path.display()
            ),
            Warning::Uninstallable { count } => write!(
                f,
                "the indexes contain {} not installable here (malformed or for another \
                 architecture; see `cargo assemble search`)",
                crate::plan::count(*count, "package")
            ),
            Warning::Extras { message } => f.write_str(message),
        }
    }
}

/// Warnings serialize as their text (the shape `build --json` always had).
/// An error and its causes on one line, line breaks folded.
fn one_line(error: &dyn std::error::Error) -> String {
    chain(error)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error and each of its causes not already quoted by the message
/// before it, joined with `: `.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
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

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
