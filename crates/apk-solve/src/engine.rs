//! The selection engine: apk-tools' propagating, deductive solver.
//!
//! It is not a backtracking search. Constraints flow down from the world:
//! applying a dependency to a name disqualifies the providers it rules out;
//! a name whose remaining candidates all share a dependency pushes that
//! dependency down before anything is chosen ("merging"); names are then
//! decided one at a time, preferring names that only have one option left
//! and whose dependents are already decided, and each decision may
//! disqualify further candidates elsewhere. Because apk users expect apk's
//! choices exactly (which version, which provider, in which order), we keep
//! its decision order and tie-breaking rules rather than using a general
//! SAT/CDCL core, which would find *a* solution but not necessarily apk's.
//! What apk-tools documents and its solver suite exercises is the
//! specification; the code is ours.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::db::{Db, Dep, NameId, PkgId, Provider, TagId, DEFAULT_TAG};
use super::{flags, Request};
use apk::dependency::Constraint;
use apk::version;

/// The default pinning mask: only untagged repositories.
const DEFAULT_PINNING: u64 = 1 << DEFAULT_TAG;

/// What the solver knows of one name. Kept to 20 bytes: the solver walks
/// thousands of names once each, and a smaller state is fewer cache misses.
#[derive(Clone, Default, Debug)]
pub(crate) struct NameState {
    /// The chosen provider once locked: its position in
    /// [`Engine::chosen_list`] plus one (0 = nothing).
    chosen: u32,
    pub requirers: u32,
    /// Position in decision order (higher first); see `discover_name`.
    order_id: u32,
    merge_depends: u16,
    merge_provides: u16,
    /// One bit per state of `name_flags!` below.
    flags: u16,
    /// Which decision queue holds the name, if any.
    queue: Option<Queue>,
}

const _: () = assert!(std::mem::size_of::<NameState>() == 20);

/// Accessors of the bits of [`NameState::flags`]: `name()` reads one,
/// `set_name(on)` writes it.
macro_rules! name_flags {
    ($($(#[$doc:meta])* $bit:literal $get:ident $set:ident;)*) => {
        impl NameState {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $get(&self) -> bool {
                    self.flags & (1 << $bit) != 0
                }

                #[inline]
                fn $set(&mut self, on: bool) {
                    if on {
                        self.flags |= 1 << $bit;
                    } else {
                        self.flags &= !(1 << $bit);
                    }
                }
            )*
        }
    };
}

impl NameState {
    /// Whether the name is locked to a provider (not to nothing).
    #[inline]
    pub fn has_chosen(&self) -> bool {
        self.chosen != 0
    }
}

name_flags! {
    0 locked set_locked;
    1 has_options set_has_options;
    2 has_iif set_has_iif;
    3 no_iif set_no_iif;
    4 reverse_deps_done set_reverse_deps_done;
    5 has_virtual_provides set_has_virtual_provides;
    6 has_auto_selectable set_has_auto_selectable;
    /// Wanted undecided because an `install_if` has `!name`.
    7 iif_needed set_iif_needed;
    8 reevaluate_deps set_reevaluate_deps;
    9 reevaluate_iif set_reevaluate_iif;
    10 in_dirty set_in_dirty;
    11 resolvenow set_resolvenow;
}

/// A decision queue entry: a name and the stamp it was filed with. Taking
/// a name out of a queue or filing it again only changes the name's state,
/// which makes its older entries stale; they are dropped when reached
/// (removing them at once cost a scan of the queue each time).
type Entry = (NameId, u32);

/// The three decision queues, taken in this order (their index in
/// `Engine::queues`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queue {
    /// Decidable now: one option left, dependents decided.
    ResolveNow,
    /// Has a candidate that may be picked automatically.
    Selectable,
    /// Everything else that is wanted.
    Unresolved,
}

#[derive(Clone, Default, Debug)]
pub(crate) struct PkgState {
    pub selectable: bool,
    available: bool,
    pub tag_ok: bool,
    tag_preferred: bool,
    iif_triggered: bool,
    iif_failed: bool,
    dependencies_merged: bool,
    dependencies_used: bool,
    pub error: bool,
    conflicts: u32,
    pub pinning_allowed: u64,
    pinning_preferred: u64,
    pub solver_flags: u8,
    solver_flags_inheritable: u8,
}

/// Result of the selection phase.
pub(crate) struct Selection<'a> {
    pub names: Vec<NameState>,
    pub pkgs: Vec<PkgState>,
    /// Every provider a name was locked to, in order ([`NameState::chosen`]
    /// points here).
    chosen_list: Vec<Provider<'a>>,
    /// Which names discovery reached.
    pub name_seen: Vec<bool>,
    pub errors: u32,
}

impl<'a> Selection<'a> {
    /// The provider `name` is locked to; `None` = nothing, or undecided.
    #[inline]
    pub fn chosen(&self, name: NameId) -> Option<Provider<'a>> {
        chosen_in(&self.names, &self.chosen_list, name)
    }
}

#[inline]
fn chosen_in<'a>(names: &[NameState], list: &[Provider<'a>], name: NameId) -> Option<Provider<'a>> {
    let i = names[name].chosen as usize;
    (i != 0).then(|| list[i - 1])
}

pub(crate) struct Engine<'d, 'a> {
    db: &'d Db<'a>,
    pub names: Vec<NameState>,
    pub pkgs: Vec<PkgState>,
    /// Providers names were locked to ([`NameState::chosen`]).
    chosen_list: Vec<Provider<'a>>,
    /// Which names and packages discovery reached, densely: discovery asks
    /// once per reference, and a miss on the state structs costs more than
    /// the check.
    name_seen: Vec<bool>,
    pkg_seen: Vec<bool>,
    /// Names to reconsider; one whose `in_dirty` was cleared since (it was
    /// decided) is skipped.
    dirty: VecDeque<NameId>,
    /// By [`Queue`]; the selectable and unresolved ones ordered by
    /// descending `order_id`.
    queues: [VecDeque<Entry>; 3],
    /// Per name, the stamp of its live queue entry (see [`Entry`]).
    filed: Vec<u32>,
    stamp: u32,
    order_counter: u32,
    /// Names the request set solver flags on (decided later).
    flagged_names: Vec<bool>,
    pub errors: u32,
    solver_flags_inherit: u8,
    pinning_inherit: u64,
    default_repos: u64,
    ignore_conflict: bool,
    available_repos: u64,
    cache_repos: u64,
}

/// True when provider `p` satisfies `dep` (written by package `deppkg`, or
/// by the world when `None`). A package's conflict with a name it provides
/// itself is ignored.
pub(crate) fn dep_provided(
    db: &Db<'_>,
    deppkg: Option<PkgId>,
    dep: &Dep<'_>,
    p: Option<&Provider<'_>>,
) -> bool {
    let conflict = dep.conflict;
    let Some(p) = p else { return conflict };
    if conflict && deppkg == Some(p.pkg) {
        return true;
    }
    match &dep.constraint {
        Constraint::Checksum(sum) => db.checksum(p.pkg).is_some_and(|c| c.same_identity(sum)),
        Constraint::Any => !conflict,
        Constraint::Version(op, want) => match p.version {
            None => conflict,
            Some(v) => op.matches(v, want) != conflict,
        },
    }
}

impl<'d, 'a> Engine<'d, 'a> {
    pub fn new(db: &'d Db<'a>, req: &Request<'a>) -> Self {
        let (available_repos, cache_repos) = db.repo_masks();
        let mut e = Engine {
            db,
            names: filled(db.name_count(), NameState::default()),
            pkgs: filled(db.package_count(), PkgState::default()),
            chosen_list: Vec::new(),
            name_seen: filled(db.name_count(), false),
            pkg_seen: filled(db.package_count(), false),
            dirty: VecDeque::new(),
            queues: Default::default(),
            filed: filled(db.name_count(), 0),
            stamp: 0,
            order_counter: 0,
            flagged_names: filled(db.name_count(), false),
            errors: 0,
            solver_flags_inherit: 0,
            pinning_inherit: 0,
            default_repos: 0,
            ignore_conflict: req.ignore_conflict,
            available_repos,
            cache_repos,
        };
        e.default_repos = e.pinning_repos(DEFAULT_PINNING);
        for &(name, own, inheritable) in &req.name_flags {
            e.flagged_names[name] = true;
            for p in db.providers(name) {
                e.pkgs[p.pkg].solver_flags |= own;
                e.pkgs[p.pkg].solver_flags_inheritable |= inheritable;
            }
        }
        e
    }

    /// The provider `name` is locked to; `None` = nothing, or undecided.
    #[inline]
    fn chosen(&self, name: NameId) -> Option<Provider<'a>> {
        chosen_in(&self.names, &self.chosen_list, name)
    }

    /// Repositories allowed by a pinning mask (bit per tag).
    fn pinning_repos(&self, mask: u64) -> u64 {
        self.db
            .tags
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .fold(0, |acc, (_, t)| acc | t.repos)
    }

    /// Repositories a package counts as coming from: where it is listed,
    /// plus the tag it was installed with.
    fn pkg_repos(&self, pkg: PkgId) -> u64 {
        let (repos, installed) = self.db.pkg_repos(pkg);
        repos | installed.map_or(0, |i| self.db.tags[i.tag].repos)
    }

    fn mark_error(&mut self, pkg: Option<PkgId>) {
        if let Some(pkg) = pkg {
            if !self.pkgs[pkg].error {
                self.pkgs[pkg].error = true;
                self.errors += 1;
            }
        }
    }

    fn queue_dirty(&mut self, name: NameId) {
        let n = &self.names[name];
        if n.in_dirty() || n.locked() || (n.requirers == 0 && !n.reevaluate_iif()) {
            return;
        }
        self.names[name].set_in_dirty(true);
        self.dirty.push_back(name);
    }

    fn resolvable_now(&self, name: NameId) -> bool {
        let n = &self.names[name];
        n.reverse_deps_done() && n.requirers > 0 && n.has_auto_selectable() && !n.has_options()
    }

    /// Takes a name out of its queue: its entry goes stale.
    fn dequeue(&mut self, name: NameId) {
        self.names[name].queue = None;
    }

    /// A new entry for `name`, the only live one.
    fn file(&mut self, name: NameId) -> Entry {
        self.stamp += 1;
        self.filed[name] = self.stamp;
        (name, self.stamp)
    }

    /// The first live entry of `queue` (`which`), dropping stale ones.
    fn pop_live(&mut self, which: Queue) -> Option<NameId> {
        loop {
            let (name, stamp) = self.queues[which as usize].pop_front()?;
            if self.names[name].queue == Some(which) && self.filed[name] == stamp {
                return Some(name);
            }
        }
    }

    /// (Re)files a name in the decision queues.
    fn queue_unresolved(&mut self, name: NameId, reevaluate: bool) {
        if self.names[name].locked() {
            return;
        }
        if self.names[name].queue.is_some() {
            if self.names[name].resolvenow() {
                return;
            }
            if self.resolvable_now(name) {
                self.names[name].set_resolvenow(true);
            } else if !reevaluate {
                return;
            }
            self.dequeue(name);
        } else {
            let n = &self.names[name];
            if n.requirers == 0 && !n.has_iif() && !n.iif_needed() {
                return;
            }
            let now = self.resolvable_now(name);
            self.names[name].set_resolvenow(now);
        }
        let entry = self.file(name);
        if self.names[name].resolvenow() {
            self.names[name].queue = Some(Queue::ResolveNow);
            self.queues[Queue::ResolveNow as usize].push_back(entry);
            return;
        }
        let queue = if self.names[name].has_auto_selectable() {
            Queue::Selectable
        } else {
            Queue::Unresolved
        };
        let list = &mut self.queues[queue as usize];
        // Stale entries keep their place, so a queue stays ordered (order
        // ids are unique but for a name's own stale entries, beside which
        // its live one lands) and long: found by bisection.
        let id = self.names[name].order_id;
        let names = &self.names;
        let at = list.partition_point(|&(n0, _)| names[n0].order_id > id);
        list.insert(at, entry);
        self.names[name].queue = Some(queue);
    }

    /// Takes the next name to decide.
    fn next_name(&mut self) -> Option<NameId> {
        let name = [Queue::ResolveNow, Queue::Selectable, Queue::Unresolved]
            .into_iter()
            .find_map(|q| self.pop_live(q))?;
        self.dequeue(name);
        Some(name)
    }

    fn reevaluate_reverse_deps(&mut self, name: NameId) {
        let db = self.db;
        for p in db.rdepend_pkgs(name) {
            // An undiscovered package has no discovered name (discovering
            // a name discovers every package offering it), and most
            // reverse dependencies of a common name are never discovered.
            if !self.pkg_seen[p] {
                continue;
            }
            for r in std::iter::once(db.pkg_name(p)).chain(db.provided_names(p)) {
                if !self.name_seen[r] {
                    continue;
                }
                self.names[r].set_reevaluate_deps(true);
                self.queue_dirty(r);
            }
        }
    }

    fn reevaluate_reverse_installif(&mut self, name: NameId) {
        for r in self.db.rinstall_if(name) {
            if !self.name_seen[r] || self.names[r].no_iif() {
                continue;
            }
            self.names[r].set_reevaluate_iif(true);
            self.queue_dirty(r);
        }
    }

    fn reevaluate_reverse_installif_pkg(&mut self, pkg: PkgId) {
        self.reevaluate_reverse_installif(self.db.pkg_name(pkg));
        for n in self.db.provided_names(pkg) {
            self.reevaluate_reverse_installif(n);
        }
    }

    fn disqualify(&mut self, pkg: PkgId) {
        self.pkgs[pkg].selectable = false;
        self.reevaluate_reverse_deps(self.db.pkg_name(pkg));
        for n in self.db.provided_names(pkg) {
            self.reevaluate_reverse_deps(n);
        }
        self.reevaluate_reverse_installif_pkg(pkg);
    }

    fn dependency_satisfiable(&self, pkg: PkgId, dep: &Dep<'a>) -> bool {
        if dep.conflict && self.ignore_conflict {
            return true;
        }
        let n = &self.names[dep.name];
        if n.locked() {
            return dep_provided(self.db, Some(pkg), dep, self.chosen(dep.name).as_ref());
        }
        if n.requirers == 0 && dep_provided(self.db, Some(pkg), dep, None) {
            return true;
        }
        self.db
            .providers(dep.name)
            .any(|p| self.pkgs[p.pkg].selectable && dep_provided(self.db, Some(pkg), dep, Some(&p)))
    }

    /// Marks every name reachable from `name` as part of this solve and
    /// gives it its decision order: names are numbered after what they
    /// lead to, so higher numbers (decided first) are closer to the world.
    #[inline(always)]
    fn discover_name(&mut self, name: NameId) {
        // Most calls find the name discovered already: that check is
        // inlined at every call site, the rest is not.
        if !self.name_seen[name] {
            self.discover_new_name(name);
        }
    }

    fn discover_new_name(&mut self, name: NameId) {
        self.name_seen[name] = true;
        self.names[name].set_no_iif(true);
        let db = self.db;
        // Looked up once, walked four times.
        let providers = db.provider_pkgs(name);
        let mut num_virtual = 0;
        for p in providers.clone() {
            if !self.pkg_seen[p] {
                self.discover_package(p);
            }
            let iif_failed = self.pkgs[p].iif_failed;
            let n = &mut self.names[name];
            n.set_no_iif(n.no_iif() && iif_failed);
            num_virtual += usize::from(db.pkg_name(p) != name);
        }
        for r in db.rinstall_if(name) {
            self.discover_name(r);
        }
        for p in providers.clone() {
            // Under its own name, that list was just walked (above).
            let own = db.pkg_name(p);
            if own != name {
                for r in db.rinstall_if(own) {
                    self.discover_name(r);
                }
            }
            for n in db.provided_names(p) {
                self.discover_name(n);
            }
        }
        // Names the request put flags on (the packages being added or
        // upgraded) are decided before everything else.
        let mut order = 0u32;
        if self.flagged_names[name] {
            order |= 1 << 31;
        }
        if providers.len() != num_virtual {
            order |= 1 << 30;
        }
        self.order_counter += 1;
        self.names[name].order_id = order | self.order_counter;
        for p in providers {
            for d in db.install_if_names(p) {
                self.discover_name(d);
            }
        }
    }

    fn discover_package(&mut self, pkg: PkgId) {
        let db = self.db;
        let p = db.discovery(pkg);
        let repos = self.pkg_repos(pkg);
        // Packages from a local cache index and `-t` virtual packages need
        // no repository.
        let cached_non_repository =
            p.virtual_package || (p.repos != 0 && p.repos & !self.cache_repos == 0);
        let zero_size = p.zero_size;
        let s = &mut self.pkgs[pkg];
        self.pkg_seen[pkg] = true;
        s.pinning_allowed = DEFAULT_PINNING;
        s.pinning_preferred = DEFAULT_PINNING;
        s.available = (p.repos & self.available_repos & !self.cache_repos) != 0;
        s.selectable =
            p.installable && (s.available || cached_non_repository || zero_size || p.installed);
        s.iif_failed = db.install_if(pkg).len() == 0
            || (self.solver_flags_inherit & flags::AVAILABLE != 0 && !s.available);
        s.tag_preferred = zero_size || (repos & self.default_repos) != 0;
        s.tag_ok = s.tag_preferred || cached_non_repository || p.installed;
        for d in db.depend_names(pkg) {
            self.discover_name(d);
        }
    }

    fn name_requirers_changed(&mut self, name: NameId) {
        self.queue_unresolved(name, false);
        self.reevaluate_reverse_installif(name);
        self.queue_dirty(name);
    }

    fn inherit_pinning_and_flags(&mut self, pkg: PkgId, parent: Option<PkgId>) {
        let repos = self.pkg_repos(pkg);
        match parent {
            Some(pp) => {
                let (inh, allowed) = (
                    self.pkgs[pp].solver_flags_inheritable,
                    self.pkgs[pp].pinning_allowed,
                );
                let s = &mut self.pkgs[pkg];
                s.solver_flags |= inh;
                s.solver_flags_inheritable |= inh;
                s.pinning_allowed |= allowed;
            }
            None => {
                let preferred = self.pinning_repos(self.pinning_inherit);
                let s = &mut self.pkgs[pkg];
                s.solver_flags |= self.solver_flags_inherit;
                s.solver_flags_inheritable |= self.solver_flags_inherit;
                s.pinning_allowed |= self.pinning_inherit;
                s.pinning_preferred = self.pinning_inherit;
                s.tag_preferred = repos & preferred != 0;
            }
        }
        let allowed = self.pinning_repos(self.pkgs[pkg].pinning_allowed);
        self.pkgs[pkg].tag_ok |= repos & allowed != 0;
    }

    fn apply_constraint(&mut self, parent: Option<PkgId>, dep: &Dep<'a>) {
        if dep.conflict && self.ignore_conflict {
            return;
        }
        let name = dep.name;
        if !dep.conflict {
            self.names[name].requirers += 1;
            if self.names[name].requirers == 1 {
                self.name_requirers_changed(name);
            }
        }
        let db = self.db;
        for p in db.providers(name) {
            let provided = dep_provided(db, parent, dep, Some(&p));
            if !provided {
                self.pkgs[p.pkg].conflicts += 1;
            }
            if self.pkgs[p.pkg].selectable && self.pkgs[p.pkg].conflicts > 0 {
                self.disqualify(p.pkg);
            }
            if provided {
                self.inherit_pinning_and_flags(p.pkg, parent);
            }
        }
    }

    fn exclude_non_providers(&mut self, name: NameId, must_provide: NameId, skip_virtuals: bool) {
        if name == must_provide || self.ignore_conflict {
            return;
        }
        let db = self.db;
        for p in db.providers(name) {
            if db.pkg_name(p.pkg) == must_provide
                || !self.pkgs[p.pkg].selectable
                || (skip_virtuals && p.version.is_none())
            {
                continue;
            }
            if db
                .provides(p.pkg)
                .any(|(n, v)| n == must_provide || (skip_virtuals && v.is_none()))
            {
                continue;
            }
            self.disqualify(p.pkg);
        }
    }

    fn reconsider_name(&mut self, name: NameId) {
        let db = self.db;
        let reevaluate_deps = self.names[name].reevaluate_deps();
        let reevaluate_iif = self.names[name].reevaluate_iif();
        self.names[name].set_reevaluate_deps(false);
        self.names[name].set_reevaluate_iif(false);
        let (mut num_options, mut num_tag_not_ok) = (0u16, 0u32);
        let (mut has_iif, mut no_iif, mut has_auto_selectable) = (false, true, false);
        let mut first_candidate = None;

        for p in db.providers(name) {
            let pkg = p.pkg;
            self.pkgs[pkg].dependencies_merged = false;
            if reevaluate_deps {
                if !self.pkgs[pkg].selectable {
                    continue;
                }
                let unsatisfiable = db
                    .depends(pkg)
                    .any(|d| !self.dependency_satisfiable(pkg, &d));
                if unsatisfiable {
                    self.disqualify(pkg);
                }
            }
            if !self.pkgs[pkg].selectable {
                continue;
            }
            if reevaluate_iif && !self.pkgs[pkg].iif_triggered && !self.pkgs[pkg].iif_failed {
                self.evaluate_install_if(pkg);
            }
            if reevaluate_iif && self.pkgs[pkg].iif_triggered {
                for d in db.install_if(pkg) {
                    let chosen = self.chosen(d.name).map(|c| c.pkg);
                    self.inherit_pinning_and_flags(pkg, chosen);
                }
            }
            has_iif |= self.pkgs[pkg].iif_triggered;
            no_iif &= self.pkgs[pkg].iif_failed;
            has_auto_selectable |= self.pkgs[pkg].iif_triggered;

            if self.names[name].requirers == 0 {
                continue;
            }
            // Count, per name, how many candidates so far share it as a
            // dependency or provide; a count equal to the number of
            // candidates means "common to all".
            self.pkgs[pkg].dependencies_merged = true;
            first_candidate.get_or_insert(pkg);
            for d in db.depends(pkg) {
                if !d.conflict {
                    merge_index(&mut self.names[d.name].merge_depends, num_options);
                }
            }
            let own = db.pkg_name(pkg);
            if merge_index(&mut self.names[own].merge_provides, num_options) {
                let n = &mut self.names[own];
                n.set_has_virtual_provides(n.has_virtual_provides() || p.version.is_none());
            }
            for (n, v) in db.provides(pkg) {
                if merge_index(&mut self.names[n].merge_provides, num_options) {
                    let n = &mut self.names[n];
                    n.set_has_virtual_provides(n.has_virtual_provides() || v.is_none());
                }
            }
            num_tag_not_ok += u32::from(!self.pkgs[pkg].tag_ok);
            num_options += 1;
            has_auto_selectable |= self.auto_selectable(&p);
        }
        let mut reevaluate = false;
        {
            let n = &mut self.names[name];
            n.set_has_options(num_options > 1 || num_tag_not_ok > 0);
            n.set_has_iif(has_iif);
            n.set_no_iif(no_iif);
            if n.has_auto_selectable() != has_auto_selectable {
                n.set_has_auto_selectable(has_auto_selectable);
                reevaluate = true;
            }
        }

        if let Some(pkg) = first_candidate {
            for p in db.provider_pkgs(name) {
                self.pkgs[p].dependencies_used = self.pkgs[p].dependencies_merged;
            }
            if num_options == 1 {
                for d in db.depends(pkg) {
                    if merge_complete(&mut self.names[d.name].merge_depends, num_options) {
                        self.apply_constraint(Some(pkg), &d);
                    }
                }
            } else {
                for d in db.depends(pkg) {
                    let n0 = d.name;
                    if merge_complete(&mut self.names[n0].merge_depends, num_options)
                        && self.names[n0].requirers == 0
                    {
                        // A name every candidate depends on: it will be needed
                        // whichever candidate wins.
                        self.names[n0].requirers += 1;
                        self.name_requirers_changed(n0);
                        for p in db.provider_pkgs(n0) {
                            self.inherit_pinning_and_flags(p, Some(pkg));
                        }
                    }
                }
            }
            // Provides transitivity: whichever candidate wins, its other
            // names can only be provided by packages that also provide this
            // name.
            let own = db.pkg_name(pkg);
            if merge_complete(&mut self.names[own].merge_provides, num_options) {
                let skip = self.names[own].has_virtual_provides();
                self.exclude_non_providers(own, name, skip);
            }
            for n in db.provided_names(pkg) {
                if merge_complete(&mut self.names[n].merge_provides, num_options) {
                    let skip = self.names[n].has_virtual_provides();
                    self.exclude_non_providers(n, name, skip);
                }
            }
            self.names[own].set_has_virtual_provides(false);
            for n in db.provided_names(pkg) {
                self.names[n].set_has_virtual_provides(false);
            }
        }

        let done = db.rdepend_pkgs(name).all(|p| {
            !self.pkg_seen[p]
                || std::iter::once(db.pkg_name(p))
                    .chain(db.provided_names(p))
                    .all(|r| !self.name_seen[r] || self.names[r].locked())
        });
        self.names[name].set_reverse_deps_done(done);
        self.queue_unresolved(name, reevaluate);
    }

    /// Decides whether a package's `install_if` has fired: every item's
    /// name must be decided and satisfied. An undecided `!x` item makes x
    /// wanted-undecided so that it gets decided (usually to nothing).
    fn evaluate_install_if(&mut self, pkg: PkgId) {
        let db = self.db;
        let (mut triggered, mut failed) = (true, false);
        for d in db.install_if(pkg) {
            if !self.names[d.name].locked() {
                if d.conflict {
                    self.names[d.name].set_iif_needed(true);
                    self.queue_unresolved(d.name, false);
                }
                triggered = false;
                failed = false;
                break;
            }
            if !dep_provided(db, Some(pkg), &d, self.chosen(d.name).as_ref()) {
                triggered = false;
                failed = true;
                break;
            }
        }
        self.pkgs[pkg].iif_triggered = triggered;
        self.pkgs[pkg].iif_failed = failed;
    }

    /// A provider without version is not picked automatically: it needs a
    /// provider_priority, or to be wanted by its own name.
    fn auto_selectable(&self, p: &Provider<'a>) -> bool {
        if p.version.is_some() {
            return true;
        }
        let pkg = self.db.package(p.pkg);
        pkg.provider_priority > 0 || self.names[pkg.name].requirers > 0
    }

    /// Orders two candidates; `Greater` means `a` is the better choice.
    fn compare_providers(&self, a: Option<&Provider<'a>>, b: Option<&Provider<'a>>) -> Ordering {
        let (pa, pb) = match (a, b) {
            (Some(a), Some(b)) => (a, b),
            _ => return a.is_some().cmp(&b.is_some()),
        };
        let db = self.db;
        let (sa, sb) = (&self.pkgs[pa.pkg], &self.pkgs[pb.pkg]);
        let (ka, kb) = (db.package(pa.pkg), db.package(pb.pkg));
        let flags = sa.solver_flags | sb.solver_flags;
        let installed = |k: &super::db::Package<'_>| k.installed.is_some();
        macro_rules! prefer {
            ($x:expr, $y:expr) => {
                match ($x).cmp(&$y) {
                    Ordering::Equal => {}
                    o => return o,
                }
            };
        }
        if flags & flags::LATEST != 0
            && sa.pinning_allowed == DEFAULT_PINNING
            && sb.pinning_allowed == DEFAULT_PINNING
        {
            prefer!(sa.tag_ok, sb.tag_ok);
            if flags & flags::AVAILABLE != 0 {
                prefer!(sa.available, sb.available);
            } else if flags & flags::REINSTALL != 0 {
                prefer!(sa.selectable, sb.selectable);
            }
        } else {
            prefer!(sa.selectable, sb.selectable);
            prefer!(sa.dependencies_used, sb.dependencies_used);
            prefer!(sb.conflicts, sa.conflicts);
            if flags & flags::INSTALLED != 0 {
                prefer!(installed(&ka), installed(&kb));
            }
            prefer!(sa.tag_ok, sb.tag_ok);
            if flags & flags::AVAILABLE != 0 {
                prefer!(sa.available, sb.available);
            }
            prefer!(sa.tag_preferred, sb.tag_preferred);
            // Keep what is installed, but installed state never decides
            // between two providers of a name that only offer it virtually.
            let versioned = ka.name == kb.name || pa.version.is_some() || pb.version.is_some();
            if flags & (flags::UPGRADE | flags::REMOVE) == 0 && versioned {
                prefer!(installed(&ka), installed(&kb));
            }
        }
        // Latest version of the requested name, then of the package itself.
        let va = pa.version.unwrap_or("");
        let vb = pb.version.unwrap_or("");
        prefer!(version::compare(va, vb), Ordering::Equal);
        if ka.name == kb.name {
            prefer!(version::compare(ka.version, kb.version), Ordering::Equal);
        }
        prefer!(ka.provider_priority, kb.provider_priority);
        if flags & flags::REMOVE == 0 {
            prefer!(installed(&ka), installed(&kb));
        }
        prefer!(sa.selectable, sb.selectable);
        // Earliest repository wins: lowest set bit.
        let first = |repos: u64| {
            if repos == 0 {
                0
            } else {
                repos.trailing_zeros() + 1
            }
        };
        first(kb.repos).cmp(&first(ka.repos))
    }

    fn assign_name(&mut self, name: NameId, p: Option<Provider<'a>>) {
        if self.names[name].locked() {
            let chosen = self.chosen(name);
            // "Nothing" counts as a provider without version, like a virtual one.
            let both_virtual =
                p.is_none_or(|p| p.version.is_none()) && chosen.is_none_or(|c| c.version.is_none());
            if both_virtual || self.ignore_conflict {
                return;
            }
            self.mark_error(p.map(|p| p.pkg));
            self.mark_error(chosen.map(|c| c.pkg));
            return;
        }
        let chosen = match p {
            Some(p) => {
                self.chosen_list.push(p);
                self.chosen_list.len() as u32
            }
            None => 0,
        };
        let n = &mut self.names[name];
        n.set_locked(true);
        n.chosen = chosen;
        // Its place in `dirty`, if any, goes stale (a decided name never
        // comes back there).
        n.set_in_dirty(false);
        self.dequeue(name);
        let db = self.db;
        // A package chosen only because its install_if fired: its other
        // install_if items must now hold too.
        if let Some(pp) = p {
            if self.names[name].requirers == 0 && self.pkgs[pp.pkg].iif_triggered {
                for d in db.install_if(pp.pkg) {
                    if !self.names[d.name].locked() {
                        self.apply_constraint(Some(pp.pkg), &d);
                    }
                }
            }
        }
        if !self.ignore_conflict {
            for p0 in db.providers(name) {
                if Some(p0.pkg) == p.map(|p| p.pkg) {
                    continue;
                }
                if p.is_none_or(|p| p.version.is_none()) && p0.version.is_none() {
                    continue;
                }
                self.disqualify(p0.pkg);
            }
        }
        self.reevaluate_reverse_deps(name);
        match p {
            Some(pp) => self.reevaluate_reverse_installif_pkg(pp.pkg),
            None => self.reevaluate_reverse_installif(name),
        }
    }

    fn select_package(&mut self, name: NameId) {
        let db = self.db;
        let mut chosen: Option<Provider<'a>> = None;
        let n = &self.names[name];
        if n.requirers > 0 || n.has_iif() {
            for p in db.providers(name) {
                let s = &self.pkgs[p.pkg];
                if self.names[name].requirers == 0
                    && (!s.iif_triggered || !s.tag_ok || !s.selectable)
                {
                    continue;
                }
                if !self.auto_selectable(&p) {
                    continue;
                }
                if self.compare_providers(Some(&p), chosen.as_ref()) == Ordering::Greater {
                    chosen = Some(p);
                }
            }
        }
        match chosen {
            Some(c) => {
                let pkg = c.pkg;
                if !self.pkgs[pkg].selectable || !self.pkgs[pkg].tag_ok {
                    self.mark_error(Some(pkg));
                }
                let data = db.package(pkg);
                self.assign_name(
                    data.name,
                    Some(Provider {
                        pkg,
                        version: Some(data.version),
                    }),
                );
                let by_install_if = name == data.name && self.names[name].requirers == 0;
                for (n, v) in db.provides(pkg) {
                    // A package pulled in by install_if was not asked for by
                    // name, so it does not settle a wanted virtual name: that
                    // name still needs an explicit choice.
                    if by_install_if
                        && v.is_none()
                        && self.names[n].requirers > 0
                        && !self.names[n].locked()
                    {
                        continue;
                    }
                    self.assign_name(n, Some(Provider { pkg, version: v }));
                }
                for d in db.depends(pkg) {
                    self.apply_constraint(Some(pkg), &d);
                }
            }
            None => {
                self.assign_name(name, None);
                if self.names[name].requirers > 0 {
                    self.errors += 1;
                }
            }
        }
    }

    /// Runs selection for the world items not marked broken.
    pub fn run(
        mut self,
        world: &[(Dep<'a>, TagId)],
        broken: &[bool],
        flags_inherit: u8,
    ) -> Selection<'a> {
        self.solver_flags_inherit = flags_inherit;
        for (i, (d, _)) in world.iter().enumerate() {
            if !broken[i] {
                self.discover_name(d.name);
            }
        }
        for (i, (d, tag)) in world.iter().enumerate() {
            if !broken[i] {
                self.pinning_inherit = 1 << tag;
                self.apply_constraint(None, d);
            }
        }
        self.solver_flags_inherit = 0;
        self.pinning_inherit = 0;

        loop {
            while let Some(name) = self.dirty.pop_front() {
                if !self.names[name].in_dirty() {
                    continue;
                }
                self.names[name].set_in_dirty(false);
                self.reconsider_name(name);
            }
            let Some(name) = self.next_name() else { break };
            self.select_package(name);
        }
        Selection {
            names: self.names,
            pkgs: self.pkgs,
            chosen_list: self.chosen_list,
            name_seen: self.name_seen,
            errors: self.errors,
        }
    }
}

fn merge_index(index: &mut u16, num_options: u16) -> bool {
    if *index != num_options {
        return false;
    }
    *index = num_options + 1;
    true
}

fn merge_complete(index: &mut u16, num_options: u16) -> bool {
    let complete = *index == num_options;
    *index = 0;
    complete
}

/// `n` copies of `value` in memory made present in one go: the solver's
/// state is hundreds of KiB of fresh pages, each a page fault when first
/// written one by one (several microseconds on some VMs), fewer and
/// cheaper when populated together.
fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    let spare = v.spare_capacity_mut();
    // SAFETY: the same memory, seen as bytes that may be uninitialised.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(
            spare.as_mut_ptr().cast::<std::mem::MaybeUninit<u8>>(),
            std::mem::size_of_val(spare),
        )
    };
    assemble_io::pages::populate(bytes);
    v.resize(n, value);
    v
}
