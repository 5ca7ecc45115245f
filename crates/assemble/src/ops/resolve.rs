//! `resolve`: what adding packages to an image would install, under the
//! image policy (the installed base never changes), through the same
//! resolver, fetcher and cache as `build`.

use std::path::PathBuf;

use apk::database::InstalledDb;
use apk::dependency::Atom;
use apk::index::ParsedIndex;
use apk::package::PackageInfo;
use apk_repo::repository::load_index;
use apk_repo::Fetcher;
use apk_solve::resolve::{self as solver, Index, Inputs, Installed, ResolveRequest};
use apk_solve::{ChangeKind, ErrorReport, Policy, ResolveError};
use serde::Serialize;

use super::repos::{RepositoryArgs, RepositoryArgsError};
use super::{Event, Progress, Warning};
use crate::model::Location;

/// Options of `resolve`.
#[derive(Clone, Debug)]
pub struct ResolveOptions {
    /// Atoms to add.
    pub atoms: Vec<Atom>,
    /// Where packages come from.
    pub repositories: RepositoryArgs,
    /// The installed base (`lib/apk/db/installed` of the source image);
    /// empty when `None`.
    pub installed: Option<PathBuf>,
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new package.
    Install,
    /// A higher version of an installed package.
    Upgrade,
    /// A lower version of an installed package.
    Downgrade,
    /// An installed package goes away.
    Remove,
    /// Same version, another package (or repository tag).
    Replace,
}

/// One change, in install order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What it does.
    pub action: Action,
    /// Package name.
    pub name: String,
    /// The version installed (or removed).
    pub version: String,
    /// The version replaced, for upgrades, downgrades and replacements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_version: Option<String>,
}

/// The resolution.
#[derive(Debug, Serialize)]
pub struct ResolveReport {
    /// The changes in install order.
    pub changes: Vec<Change>,
    /// Things to know (uninstallable records in the indexes).
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// Why `resolve` failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ResolveOpError {
    /// The repositories cannot be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repositories(#[from] RepositoryArgsError),
    /// The installed database cannot be read.
    #[error("cannot read {}", path.display())]
    ReadInstalled {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The installed database is malformed.
    #[error(transparent)]
    Installed(#[from] apk::database::installed::InstalledError),
    /// More repositories than one resolution can hold.
    #[error(transparent)]
    Universe(#[from] apk_solve::db::DbError),
    /// The packages cannot be added: apk's explanation, with hints.
    #[error("unable to select packages")]
    Unsatisfiable(ErrorReport),
    /// Atoms name tags no repository has.
    #[error(transparent)]
    Resolve(ResolveError),
}

/// Resolves `options.atoms` on top of the installed base.
pub fn resolve(
    options: &ResolveOptions,
    progress: &dyn Progress,
) -> Result<ResolveReport, ResolveOpError> {
    let args = &options.repositories;
    let fetcher = args.fetcher()?;
    if let Some(done) = resolve_recalled(options, &fetcher, progress) {
        return done;
    }
    let (keyring, indexes) = args.load_with(&fetcher)?;
    let views: Vec<_> = indexes
        .iter()
        .map(|i| (i.label.as_str(), &i.index))
        .collect();
    let mut warnings = Vec::new();
    let changes = solve(options, &views, &mut warnings);
    finish(options, progress, &keyring, warnings, changes)
}

/// [`resolve`] over the indexes as last verified, recalled from the cache
/// without reading their files ([`RepositoryArgs::recall`]), while another
/// thread loads the keys and reads and verifies the files. The outcome
/// counts only if every file turns out to be what its entry was built
/// from; `None` (nothing shown, nothing kept) when there is nothing to
/// recall or anything is amiss, for the usual path to do it again and
/// report what is wrong.
fn resolve_recalled(
    options: &ResolveOptions,
    fetcher: &Fetcher,
    progress: &dyn Progress,
) -> Option<Result<ResolveReport, ResolveOpError>> {
    let args = &options.repositories;
    let recalled = args.recall(fetcher)?;
    let mut warnings = Vec::new();
    let (checked, changes) = assemble_io::thread::join(
        || args.check(&recalled),
        || {
            let views: Vec<_> = recalled
                .entries
                .iter()
                .map(|(label, r)| (label.as_str(), r.index()))
                .collect();
            solve(options, &views, &mut warnings)
        },
    );
    let (keyring, checked) = checked.ok().flatten()?;
    recalled.confirm(&checked)?;
    Some(finish(options, progress, &keyring, warnings, changes))
}

/// The changes that add `options.atoms` over `indexes` (label, index),
/// collecting what to warn about in `warnings`; an unsatisfiable request
/// without [`missing_name_hints`] yet.
fn solve(
    options: &ResolveOptions,
    indexes: &[(&str, &ParsedIndex)],
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Change>, ResolveOpError> {
    let args = &options.repositories;
    let installed = match &options.installed {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|error| ResolveOpError::ReadInstalled {
                path: path.clone(),
                error,
            })?;
            InstalledDb::from_bytes(&bytes, &path.display().to_string())?
        }
        None => InstalledDb::new(),
    };
    let infos: Vec<PackageInfo<'_>> = installed.records.iter().map(|r| r.info()).collect();
    let base: Vec<Installed<'_>> = infos
        .iter()
        .map(|info| Installed { info, tag: None })
        .collect();
    let universe_indexes: Vec<Index<'_, '_>> = indexes
        .iter()
        .zip(&args.repositories)
        .map(|(&(label, index), r)| Index::parsed(label, index).tagged(r.tag.as_deref()))
        .collect();
    let mut db = solver::universe(&Inputs {
        arches: &[args.arch.as_str(), "noarch"],
        indexes: &universe_indexes,
        installed: &base,
        ..Default::default()
    })?;
    let broken = (0..db.package_count()).filter(|&p| db.broken(p)).count();
    if broken > 0 {
        warnings.push(Warning::Uninstallable { count: broken });
    }
    let request = ResolveRequest {
        world: options.atoms.iter().map(Atom::dependency).collect(),
        policy: Policy::Image,
        ..Default::default()
    };
    let solution = match solver::resolve(&mut db, &request) {
        Ok(r) => r.solution,
        Err(ResolveError::Unsatisfiable(report)) => {
            return Err(ResolveOpError::Unsatisfiable(report))
        }
        Err(e) => return Err(ResolveOpError::Resolve(e)),
    };
    let changes = solution
        .changes
        .iter()
        .filter_map(|c| {
            let action = match c.kind(&db) {
                ChangeKind::Install => Action::Install,
                ChangeKind::Upgrade => Action::Upgrade,
                ChangeKind::Downgrade => Action::Downgrade,
                ChangeKind::Purge => Action::Remove,
                ChangeKind::Replace | ChangeKind::Reinstall | ChangeKind::UpdatePinning => {
                    Action::Replace
                }
                ChangeKind::None => return None,
            };
            let shown = db.package(c.new.or(c.old)?);
            Some(Change {
                action,
                name: db.name_str(shown.name).to_owned(),
                version: shown.version.to_owned(),
                old_version: match (c.old, c.new) {
                    (Some(o), Some(_)) => Some(db.package(o).version.to_owned()),
                    _ => None,
                },
            })
        })
        .collect();
    Ok(changes)
}

/// Reports `warnings`, then the outcome of [`solve`], an unsatisfiable
/// request with its hints.
fn finish(
    options: &ResolveOptions,
    progress: &dyn Progress,
    keyring: &apk::signature::Keyring,
    warnings: Vec<Warning>,
    changes: Result<Vec<Change>, ResolveOpError>,
) -> Result<ResolveReport, ResolveOpError> {
    for w in &warnings {
        progress.event(Event::Warning(w));
    }
    match changes {
        Ok(changes) => Ok(ResolveReport { changes, warnings }),
        Err(ResolveOpError::Unsatisfiable(mut report)) => {
            report
                .hints
                .extend(missing_name_hints(options, keyring, &report));
            Err(ResolveOpError::Unsatisfiable(report))
        }
        Err(e) => Err(e),
    }
}

/// Hints for the `(no such package)` blocks of `report`, beyond apk's
/// facts: a missing name that a local repository has for another
/// architecture, and where to look for it. Only runs on failure, so it may
/// read more indexes.
fn missing_name_hints(
    options: &ResolveOptions,
    keyring: &apk::signature::Keyring,
    report: &ErrorReport,
) -> Vec<String> {
    let missing: Vec<&str> = report
        .blocks
        .iter()
        .filter(|b| b.subject.ends_with("(no such package)"))
        .map(|b| b.name.as_str())
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    let args = &options.repositories;
    let mut hints = Vec::new();
    for repo in &args.repositories {
        let Location::Local(dir) = &repo.location else {
            continue;
        };
        let Ok(dirs) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in dirs.flatten() {
            let arch = entry.file_name().to_string_lossy().into_owned();
            let index = entry.path().join("APKINDEX.tar.gz");
            if arch == args.arch || !index.is_file() {
                continue;
            }
            let cache = args.fetch.cache_dir.as_deref();
            let Ok(parsed) = load_index(&index, keyring, args.trust, cache) else {
                continue;
            };
            for name in &missing {
                if (0..parsed.len()).any(|i| parsed.name(parsed.record_name(i)) == *name) {
                    hints.push(format!(
                        "'{name}' exists for {arch} in {repo} but not for {}; check --arch (or the image's architectures)",
                        args.arch
                    ));
                }
            }
        }
    }
    for name in &missing {
        hints.push(format!(
            "'{name}' is in none of the configured repositories; check the name (`cargo assemble search {name}`) \
             or add the repository that has it"
        ));
    }
    hints
}
