//! `search`: every package record of the repositories' verified indexes,
//! optionally filtered by name (a glob, or else a substring).

use apk::index::IndexRecord;
use globset::{Glob, GlobMatcher};
use serde::Serialize;

use super::repos::{RepositoryArgs, RepositoryArgsError};
use super::{Event, Progress, Warning};

/// Options of `search`.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// Where to look.
    pub repositories: RepositoryArgs,
    /// Only names matching this: a glob with `*`, `?` or `[…]`, else a
    /// substring.
    pub pattern: Option<String>,
}

/// One package record, in the shape of `search --json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackageRecord {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// One-line description.
    pub description: String,
    /// License.
    pub license: String,
    /// Origin (source package).
    pub origin: String,
    /// Dependency atoms.
    pub depends: Vec<String>,
    /// Provided names.
    pub provides: Vec<String>,
    /// Package file size.
    pub size: Option<u64>,
    /// Installed size.
    pub installed_size: Option<u64>,
    /// Identity (`Q1…`).
    pub checksum: Option<String>,
}

impl From<&IndexRecord<'_>> for PackageRecord {
    fn from(r: &IndexRecord<'_>) -> Self {
        let i = &r.info;
        let words = |s: &str| s.split_ascii_whitespace().map(str::to_owned).collect();
        PackageRecord {
            name: i.name.to_string(),
            version: i.version.to_string(),
            arch: i.arch.to_string(),
            description: i.description.to_string(),
            license: i.license.to_string(),
            origin: i.origin.to_string(),
            depends: words(&i.depends),
            provides: words(&i.provides),
            size: i.size,
            installed_size: i.installed_size,
            checksum: i.checksum.map(|c| c.to_string()),
        }
    }
}

/// What `search` found.
#[derive(Debug)]
pub struct SearchReport {
    /// Matching records, in index order.
    pub packages: Vec<PackageRecord>,
    /// Index problems (malformed records, repaired text).
    pub warnings: Vec<Warning>,
}

/// Why `search` failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SearchError {
    /// The repositories cannot be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repositories(#[from] RepositoryArgsError),
    /// The pattern is not a valid glob.
    #[error("invalid pattern")]
    Pattern(#[source] globset::Error),
}

/// Name filter: a glob when the pattern has glob characters.
enum Matcher {
    All,
    Glob(GlobMatcher),
    Substring(String),
}

impl Matcher {
    fn new(pattern: Option<&str>) -> Result<Matcher, SearchError> {
        Ok(match pattern {
            None => Matcher::All,
            Some(p) if p.contains(['*', '?', '[']) => Matcher::Glob(
                Glob::new(p)
                    .map_err(SearchError::Pattern)?
                    .compile_matcher(),
            ),
            Some(p) => Matcher::Substring(p.to_owned()),
        })
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::All => true,
            Matcher::Glob(g) => g.is_match(name),
            Matcher::Substring(s) => name.contains(s.as_str()),
        }
    }
}

/// Lists the matching records of every repository.
pub fn search(
    options: &SearchOptions,
    progress: &dyn Progress,
) -> Result<SearchReport, SearchError> {
    let matcher = Matcher::new(options.pattern.as_deref())?;
    let args = &options.repositories;
    let (_, indexes) = args.load()?;
    let mut packages = Vec::new();
    let mut warnings = Vec::new();
    let mut warn = |w: Warning| {
        progress.event(Event::Warning(&w));
        warnings.push(w);
    };
    for loaded in &indexes {
        let parsed = loaded.index.to_text();
        if loaded.index.lossy() {
            warn(Warning::IndexNotUtf8 {
                index: loaded.text_name(),
            });
        }
        for w in &parsed.warnings {
            warn(Warning::IndexRecord {
                index: loaded.text_name(),
                line: w.line,
                package: w.package.clone(),
                message: w.message.clone(),
            });
        }
        packages.extend(
            parsed
                .records
                .iter()
                .filter(|r| matcher.matches(&r.info.name))
                .map(PackageRecord::from),
        );
    }
    Ok(SearchReport { packages, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let m = |p: Option<&str>, name: &str| Matcher::new(p).unwrap().matches(name);
        assert!(m(Some("py3-*"), "py3-pip"));
        assert!(!m(Some("py3-*"), "python3"));
        assert!(m(Some("busy"), "busybox"));
        assert!(m(Some("b?sybox"), "busybox"));
        assert!(m(Some("lib[cz]*"), "libz"));
        assert!(m(None, "x"));
        assert!(Matcher::new(Some("[")).is_err());
    }
}
