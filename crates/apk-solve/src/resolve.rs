//! The one way into the solver: a package universe built from repository
//! indexes and an installed base ([`universe`]), and a request — world
//! atoms, locked versions, policy — turned into changes ([`resolve`]).
//!
//! Image builds, `cargo assemble resolve`, `plan`, `validate`, `outdated`
//! and the apk-tools conformance harness all go through these two
//! functions, so repository tags (`@tag` repositories, `name@tag` atoms),
//! lock pins and the image policy mean the same thing everywhere.

use std::collections::BTreeMap;

use apk::dependency::{Constraint, Dependency};
use apk::index::{IndexRecord, ParsedIndex};
use apk::package::PackageInfo;
use apk::version::{self, Op};

use crate::db::{Db, DbError, NameId, DEFAULT_TAG};
use crate::report::ErrorReport;
use crate::{image, Change, Policy, Request, Solution, SolveError};

/// A repository's packages: records parsed from its text, or a parsed
/// index (read in place, its atoms parsed and names interned already —
/// what every command loading a repository uses).
#[derive(Clone, Copy, Debug)]
pub enum Records<'a> {
    /// Records of [`apk::index::text::parse`].
    Text(&'a [IndexRecord<'a>]),
    /// A parsed index (see [`apk::index::cache`]).
    Parsed(&'a ParsedIndex),
}

/// One repository's index as the universe sees it.
#[derive(Clone, Copy, Debug)]
pub struct Index<'a, 'r> {
    /// How the repository is named in reports.
    pub label: &'r str,
    /// Its tag (`@tag URL`), if any.
    pub tag: Option<&'r str>,
    /// Whether packages can be fetched from it (apk's `--no-network`
    /// makes remote repositories unavailable).
    pub available: bool,
    /// Whether it is apk's package cache rather than a repository.
    pub cache: bool,
    /// Its packages.
    pub records: Records<'a>,
}

impl<'a, 'r> Index<'a, 'r> {
    /// An available, untagged repository of parsed records.
    pub fn new(label: &'r str, records: &'a [IndexRecord<'a>]) -> Self {
        Self::of(label, Records::Text(records))
    }

    /// An available, untagged repository of a parsed index.
    pub fn parsed(label: &'r str, index: &'a ParsedIndex) -> Self {
        Self::of(label, Records::Parsed(index))
    }

    fn of(label: &'r str, records: Records<'a>) -> Self {
        Index {
            label,
            tag: None,
            available: true,
            cache: false,
            records,
        }
    }

    /// The same repository with tag `tag`.
    pub fn tagged(self, tag: Option<&'r str>) -> Self {
        Index { tag, ..self }
    }
}

/// A package of the installed base (a record of `lib/apk/db/installed`).
#[derive(Clone, Copy, Debug)]
pub struct Installed<'a> {
    /// Its metadata.
    pub info: &'a PackageInfo<'a>,
    /// The repository tag it was installed from (the database's `s:`).
    pub tag: Option<&'a str>,
}

/// Everything a universe is made of.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs<'a, 'r> {
    /// Architectures whose packages are installable (empty: any).
    pub arches: &'r [&'r str],
    /// Tags to number first, in order (apk numbers tags as it meets them:
    /// world, installed database, repositories).
    pub tags: &'r [&'r str],
    /// Repository indexes, in priority order.
    pub indexes: &'r [Index<'a, 'r>],
    /// The installed base.
    pub installed: &'r [Installed<'a>],
    /// Packages made up for the transaction (`apk add -t NAME`).
    pub virtuals: &'r [&'a PackageInfo<'a>],
}

/// Builds the package universe: repositories first (in order), then the
/// installed base, then virtual packages.
pub fn universe<'a>(inputs: &Inputs<'a, '_>) -> Result<Db<'a>, DbError> {
    let mut db = Db::new(inputs.arches);
    for tag in inputs.tags {
        db.tag(tag);
    }
    for index in inputs.indexes {
        let (label, tag, available, cache) = (index.label, index.tag, index.available, index.cache);
        match index.records {
            Records::Text(records) => {
                db.add_repository(label, tag, available, cache, records.iter())?
            }
            Records::Parsed(parsed) => db.add_index(label, tag, available, cache, parsed)?,
        };
    }
    for installed in inputs.installed {
        db.add_installed(installed.info, installed.tag);
    }
    for info in inputs.virtuals {
        db.add_virtual(info);
    }
    db.finish();
    Ok(db)
}

/// Versions a lock file recorded.
#[derive(Clone, Copy, Debug)]
pub struct Pins<'a> {
    /// Name → version to keep while the request allows (the lock minus
    /// what the user asked to update).
    pub keep: &'a BTreeMap<String, String>,
    /// Name → version the added packages must be exactly (the whole lock,
    /// for `--locked`): any difference is an error instead of a new lock.
    pub exact: Option<&'a BTreeMap<String, String>>,
}

/// What to resolve.
#[derive(Clone, Debug, Default)]
pub struct ResolveRequest<'a> {
    /// The world: atoms the result must satisfy. Under [`Policy::Image`]
    /// every installed package joins the world unless an atom names it.
    pub world: Vec<Dependency<'a>>,
    /// The rules on top of apk's.
    pub policy: Policy,
    /// Locked versions to keep.
    pub pins: Option<Pins<'a>>,
    /// Flags for everything the world pulls in (see [`crate::flags`]).
    pub flags: u8,
    /// Per-name flags: `(name, own flags, inheritable flags)`.
    pub name_flags: Vec<(NameId, u8, u8)>,
    /// Drop world items that cannot be satisfied instead of failing.
    pub force_broken_world: bool,
}

/// A successful resolution.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// The solver's changes.
    pub solution: Solution,
    /// `name@tag` atoms whose tag names no repository (only with
    /// `force_broken_world`; otherwise they are an error).
    pub missing_tags: Vec<String>,
}

impl Resolution {
    /// The packages the resolution installs (an image build adds these).
    pub fn added<'s>(&'s self, db: &'s Db<'_>) -> impl Iterator<Item = &'s Change> + 's {
        image::additions(db, &self.solution)
    }
}

/// Why a request cannot be resolved.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ResolveError {
    /// `name@tag` atoms whose tag no repository has.
    #[error("no repository has the tag of {}", atoms.join(", "))]
    MissingTags {
        /// The atoms, as written.
        atoms: Vec<String>,
    },
    /// The world cannot be satisfied.
    #[error("unable to select packages")]
    Unsatisfiable(ErrorReport),
    /// Exact pins: the locked versions no longer satisfy the request.
    #[error("the locked versions no longer satisfy the request")]
    PinsUnsatisfiable(ErrorReport),
    /// Exact pins: the resolution differs from the locked versions.
    #[error(
        "the resolution differs from the locked versions (locked: {}; now: {})",
        list(locked),
        list(resolved)
    )]
    PinsChanged {
        /// The locked `(name, version)`s.
        locked: Vec<(String, String)>,
        /// What resolving gives now.
        resolved: Vec<(String, String)>,
    },
}

impl ResolveError {
    /// The solver's explanation, for the variants that have one.
    pub fn report(&self) -> Option<&ErrorReport> {
        match self {
            ResolveError::Unsatisfiable(r) | ResolveError::PinsUnsatisfiable(r) => Some(r),
            _ => None,
        }
    }
}

fn list(items: &[(String, String)]) -> String {
    if items.is_empty() {
        return "nothing".into();
    }
    let mut out = String::new();
    for (i, (n, v)) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("{n}-{v}"));
    }
    out
}

impl From<SolveError> for ResolveError {
    fn from(e: SolveError) -> Self {
        ResolveError::Unsatisfiable(e.report)
    }
}

/// Resolves `request` over `db`.
pub fn resolve<'a>(
    db: &mut Db<'a>,
    request: &ResolveRequest<'a>,
) -> Result<Resolution, ResolveError> {
    let mut world = match request.policy {
        // The source image stays: every installed package is wanted as is.
        Policy::Image => db
            .installed
            .iter()
            .map(|&p| Dependency {
                name: db.name_str(db.pkg_name(p)),
                tag: None,
                conflict: false,
                constraint: Constraint::Any,
            })
            .collect(),
        Policy::Apk => Vec::new(),
    };
    for atom in &request.world {
        world.retain(|w: &Dependency<'_>| w.name != atom.name);
        world.push(*atom);
    }
    let mut missing_tags = Vec::new();
    for atom in &world {
        if let Some(t) = atom.tag {
            let known = db
                .find_tag(t)
                .is_some_and(|id| db.tags[id].repos != 0 || !request.force_broken_world);
            if !known {
                missing_tags.push(atom.to_string());
            }
        }
    }
    if !missing_tags.is_empty() && !request.force_broken_world {
        return Err(ResolveError::MissingTags {
            atoms: missing_tags,
        });
    }
    let mut solution = solve_world(db, request, &world)?;
    let Some(pins) = request.pins else {
        return Ok(Resolution {
            solution,
            missing_tags,
        });
    };
    // Keep every locked version the new resolution still needs (unless the
    // request constrains that name itself); when that is unsatisfiable the
    // lock is stale and the fresh resolution wins — unless it must be exact.
    if !pins.keep.is_empty() {
        let needed: Vec<&str> = image::additions(db, &solution)
            .filter_map(|c| c.new)
            .map(|p| db.name_str(db.pkg_name(p)))
            .collect();
        let mut pinned = world.clone();
        for (name, version) in pins.keep {
            let constrained = world
                .iter()
                .any(|w| w.name == name && w.constraint != Constraint::Any);
            if !needed.contains(&name.as_str()) || constrained || !version::is_valid(version) {
                continue;
            }
            let tag = pinned.iter().find(|w| w.name == name).and_then(|w| w.tag);
            if tag.is_some_and(|t| !tagged_version_exists(db, name, version, t)) {
                // Pinned to a tag: only that tag's repositories may keep it.
                continue;
            }
            pinned.retain(|w| w.name != name);
            pinned.push(Dependency {
                name,
                tag,
                conflict: false,
                constraint: Constraint::Version(Op::EQUAL, version),
            });
        }
        match solve_world(db, request, &pinned) {
            Ok(s) => solution = s,
            Err(e) if pins.exact.is_some() => {
                return Err(ResolveError::PinsUnsatisfiable(e.report))
            }
            Err(_) => {}
        }
    }
    if let Some(exact) = pins.exact {
        let resolved: BTreeMap<&str, &str> = image::additions(db, &solution)
            .filter_map(|c| c.new)
            .map(|p| {
                let pkg = db.package(p);
                (db.name_str(pkg.name), pkg.version)
            })
            .collect();
        let locked: BTreeMap<&str, &str> = exact
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if resolved != locked {
            let owned = |m: BTreeMap<&str, &str>| {
                m.into_iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect()
            };
            return Err(ResolveError::PinsChanged {
                locked: owned(locked),
                resolved: owned(resolved),
            });
        }
    }
    Ok(Resolution {
        solution,
        missing_tags,
    })
}

/// True when a repository tagged `tag` lists `name` at `version`.
fn tagged_version_exists(db: &Db<'_>, name: &str, version: &str, tag: &str) -> bool {
    let (Some(n), Some(t)) = (db.lookup(name), db.find_tag(tag)) else {
        return false;
    };
    let repos = db.tags[t].repos;
    db.provider_pkgs(n).any(|p| {
        let pkg = db.package(p);
        pkg.name == n && pkg.version == version && pkg.repos & repos != 0
    })
}

/// Solves `world` with the request's flags and policy; each atom is pinned
/// to its tag (the default tag when it has none or the tag is missing).
fn solve_world<'a>(
    db: &mut Db<'a>,
    request: &ResolveRequest<'a>,
    world: &[Dependency<'a>],
) -> Result<Solution, SolveError> {
    let mut low = Request {
        flags: request.flags,
        name_flags: request.name_flags.clone(),
        force_broken_world: request.force_broken_world,
        policy: request.policy,
        ..Default::default()
    };
    for atom in world {
        let tag = atom
            .tag
            .and_then(|t| db.find_tag(t))
            .filter(|&id| db.tags[id].repos != 0 || !request.force_broken_world)
            .unwrap_or(DEFAULT_TAG);
        low.world.push((db.world_dep(*atom), tag));
    }
    crate::solve(db, &low)
}

/// The repository a change's new package is fetched from: the first
/// repository of its tag listing it, else the first listing it.
pub fn source_repository(db: &Db<'_>, change: &Change) -> Option<usize> {
    let pkg = db.package(change.new?);
    let tagged = pkg.repos & db.tags[change.new_tag].repos;
    let repos = if tagged != 0 { tagged } else { pkg.repos };
    (repos != 0).then(|| repos.trailing_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apk::index::text::{self, Strictness};

    const MAIN: &str = "P:pkg\nV:3.0-r0\nA:x86_64\nS:1\nI:1\nC:Q1AQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\nP:pkg\nV:2.0-r0\nA:x86_64\nS:1\nI:1\nC:Q1AgICAgICAgICAgICAgICAgICAgI=\n\nP:base\nV:1-r0\nA:x86_64\nS:1\nI:1\nC:Q1AwMDAwMDAwMDAwMDAwMDAwMDAwM=\n";
    const ACME: &str = "P:pkg\nV:2.5-r0\nA:x86_64\nS:1\nI:1\nD:dep\nC:Q1BAQEBAQEBAQEBAQEBAQEBAQEBAQ=\n\nP:dep\nV:1-r0\nA:x86_64\nS:1\nI:1\nC:Q1BQUFBQUFBQUFBQUFBQUFBQUFBQU=\n\nP:only-acme\nV:1-r0\nA:x86_64\nS:1\nI:1\nC:Q1BgYGBgYGBgYGBgYGBgYGBgYGBgY=\n";

    fn atom(s: &str) -> Dependency<'_> {
        Dependency::parse(s, apk::dependency::Context::World).unwrap()
    }

    /// Resolves `world` over MAIN and `@acme` ACME with `pins`; returns the
    /// added `name-version@repo-label`s.
    fn run(world: &[&str], pins: Option<Pins<'_>>) -> Result<Vec<String>, ResolveError> {
        let main = text::parse(MAIN, "main", Strictness::Lenient).unwrap();
        let acme = text::parse(ACME, "acme", Strictness::Lenient).unwrap();
        let indexes = [
            Index::new("main", &main.records),
            Index::new("acme", &acme.records).tagged(Some("acme")),
        ];
        let mut db = universe(&Inputs {
            arches: &["x86_64"],
            indexes: &indexes,
            ..Default::default()
        })
        .unwrap();
        let request = ResolveRequest {
            world: world.iter().map(|w| atom(w)).collect(),
            policy: Policy::Image,
            pins,
            ..Default::default()
        };
        let r = resolve(&mut db, &request)?;
        Ok(r.added(&db)
            .map(|c| {
                let repo = source_repository(&db, c).unwrap();
                format!("{}@{}", db.pkg_label(c.new.unwrap()), db.repos[repo].label)
            })
            .collect())
    }

    #[test]
    fn tagged_atoms_take_the_tagged_repository() {
        assert_eq!(run(&["pkg"], None).unwrap(), ["pkg-3.0-r0@main"]);
        assert_eq!(
            run(&["pkg@acme"], None).unwrap(),
            ["dep-1-r0@acme", "pkg-2.5-r0@acme"]
        );
        // Untagged atoms never take a package only a tagged repository has.
        assert!(matches!(
            run(&["only-acme"], None),
            Err(ResolveError::Unsatisfiable(_))
        ));
        assert_eq!(
            run(&["only-acme@acme"], None).unwrap(),
            ["only-acme-1-r0@acme"]
        );
        match run(&["pkg@nowhere"], None) {
            Err(ResolveError::MissingTags { atoms }) => assert_eq!(atoms, ["pkg@nowhere"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pins_keep_locked_versions_until_they_cannot() {
        let locked = BTreeMap::from([("pkg".to_owned(), "2.0-r0".to_owned())]);
        let pins = |strict: bool| {
            Some(Pins {
                keep: &locked,
                exact: strict.then_some(&locked),
            })
        };
        assert_eq!(run(&["pkg"], pins(false)).unwrap(), ["pkg-2.0-r0@main"]);
        // The declaration constrains the name itself: it wins.
        assert_eq!(run(&["pkg>2.5"], pins(false)).unwrap(), ["pkg-3.0-r0@main"]);
        // Pinned to a tag: 2.0 is not in @acme, so the lock is stale.
        assert_eq!(
            run(&["pkg@acme"], pins(false)).unwrap(),
            ["dep-1-r0@acme", "pkg-2.5-r0@acme"]
        );
        assert!(matches!(
            run(&["pkg@acme"], pins(true)),
            Err(ResolveError::PinsChanged { .. })
        ));
        let impossible = BTreeMap::from([("pkg".to_owned(), "3.0-r0".to_owned())]);
        let strict = Some(Pins {
            keep: &impossible,
            exact: Some(&impossible),
        });
        assert!(matches!(
            run(&["pkg<3"], strict),
            Err(ResolveError::PinsChanged { .. })
        ));
        // Updating under --locked: nothing kept, the whole lock compared.
        let none = BTreeMap::new();
        let update = Some(Pins {
            keep: &none,
            exact: Some(&locked),
        });
        assert!(matches!(
            run(&["pkg"], update),
            Err(ResolveError::PinsChanged { .. })
        ));
        match run(&["pkg", "base"], pins(true)) {
            Err(ResolveError::PinsChanged { locked, resolved }) => {
                assert_eq!(locked.len(), 1);
                assert_eq!(resolved.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(run(&["pkg"], pins(true)).unwrap(), ["pkg-2.0-r0@main"]);
    }
}
