//! Turning a selection into an ordered list of changes.
//!
//! The order is apk's: starting from each world item (sorted by name), a
//! depth-first walk emits a package's dependencies before the package, and
//! the removal of whatever a new package displaces right before it;
//! installed packages nothing needs any more are purged first.

use super::db::{Db, Dep, NameId, PkgId, TagId, DEFAULT_TAG};
use super::engine::{dep_provided, Selection};
use super::Change;

struct Gen<'s, 'd, 'a> {
    db: &'d Db<'a>,
    sel: &'s mut Selection<'a>,
    installed_pkg: Ids,
    installed_name: Ids,
    requirers: Vec<u32>,
    /// Names whose change was generated.
    processed: Vec<bool>,
    /// Names whose installed package is being removed.
    removed: Vec<bool>,
    pkg_done: Vec<bool>,
    changes: Vec<Change>,
    ignore_conflict: bool,
}

/// Optional ids per name, stored plus one so that an all-zero vector
/// (which the allocator hands out without touching its pages) means
/// "none" everywhere.
struct Ids(Vec<u32>);

impl Ids {
    fn new(n: usize) -> Self {
        Ids(vec![0; n])
    }

    fn get(&self, i: usize) -> Option<usize> {
        (self.0[i] as usize).checked_sub(1)
    }

    fn set(&mut self, i: usize, v: usize) {
        self.0[i] = v as u32 + 1;
    }
}

/// The first tag of `mask` whose repositories list the package.
fn tag_for(db: &Db<'_>, mask: u64, repos: u64) -> TagId {
    db.tags
        .iter()
        .enumerate()
        .find(|(i, t)| mask & (1 << i) != 0 && t.repos & repos != 0)
        .map_or(DEFAULT_TAG, |(i, _)| i)
}

impl<'a> Gen<'_, '_, 'a> {
    fn mark_error(&mut self, pkg: Option<PkgId>) {
        if let Some(p) = pkg {
            if !self.sel.pkgs[p].error {
                self.sel.pkgs[p].error = true;
                self.sel.errors += 1;
            }
        }
    }

    fn chosen_pkg(&self, name: NameId) -> Option<PkgId> {
        self.sel.chosen(name).map(|c| c.pkg)
    }

    fn record(&mut self, old: Option<PkgId>, new: Option<PkgId>) {
        let db = self.db;
        let old_tag = old
            .and_then(|o| db.package(o).installed)
            .map_or(DEFAULT_TAG, |i| i.tag);
        let (new_tag, reinstall) = match new {
            Some(n) => {
                let repos = db.package(n).repos
                    | db.package(n).installed.map_or(0, |i| db.tags[i.tag].repos);
                (
                    tag_for(db, self.sel.pkgs[n].pinning_allowed, repos),
                    self.sel.pkgs[n].solver_flags & super::flags::REINSTALL != 0,
                )
            }
            None => (DEFAULT_TAG, false),
        };
        self.changes.push(Change {
            old,
            new,
            old_tag,
            new_tag,
            reinstall,
        });
    }

    fn track_deps_added(&mut self, pkg: PkgId) {
        for d in self.db.depends(pkg) {
            if d.conflict {
                continue;
            }
            if let Some(n) = self.installed_name.get(d.name) {
                self.requirers[n] += 1;
            }
        }
    }

    fn track_deps_removed(&mut self, pkg: PkgId) {
        for d in self.db.depends(pkg) {
            if d.conflict {
                continue;
            }
            let Some(n) = self.installed_name.get(d.name) else {
                continue;
            };
            self.requirers[n] = self.requirers[n].saturating_sub(1);
            if self.requirers[n] > 0 {
                continue;
            }
            if let Some(p0) = self.installed_pkg.get(d.name) {
                self.gen_remove(p0);
            }
        }
    }

    fn check_removal_by_deps(&mut self, pkg: PkgId) {
        let name = self.db.pkg_name(pkg);
        if self.requirers[name] == 0 && self.chosen_pkg(name).is_none() {
            self.gen_remove(pkg);
        }
    }

    fn check_install_by_iif(&mut self, name: NameId) {
        let Some(pkg) = self.chosen_pkg(name) else {
            return;
        };
        if !self.sel.name_seen[name] || self.processed[name] {
            return;
        }
        for d in self.db.install_if(pkg) {
            // `!x` items only need x to be absent; other items must already
            // be part of the transaction.
            if !d.conflict && !self.processed[d.name] {
                return;
            }
            if !dep_provided(self.db, Some(pkg), &d, self.sel.chosen(d.name).as_ref()) {
                return;
            }
        }
        self.gen_change(name);
    }

    fn check_removal_by_iif(&mut self, name: NameId) {
        let Some(pkg) = self.installed_pkg.get(name) else {
            return;
        };
        if self.chosen_pkg(name).is_some() || self.processed[name] || self.removed[name] {
            return;
        }
        let fired_off = self
            .db
            .install_if(pkg)
            .any(|d| self.removed[d.name] && self.chosen_pkg(d.name).is_none());
        if fired_off {
            self.check_removal_by_deps(pkg);
        }
    }

    /// Runs `check` on every name whose install_if mentions a name of `pkg`.
    fn by_reverse_iif(&mut self, pkg: Option<PkgId>, check: fn(&mut Self, NameId)) {
        let Some(pkg) = pkg else { return };
        let db = self.db;
        let data = db.package(pkg);
        for r in db.rinstall_if(data.name) {
            check(self, r);
        }
        for n in db.provided_names(pkg) {
            for r in db.rinstall_if(n) {
                check(self, r);
            }
        }
    }

    /// Before a name's new holder is installed: remove the installed
    /// package that held it under another name, and installed providers
    /// of it that are going away.
    fn preprocess(&mut self, name: NameId) {
        if self.processed[name] {
            return;
        }
        self.processed[name] = true;
        let chosen = self.chosen_pkg(name);
        if let Some(ip) = self.installed_pkg.get(name) {
            if chosen.is_none_or(|c| self.db.pkg_name(c) != name) {
                self.gen_remove(ip);
            }
        }
        let db = self.db;
        for p in db.providers(name) {
            let n0 = db.pkg_name(p.pkg);
            if self.installed_pkg.get(n0) == Some(p.pkg) && self.chosen_pkg(n0).is_none() {
                self.gen_remove(p.pkg);
            }
        }
    }

    fn gen_change(&mut self, name: NameId) {
        if self.processed[name] {
            return;
        }
        self.preprocess(name);
        let Some(pkg) = self.chosen_pkg(name) else {
            return;
        };
        if self.pkg_done[pkg] {
            return;
        }
        self.pkg_done[pkg] = true;
        let db = self.db;
        let data = db.package(pkg);
        self.preprocess(data.name);
        for n in db.provided_names(pkg) {
            self.preprocess(n);
        }
        let old = self.installed_pkg.get(data.name);
        self.by_reverse_iif(old, Self::check_removal_by_iif);
        for d in db.depends(pkg) {
            self.gen_dep(Some(pkg), &d);
        }
        self.record(old, Some(pkg));
        self.by_reverse_iif(Some(pkg), Self::check_install_by_iif);
        self.track_deps_added(pkg);
        if let Some(o) = old {
            self.track_deps_removed(o);
        }
    }

    fn gen_remove(&mut self, pkg: PkgId) {
        let db = self.db;
        let name = db.pkg_name(pkg);
        if self.pkg_done[pkg]
            || self
                .chosen_pkg(name)
                .is_some_and(|c| db.pkg_name(c) == name)
        {
            return;
        }
        self.removed[name] = true;
        self.pkg_done[pkg] = true;
        for dependent in installed_dependents(db, pkg) {
            self.gen_remove(dependent);
        }
        self.by_reverse_iif(Some(pkg), Self::check_removal_by_iif);
        self.record(Some(pkg), None);
        self.track_deps_removed(pkg);
    }

    fn gen_dep(&mut self, parent: Option<PkgId>, dep: &Dep<'a>) {
        if dep.conflict && self.ignore_conflict {
            return;
        }
        let chosen = self.sel.chosen(dep.name);
        if !dep_provided(self.db, parent, dep, chosen.as_ref()) {
            self.mark_error(parent);
        }
        self.gen_change(dep.name);
        if let Some(c) = chosen {
            if self.sel.pkgs[c.pkg].error {
                self.mark_error(parent);
            }
        }
    }
}

/// Installed packages that depend on `pkg` through a dependency it
/// satisfies (by its name or a provide).
pub(crate) fn installed_dependents(db: &Db<'_>, pkg: PkgId) -> Vec<PkgId> {
    let data = db.package(pkg);
    let mut names = vec![data.name];
    names.extend(db.provided_names(pkg));
    let mut out: Vec<PkgId> = Vec::new();
    for &n in &names {
        for r in db.rdepends(n) {
            for p in db.providers(r) {
                let p0 = p.pkg;
                if db.package(p0).installed.is_none() || out.contains(&p0) {
                    continue;
                }
                let satisfied = db.depends(p0).any(|d| {
                    !d.conflict
                        && names.contains(&d.name)
                        && super::report::analyze(db, Some(p0), &d, pkg) == Some(true)
                });
                if satisfied {
                    out.push(p0);
                }
            }
        }
    }
    out
}

/// Builds the ordered change list of a selection.
pub(crate) fn generate<'a>(
    db: &Db<'a>,
    sel: &mut Selection<'a>,
    world: &[(Dep<'a>, TagId)],
    ignore_conflict: bool,
) -> Vec<Change> {
    let n = db.name_count();
    let mut g = Gen {
        db,
        sel,
        installed_pkg: Ids::new(n),
        installed_name: Ids::new(n),
        requirers: vec![0; n],
        processed: vec![false; n],
        removed: vec![false; n],
        pkg_done: vec![false; db.package_count()],
        changes: Vec::new(),
        ignore_conflict,
    };
    let installed = &db.installed;
    for &p in installed {
        let data = db.package(p);
        g.installed_pkg.set(data.name, p);
        g.installed_name.set(data.name, data.name);
        for (pn, v) in db.provides(p) {
            if v.is_some() {
                g.installed_name.set(pn, data.name);
            }
        }
    }
    for &p in installed {
        g.track_deps_added(p);
    }
    for &p in installed {
        g.check_removal_by_deps(p);
    }
    for (d, _) in world {
        g.gen_dep(None, d);
    }
    for &p in installed {
        g.gen_change(db.pkg_name(p));
    }
    g.changes
}
