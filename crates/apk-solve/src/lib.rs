//! Dependency resolution with apk-tools' semantics.
//!
//! Callers start from [`resolve`]: [`universe`] builds the package universe
//! from repository indexes and an installed base, [`resolve()`] turns a
//! request (world atoms, lock pins, policy) into changes. Underneath, [`Db`] holds the package universe (repositories + installed database);
//! [`solve`] takes a [`Request`] (the world and flags) and returns the
//! ordered [`Change`]s, or a [`SolveError`] whose [`report::ErrorReport`]
//! explains, in the terms of apk's "unable to select packages" block, what
//! breaks what and who asked for it.
//!
//! Two policies share the engine: [`Policy::Apk`] does what `apk add/del/
//! upgrade` would do, [`Policy::Image`] adds the product rule that the
//! source image's installed packages never change (see [`image`]).

#![deny(missing_docs)]

mod changeset;
pub mod db;
mod engine;
pub mod image;
pub mod report;
pub mod resolve;

pub use db::{Db, Dep, NameId, PkgId, TagId, DEFAULT_TAG};
pub use report::ErrorReport;
pub use resolve::{resolve, universe, ResolveError, ResolveRequest};

/// Solver flags, per package or global (apk's `APK_SOLVERF_*`).
pub mod flags {
    /// Prefer newer versions over installed ones.
    pub const UPGRADE: u8 = 1;
    /// Decide on version first, ignoring "keep installed" preferences.
    pub const LATEST: u8 = 2;
    /// Prefer packages available in a repository (allows downgrades).
    pub const AVAILABLE: u8 = 4;
    /// Reinstall even if unchanged.
    pub const REINSTALL: u8 = 8;
    /// Prefer installed packages even when upgrading.
    pub const INSTALLED: u8 = 16;
    /// The package is being removed from the world (`apk del`): do not
    /// prefer keeping it installed.
    pub const REMOVE: u8 = 32;
}

/// Which rules apply on top of apk's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Exactly what apk-tools does.
    #[default]
    Apk,
    /// Installed packages are the source image and must stay as they are.
    Image,
}

/// What to solve for.
#[derive(Clone, Debug, Default)]
pub struct Request<'a> {
    /// World dependencies with the repository tag each is pinned to.
    pub world: Vec<(Dep<'a>, TagId)>,
    /// Flags applied to everything the world pulls in.
    pub flags: u8,
    /// Per-name flags: `(name, own flags, inheritable flags)`.
    pub name_flags: Vec<(NameId, u8, u8)>,
    /// Ignore conflicts (`!name` dependencies, same-name clashes).
    pub ignore_conflict: bool,
    /// Drop world items that cannot be satisfied instead of failing.
    pub force_broken_world: bool,
    /// The policy.
    pub policy: Policy,
}

/// One step of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The installed package replaced or removed.
    pub old: Option<PkgId>,
    /// The package installed.
    pub new: Option<PkgId>,
    /// Tag the old package was pinned to.
    pub old_tag: TagId,
    /// Tag the new package is pinned to.
    pub new_tag: TagId,
    /// Reinstall requested.
    pub reinstall: bool,
}

/// What a change does, as apk names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// New package.
    Install,
    /// Removal.
    Purge,
    /// Same name, higher version.
    Upgrade,
    /// Same name, lower version.
    Downgrade,
    /// Same name and version, other package (identity).
    Replace,
    /// Same package, reinstalled.
    Reinstall,
    /// Same package, repository tag changed.
    UpdatePinning,
    /// Nothing to do.
    None,
}

impl Change {
    /// Classifies the change.
    pub fn kind(&self, db: &Db<'_>) -> ChangeKind {
        match (self.old, self.new) {
            (None, Some(_)) => ChangeKind::Install,
            (Some(_), None) => ChangeKind::Purge,
            (None, None) => ChangeKind::None,
            (Some(o), Some(n)) if o == n => {
                if self.reinstall {
                    ChangeKind::Reinstall
                } else if self.old_tag != self.new_tag {
                    ChangeKind::UpdatePinning
                } else {
                    ChangeKind::None
                }
            }
            (Some(o), Some(n)) => {
                match apk::version::compare(db.package(n).version, db.package(o).version) {
                    std::cmp::Ordering::Greater => ChangeKind::Upgrade,
                    std::cmp::Ordering::Less => ChangeKind::Downgrade,
                    std::cmp::Ordering::Equal => ChangeKind::Replace,
                }
            }
        }
    }
}

/// A successful solve.
#[derive(Clone, Debug)]
pub struct Solution {
    /// Every change in order, including no-op entries for kept packages.
    pub changes: Vec<Change>,
    /// World items dropped by `force_broken_world`.
    pub dropped_world: Vec<usize>,
}

impl Solution {
    /// The changes that do something.
    pub fn effective<'s>(&'s self, db: &'s Db<'_>) -> impl Iterator<Item = &'s Change> + 's {
        self.changes
            .iter()
            .filter(move |c| c.kind(db) != ChangeKind::None)
    }
}

/// The world cannot be satisfied.
#[derive(Clone, Debug, thiserror::Error)]
#[error("unable to select packages")]
pub struct SolveError {
    /// What is wrong, package by package.
    pub report: ErrorReport,
    /// The (broken) changes the solver arrived at.
    pub changes: Vec<Change>,
}

/// Solves `request` over `db`.
pub fn solve<'a>(db: &Db<'a>, request: &Request<'a>) -> Result<Solution, SolveError> {
    let mut world = request.world.clone();
    // apk sorts the world by display order: case-insensitively, then bytewise.
    world.sort_by(|a, b| {
        let (x, y) = (db.name_str(a.0.name), db.name_str(b.0.name));
        let lower = |c: u8| c.to_ascii_lowercase();
        (x.bytes().map(lower))
            .cmp(y.bytes().map(lower))
            .then_with(|| x.cmp(y))
    });
    let mut broken = vec![false; world.len()];
    loop {
        let engine = engine::Engine::new(db, request);
        let mut selection = engine.run(&world, &broken, request.flags);
        let changes = changeset::generate(db, &mut selection, &world, request.ignore_conflict);
        if selection.errors > 0 && request.force_broken_world {
            let mut changed = false;
            for (i, (d, _)) in world.iter().enumerate() {
                let bad = match selection.chosen(d.name) {
                    None => true,
                    Some(c) => selection.pkgs[c.pkg].error,
                };
                if bad && !broken[i] {
                    broken[i] = true;
                    changed = true;
                }
            }
            if changed {
                continue;
            }
        }
        if selection.errors > 0 {
            let report = report::analyze_errors(db, &selection, &changes, &world);
            return Err(SolveError { report, changes });
        }
        let dropped_world = (0..world.len()).filter(|&i| broken[i]).collect();
        let solution = Solution {
            changes,
            dropped_world,
        };
        if request.policy == Policy::Image {
            image::check(db, &solution)?;
        }
        return Ok(solution);
    }
}
