//! Explaining a failed solve: which packages are broken, what they break,
//! what they would satisfy, and who asked for missing names — the facts of
//! apk's "unable to select packages" block, as data and as apk's text.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::db::{Db, Dep, NameId, PkgId, Provider, TagId, DEFAULT_TAG};
use super::engine::{dep_provided, Selection};
use super::Change;
use apk::dependency::Constraint;

/// One labelled line of a block (`breaks: b-1[d<2.0]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// `error`, `arch`, `masked in`, `conflicts`, `breaks`, `satisfies`,
    /// `note`, `provided by`, `required by`, or (image policy) others.
    pub label: &'static str,
    /// The items, in order.
    pub items: Vec<String>,
}

/// Everything said about one package or name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// `name-version`, `name (no such package)` or `name (virtual)`.
    pub subject: String,
    /// The package or name the block is about.
    pub name: String,
    /// Its lines.
    pub labels: Vec<Label>,
}

/// Why a solve failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorReport {
    /// The blocks, in apk's order.
    pub blocks: Vec<Block>,
    /// Suggestions that go beyond apk's facts.
    pub hints: Vec<String>,
}

impl ErrorReport {
    /// Renders the apk text (`ERROR: unable to select packages:` …)
    /// wrapped at `width` columns (apk uses 50 when not on a terminal).
    pub fn render(&self, width: usize) -> String {
        let mut out = String::from("ERROR: unable to select packages:\n");
        for b in &self.blocks {
            let _ = writeln!(out, "  {}:", b.subject);
            for l in &b.labels {
                let head = format!("    {}:", l.label);
                let indent = head.len() + 1;
                let mut x = head.len();
                out.push_str(&head);
                for item in &l.items {
                    if x + item.len() + 1 >= width && x > indent - 1 {
                        let _ = write!(out, "\n{:indent$}{item}", "");
                        x = indent + item.len();
                    } else {
                        let _ = write!(out, " {item}");
                        x += item.len() + 1;
                    }
                }
                out.push('\n');
            }
        }
        if self.blocks.is_empty() {
            out.push_str("  Huh? Error reporter did not find the broken constraints.\n");
        }
        for h in &self.hints {
            let _ = writeln!(out, "hint: {h}");
        }
        out
    }

    /// Names every block is about.
    pub fn names(&self) -> Vec<&str> {
        self.blocks.iter().map(|b| b.name.as_str()).collect()
    }
}

/// How `dep` (written by `deppkg`) relates to `pkg`: `Some(true)` it is
/// satisfied, `Some(false)` it is broken (or, for `!x`, conflicts), `None`
/// it is about another name.
pub(crate) fn analyze(
    db: &Db<'_>,
    deppkg: Option<PkgId>,
    dep: &Dep<'_>,
    pkg: PkgId,
) -> Option<bool> {
    let p = db.package(pkg);
    if dep.name == p.name {
        let conflict = dep.conflict;
        return Some(match &dep.constraint {
            Constraint::Checksum(sum) => db.checksum(pkg).is_some_and(|c| c.same_identity(sum)),
            Constraint::Any => !conflict,
            Constraint::Version(op, want) => op.matches(p.version, want) != conflict,
        });
    }
    db.provides(pkg)
        .find(|(n, _)| *n == dep.name)
        .map(|(_, version)| dep_provided(db, deppkg, dep, Some(&Provider { pkg, version })))
}

struct Analyzer<'r, 'd, 'a> {
    db: &'d Db<'a>,
    world: &'r [(Dep<'a>, TagId)],
    marked: Vec<bool>,
    present: Vec<bool>,
    missing: Vec<bool>,
    decided: Vec<bool>,
    available_repos: u64,
    cache_repos: u64,
    blocks: Vec<Block>,
}

impl<'a> Analyzer<'_, '_, 'a> {
    fn dep_text(&self, d: &Dep<'_>) -> String {
        self.db.atom(d).to_string()
    }

    /// `(world items, package items)` of dependencies on `pkg` that are
    /// satisfied (`want = true`) or broken (`want = false`), world first
    /// and packages sorted by name, version and atom.
    fn deps_on(&self, pkg: PkgId, want: bool) -> Vec<String> {
        let db = self.db;
        let mut items: Vec<String> = self
            .world
            .iter()
            .filter(|(d, _)| analyze(db, None, d, pkg) == Some(want))
            .map(|(d, _)| format!("world[{}]", self.dep_text(d)))
            .collect();
        let data = db.package(pkg);
        let mut names = vec![data.name];
        names.extend(db.provides(pkg).map(|(n, _)| n));
        let mut seen = HashSet::new();
        let mut found: Vec<(PkgId, String)> = Vec::new();
        for &n in &names {
            for r in db.rdepends(n) {
                for p in db.providers(r) {
                    if !self.marked[p.pkg] || !seen.insert(p.pkg) {
                        continue;
                    }
                    for d in db.depends(p.pkg) {
                        if analyze(db, Some(p.pkg), &d, pkg) == Some(want) {
                            found.push((p.pkg, self.dep_text(&d)));
                        }
                    }
                }
            }
        }
        found.sort_by(|(a, da), (b, dbb)| {
            let (pa, pb) = (db.package(*a), db.package(*b));
            db.name_str(pa.name)
                .cmp(db.name_str(pb.name))
                .then_with(|| apk::version::compare(pa.version, pb.version))
                .then_with(|| da.cmp(dbb))
        });
        items.extend(
            found
                .into_iter()
                .map(|(p, d)| format!("{}[{d}]", db.pkg_label(p))),
        );
        items
    }

    fn pinning_repos(&self, mask: u64) -> u64 {
        self.db
            .tags
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .fold(0, |acc, (_, t)| acc | t.repos)
    }

    fn package(&mut self, pkg: PkgId, tag: TagId) {
        let db = self.db;
        let data = db.package(pkg);
        let mut labels = Vec::new();
        if !data.installable {
            labels.push(Label {
                label: "error",
                items: vec!["uninstallable".into()],
            });
            for u in &db.uninstallable(pkg) {
                if let super::db::Uninstallable::Arch(a) = u {
                    labels.push(Label {
                        label: "arch",
                        items: vec![a.clone()],
                    });
                }
            }
        }
        if data.installed.is_none() && !data.virtual_package {
            let mut masked = Vec::new();
            if data.repos & self.available_repos == 0 {
                masked.push("--no-network".to_owned());
            } else if data.repos & !self.cache_repos == 0 {
                masked.push("cache".to_owned());
            } else if data.repos & self.pinning_repos((1 << DEFAULT_TAG) | (1 << tag)) == 0 {
                for t in &db.tags {
                    if data.repos & t.repos != 0 {
                        masked.push(format!("@{}", t.name));
                    }
                }
            }
            if !masked.is_empty() {
                labels.push(Label {
                    label: "masked in",
                    items: masked,
                });
            }
        }
        let mut conflicts = Vec::new();
        for p in db.providers(data.name) {
            if p.pkg != pkg && self.marked[p.pkg] {
                conflicts.push(db.pkg_label(p.pkg));
            }
        }
        for (n, v) in db.provides(pkg) {
            let mut once = true;
            for p in db.providers(n) {
                if !self.marked[p.pkg] || (v.is_none() && p.version.is_none()) {
                    continue;
                }
                if once && p.pkg == pkg && p.version == v {
                    once = false;
                    continue;
                }
                let provide = match v {
                    Some(v) => format!("{}={v}", db.name_str(n)),
                    None => db.name_str(n).to_owned(),
                };
                conflicts.push(format!("{}[{provide}]", db.pkg_label(p.pkg)));
            }
        }
        if !conflicts.is_empty() {
            labels.push(Label {
                label: "conflicts",
                items: conflicts,
            });
        }
        let breaks = self.deps_on(pkg, false);
        if !breaks.is_empty() {
            labels.push(Label {
                label: "breaks",
                items: breaks,
            });
        }
        if !labels.is_empty() {
            let satisfies = self.deps_on(pkg, true);
            if !satisfies.is_empty() {
                labels.push(Label {
                    label: "satisfies",
                    items: satisfies,
                });
            }
            self.blocks.push(Block {
                subject: db.pkg_label(pkg),
                name: db.name_str(data.name).to_owned(),
                labels,
            });
        }
    }

    fn name(&mut self, name: NameId) {
        let db = self.db;
        let providers = db.providers(name);
        let mut labels = Vec::new();
        let subject = if providers.len() == 0 {
            format!("{} (no such package)", db.name_str(name))
        } else {
            labels.push(Label {
                label: "note",
                items: "please select one of the 'provided by' packages explicitly"
                    .split(' ')
                    .map(str::to_owned)
                    .collect(),
            });
            let mut items = Vec::new();
            let mut shown: HashSet<NameId> = HashSet::new();
            for p in providers.clone() {
                let n0 = db.pkg_name(p.pkg);
                let refs = providers
                    .clone()
                    .filter(|q| db.pkg_name(q.pkg) == n0)
                    .count();
                if refs == db.providers(n0).len() {
                    if shown.insert(n0) {
                        items.push(db.name_str(n0).to_owned());
                    }
                } else {
                    items.push(db.pkg_label(p.pkg));
                }
            }
            labels.push(Label {
                label: "provided by",
                items,
            });
            format!("{} (virtual)", db.name_str(name))
        };
        let mut required = Vec::new();
        for (d, _) in self.world {
            if d.name == name && !d.conflict {
                required.push(format!("world[{}]", self.dep_text(d)));
            }
        }
        let mut seen = HashSet::new();
        for r in db.rdepends(name) {
            for p in db.providers(r) {
                if !self.marked[p.pkg] || !seen.insert(p.pkg) {
                    continue;
                }
                if let Some(d) = db.depends(p.pkg).find(|d| d.name == name && !d.conflict) {
                    required.push(format!("{}[{}]", db.pkg_label(p.pkg), self.dep_text(&d)));
                }
                break;
            }
        }
        labels.push(Label {
            label: "required by",
            items: required,
        });
        self.blocks.push(Block {
            subject,
            name: db.name_str(name).to_owned(),
            labels,
        });
    }

    fn deps(&mut self, deps: &[Dep<'a>]) {
        for d in deps {
            if d.conflict || self.missing[d.name] {
                continue;
            }
            // Present: given concretely by a chosen package, or decided by
            // the solver to a package.
            if self.present[d.name] || self.decided[d.name] {
                continue;
            }
            self.missing[d.name] = true;
            self.name(d.name);
        }
    }
}

/// Builds the report of a failed selection.
pub(crate) fn analyze_errors<'a>(
    db: &Db<'a>,
    selection: &Selection<'a>,
    changes: &[Change],
    world: &[(Dep<'a>, TagId)],
) -> ErrorReport {
    let mut marked = vec![false; db.package_count()];
    let mut present = vec![false; db.name_count()];
    for c in changes {
        if let Some(n) = c.new {
            marked[n] = true;
            // A name is present when a chosen package gives it concretely:
            // its own name, a versioned provide, or any provide of a
            // package with a provider priority.
            let pkg = db.package(n);
            present[pkg.name] = true;
            for (pn, v) in db.provides(n) {
                if v.is_some() || pkg.provider_priority > 0 {
                    present[pn] = true;
                }
            }
        }
    }
    let (available_repos, cache_repos) = db.repo_masks();
    let mut a = Analyzer {
        db,
        world,
        marked,
        present,
        missing: vec![false; db.name_count()],
        decided: selection.names.iter().map(|n| n.has_chosen()).collect(),
        available_repos,
        cache_repos,
        blocks: Vec::new(),
    };
    let world_deps: Vec<Dep<'a>> = world.iter().map(|(d, _)| *d).collect();
    a.deps(&world_deps);
    for c in changes {
        if let Some(n) = c.new {
            a.package(n, c.new_tag);
            a.deps(&db.depends(n).collect::<Vec<_>>());
        }
    }
    ErrorReport {
        blocks: a.blocks,
        hints: Vec::new(),
    }
}
