//! The package universe a solve runs over: every package from every
//! repository and the installed database, the names they are known by, and
//! the reverse links (who depends on a name, whose `install_if` mentions it)
//! that the solver walks.
//!
//! Packages are identified like apk-tools does: records with the same
//! identity (first 20 bytes of `C:`) are one package, available from every
//! repository that lists it and possibly also installed.
//!
//! The tables are flat: every package's dependencies, provides and
//! `install_if` atoms live in three shared vectors, and the per-name lists
//! (providers, reverse dependencies, reverse `install_if`) are built once
//! by [`Db::finish`] as offset tables — no allocation per package or name.
//! A repository can be added from parsed records ([`Db::add_repository`])
//! or, much faster, from a [`ParsedIndex`] ([`Db::add_index`]), whose atoms
//! are parsed and names interned already: the first index added to an
//! empty universe lends it its name table as is.

use std::borrow::Cow;
use std::ops::Range;

use rustc_hash::FxHashMap as HashMap;

use apk::checksum::Checksum;
use apk::dependency::{Constraint, Context, Dependency};
use apk::index::parsed::offset_table;
use apk::index::{IndexRecord, ParsedIndex};
use apk::package::{FieldProblem, PackageInfo};

/// Index of a name (see [`Db::name_str`]).
pub type NameId = usize;
/// Index of a package in [`Db::packages`].
pub type PkgId = usize;
/// Index of a repository tag in [`Db::tags`]; 0 is the untagged default.
pub type TagId = usize;

/// The default (untagged) repository tag.
pub const DEFAULT_TAG: TagId = 0;

/// Something that offers a name: a package under its own name or a provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provider<'a> {
    /// The package.
    pub pkg: PkgId,
    /// The version it provides the name at; `None` for a virtual provide.
    pub version: Option<&'a str>,
}

/// A dependency whose name has been interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dep<'a> {
    /// The interned name.
    pub name: NameId,
    /// `!name`: satisfied when no matching provider is installed.
    pub conflict: bool,
    /// The version part.
    pub constraint: Constraint<'a>,
    /// `@tag` of a world atom.
    pub tag: Option<&'a str>,
}

impl<'a> Dep<'a> {
    fn new(name: NameId, atom: Dependency<'a>) -> Self {
        Dep {
            name,
            conflict: atom.conflict,
            constraint: atom.constraint,
            tag: atom.tag,
        }
    }
}

/// Why a package can never be installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uninstallable {
    /// Its architecture is not one of the configured ones.
    Arch(String),
    /// A field is malformed (letter and message).
    Field(char, String),
}

/// Installed state of a package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The repository tag it was installed from (`s:` in the database).
    pub tag: TagId,
}

/// Where a package's metadata lives.
#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    Info(&'a PackageInfo<'a>),
    Index(&'a ParsedIndex, u32),
}

/// What the solver knows of one package (see [`Db::package`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Package<'a> {
    /// Its own name.
    pub name: NameId,
    /// Its version.
    pub version: &'a str,
    /// Bit set of repositories listing it.
    pub repos: u64,
    /// Set when it is installed.
    pub installed: Option<Installed>,
    /// Set for a package made up for this solve (`-t .virtual`), which
    /// needs no repository.
    pub virtual_package: bool,
    /// False when it can never be installed ([`Db::uninstallable`] says
    /// why).
    pub installable: bool,
    /// Provider priority (`k:`), 0 when absent.
    pub provider_priority: u64,
    /// `I:` (installed size).
    pub installed_size: Option<u64>,
}

/// What discovery reads of a package ([`Db::discovery`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Discovery {
    /// As [`Package::repos`].
    pub repos: u64,
    /// [`Package::installed`] is set.
    pub installed: bool,
    /// As [`Package::virtual_package`].
    pub virtual_package: bool,
    /// As [`Package::installable`].
    pub installable: bool,
    /// [`Package::installed_size`] is absent or 0.
    pub zero_size: bool,
}

/// A package of an owned universe.
#[derive(Clone, Debug)]
struct Row<'a> {
    pkg: Package<'a>,
    checksum: Option<Checksum>,
    uninstallable: Vec<Uninstallable>,
    source: Source<'a>,
    /// `depends` then `install_if` in the dependency table.
    deps: Range<u32>,
    iif_start: u32,
    provides: Range<u32>,
}

/// A repository as the solver sees it.
#[derive(Clone, Debug)]
pub struct Repo {
    /// How to show it (path or URL).
    pub label: String,
    /// Its tag.
    pub tag: TagId,
    /// False when masked (e.g. a network repository under `--no-network`).
    pub available: bool,
    /// A local package cache rather than a repository.
    pub cache: bool,
}

/// A repository tag (`@edge`).
#[derive(Clone, Debug)]
pub struct Tag {
    /// The tag without `@`; empty for the default.
    pub name: String,
    /// Repositories with this tag.
    pub repos: u64,
}

/// Per-name lists as one offset table: list `n` is
/// `items[start[n]..start[n + 1]]`.
#[derive(Clone, Debug)]
struct Lists<T> {
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T> Default for Lists<T> {
    fn default() -> Self {
        Lists {
            start: Vec::new(),
            items: Vec::new(),
        }
    }
}

impl<T: Copy> Lists<T> {
    fn get(&self, n: usize) -> &[T] {
        match (self.start.get(n), self.start.get(n + 1)) {
            (Some(&a), Some(&b)) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Builds the lists from `(name, item)` pairs given in order.
    fn build(names: usize, pairs: &[(u32, T)]) -> Self {
        let (start, items) = offset_table(names, pairs);
        Lists { start, items }
    }
}

/// How one kind of list item is read from a parsed index.
trait Decode<'a> {
    type Item: Copy;
    fn decode(index: &'a ParsedIndex, i: u32) -> Self::Item;
}

/// Items of a list, from an owned table or read in place from a parsed
/// index (decoded by `D`).
struct Items<'d, 'a, D: Decode<'a>> {
    inner: ItemsInner<'d, 'a, D>,
}

enum ItemsInner<'d, 'a, D: Decode<'a>> {
    Slice(std::slice::Iter<'d, D::Item>),
    Table(&'a ParsedIndex, Range<u32>),
}

impl<'a, D: Decode<'a>> Clone for Items<'_, 'a, D> {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            ItemsInner::Slice(it) => ItemsInner::Slice(it.clone()),
            ItemsInner::Table(index, range) => ItemsInner::Table(index, range.clone()),
        };
        Items { inner }
    }
}

impl<'d, 'a, D: Decode<'a>> Items<'d, 'a, D> {
    #[inline]
    fn slice(s: &'d [D::Item]) -> Self {
        Items {
            inner: ItemsInner::Slice(s.iter()),
        }
    }

    #[inline]
    fn table(index: &'a ParsedIndex, range: Range<u32>) -> Self {
        Items {
            inner: ItemsInner::Table(index, range),
        }
    }
}

impl<'a, D: Decode<'a>> Iterator for Items<'_, 'a, D> {
    type Item = D::Item;

    #[inline(always)]
    fn next(&mut self) -> Option<D::Item> {
        match &mut self.inner {
            ItemsInner::Slice(it) => it.next().copied(),
            ItemsInner::Table(index, range) => range.next().map(|i| D::decode(index, i)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            ItemsInner::Slice(it) => it.len(),
            ItemsInner::Table(_, range) => range.len(),
        };
        (n, Some(n))
    }
}

impl<'a, D: Decode<'a>> ExactSizeIterator for Items<'_, 'a, D> {}

/// The list items of a parsed index, by kind.
struct ProviderItem;
struct PkgItem;
struct IifItem;
struct NameItem;
struct DepItem;
struct ProvideItem;

impl<'a> Decode<'a> for ProviderItem {
    type Item = Provider<'a>;
    #[inline(always)]
    fn decode(index: &'a ParsedIndex, i: u32) -> Provider<'a> {
        let (pkg, version) = index.provider(i);
        Provider {
            pkg: pkg as PkgId,
            version,
        }
    }
}

struct ProviderPkgItem;

impl<'a> Decode<'a> for ProviderPkgItem {
    type Item = PkgId;
    #[inline(always)]
    fn decode(index: &'a ParsedIndex, i: u32) -> PkgId {
        index.provider_pkg(i) as PkgId
    }
}

impl<'a> Decode<'a> for PkgItem {
    type Item = PkgId;
    #[inline(always)]
    fn decode(index: &'a ParsedIndex, i: u32) -> PkgId {
        index.rdepend(i) as PkgId
    }
}

impl<'a> Decode<'a> for IifItem {
    type Item = NameId;
    #[inline(always)]
    fn decode(index: &'a ParsedIndex, i: u32) -> NameId {
        index.rinstall_if(i) as NameId
    }
}

impl<'a> Decode<'a> for NameItem {
    type Item = NameId;
    #[inline(always)]
    fn decode(index: &'a ParsedIndex, i: u32) -> NameId {
        index.atom_name(i) as NameId
    }
}

impl<'a> Decode<'a> for DepItem {
    type Item = Dep<'a>;
    #[inline(always)]
    fn decode(index: &'a ParsedIndex, i: u32) -> Dep<'a> {
        let (name, conflict, constraint) = index.atom_parts(i);
        Dep {
            name: name as NameId,
            conflict,
            constraint,
            tag: None,
        }
    }
}

impl<'a> Decode<'a> for ProvideItem {
    type Item = (NameId, Option<&'a str>);
    #[inline(always)]
    fn decode(index: &'a ParsedIndex, i: u32) -> (NameId, Option<&'a str>) {
        let (n, v) = index.provide(i);
        (n as NameId, v)
    }
}

/// Names of atoms: from atoms built in memory, or read in place.
#[derive(Clone)]
enum AtomNames<'d, 'a> {
    Deps(std::slice::Iter<'d, Dep<'a>>),
    Table(Items<'d, 'a, NameItem>),
}

impl Iterator for AtomNames<'_, '_> {
    type Item = NameId;

    #[inline(always)]
    fn next(&mut self) -> Option<NameId> {
        match self {
            AtomNames::Deps(it) => it.next().map(|d| d.name),
            AtomNames::Table(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            AtomNames::Deps(it) => it.size_hint(),
            AtomNames::Table(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for AtomNames<'_, '_> {}

/// An iterator over a list of the universe.
pub trait List<T>: ExactSizeIterator<Item = T> + Clone {}
impl<T, I: ExactSizeIterator<Item = T> + Clone> List<T> for I {}

/// The universe read in place from one parsed index (plus names the world
/// mentions that the index does not).
#[derive(Clone, Debug)]
struct Base<'a> {
    index: &'a ParsedIndex,
    /// Its repository's bit.
    repo_bit: u64,
    /// Per distinct architecture of the index: whether it is accepted.
    arch_ok: Vec<bool>,
    extra_names: Vec<&'a str>,
    by_name: HashMap<&'a str, NameId>,
}

impl Base<'_> {
    /// Whether package `pkg` can be installed: its record has no problems
    /// and an accepted architecture.
    #[inline]
    fn installable(&self, pkg: PkgId) -> bool {
        let ix = self.index;
        !ix.package_has_problems(pkg as u32)
            && self.arch_ok.get(ix.package_arch(pkg as u32) as usize) == Some(&true)
    }
}

/// A universe built in memory.
#[derive(Clone, Debug, Default)]
struct Owned<'a> {
    rows: Vec<Row<'a>>,
    names: Vec<&'a str>,
    /// The index whose names are `names[..base.name_count()]`, found with
    /// its own lookup table.
    base: Option<&'a ParsedIndex>,
    /// Every other name.
    by_name: HashMap<&'a str, NameId>,
    /// Identities seen, once more than one source is added; a first index
    /// marks its own duplicates.
    by_identity: Option<HashMap<[u8; 20], PkgId>>,
    deps: Vec<Dep<'a>>,
    provides: Vec<(NameId, Option<&'a str>)>,
    /// The names of `provides`, alone.
    provide_names: Vec<NameId>,
    providers: Lists<Provider<'a>>,
    /// The packages of `providers`, alone.
    provider_pkgs: Lists<PkgId>,
    rdepend_pkgs: Lists<PkgId>,
    rinstall_if: Lists<NameId>,
}

#[derive(Clone, Debug)]
enum Store<'a> {
    Base(Base<'a>),
    Owned(Box<Owned<'a>>),
}

/// The universe: names, packages, repositories and tags.
#[derive(Clone, Debug)]
pub struct Db<'a> {
    /// Repositories, bit `i` of [`Package::repos`] is `repos[i]`.
    pub repos: Vec<Repo>,
    /// Tags; `tags[0]` is the default.
    pub tags: Vec<Tag>,
    /// Architectures packages may have (`/etc/apk/arch`); empty = any.
    pub arches: Vec<String>,
    /// Installed packages in database order.
    pub installed: Vec<PkgId>,
    store: Store<'a>,
}

/// Most repositories one solve can hold (bits of a `u64`).
pub const MAX_REPOS: usize = 64;

/// A repository could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// More than [`MAX_REPOS`] repositories.
    #[error("too many repositories (at most {MAX_REPOS})")]
    TooManyRepos,
}

fn foreign_arch(arches: &[String], arch: &str) -> bool {
    !arch.is_empty() && arch != "noarch" && !arches.is_empty() && !arches.iter().any(|a| *a == arch)
}

impl<'a> Db<'a> {
    /// Bit masks of the repositories that are available and of those that
    /// are caches, in the layout of [`Package::repos`].
    pub fn repo_masks(&self) -> (u64, u64) {
        let mask = |keep: fn(&Repo) -> bool| {
            (self.repos.iter().enumerate())
                .filter(|(_, r)| keep(r))
                .fold(0u64, |m, (i, _)| m | 1 << i)
        };
        (mask(|r| r.available), mask(|r| r.cache))
    }

    /// An empty universe accepting packages of `arches` (empty = any arch).
    pub fn new(arches: &[&str]) -> Self {
        Db {
            repos: Vec::new(),
            tags: vec![Tag {
                name: String::new(),
                repos: 0,
            }],
            arches: arches.iter().map(|a| a.to_string()).collect(),
            installed: Vec::new(),
            store: Store::Owned(Box::default()),
        }
    }

    /// Number of names.
    pub fn name_count(&self) -> usize {
        match &self.store {
            Store::Base(b) => b.index.name_count() + b.extra_names.len(),
            Store::Owned(o) => o.names.len(),
        }
    }

    /// Number of packages.
    pub fn package_count(&self) -> usize {
        match &self.store {
            Store::Base(b) => b.index.package_count(),
            Store::Owned(o) => o.rows.len(),
        }
    }

    /// The id of `name`, creating it when new.
    pub fn intern(&mut self, name: &'a str) -> NameId {
        if let Some(id) = self.lookup(name) {
            return id;
        }
        let id = self.name_count();
        match &mut self.store {
            Store::Base(b) => {
                b.extra_names.push(name);
                b.by_name.insert(name, id);
            }
            Store::Owned(o) => {
                o.names.push(name);
                o.by_name.insert(name, id);
            }
        }
        id
    }

    /// The id of `name`, if known.
    pub fn lookup(&self, name: &str) -> Option<NameId> {
        let (base, by_name) = match &self.store {
            Store::Base(b) => (Some(b.index), &b.by_name),
            Store::Owned(o) => (o.base, &o.by_name),
        };
        if let Some(id) = base.and_then(|b| b.lookup(name)) {
            return Some(id as NameId);
        }
        by_name.get(name).copied()
    }

    /// The id of a tag, creating it when new.
    pub fn tag(&mut self, name: &str) -> TagId {
        if let Some(i) = self.tags.iter().position(|t| t.name == name) {
            return i;
        }
        self.tags.push(Tag {
            name: name.to_owned(),
            repos: 0,
        });
        self.tags.len() - 1
    }

    /// The id of an existing tag.
    pub fn find_tag(&self, name: &str) -> Option<TagId> {
        self.tags.iter().position(|t| t.name == name)
    }

    fn push_repo(
        &mut self,
        label: &str,
        tag: Option<&str>,
        available: bool,
        cache: bool,
    ) -> Result<usize, DbError> {
        if self.repos.len() >= MAX_REPOS {
            return Err(DbError::TooManyRepos);
        }
        let tag = tag.map_or(DEFAULT_TAG, |t| self.tag(t));
        let repo = self.repos.len();
        self.repos.push(Repo {
            label: label.to_owned(),
            tag,
            available,
            cache,
        });
        self.tags[tag].repos |= 1 << repo;
        Ok(repo)
    }

    /// The universe in memory, built from the index read in place when
    /// there was one (adding a second source needs tables of our own).
    fn owned(&mut self) -> &mut Owned<'a> {
        if let Store::Base(b) = &self.store {
            let b = b.clone();
            let mut o = Owned {
                names: (0..b.index.name_count() as u32)
                    .map(|i| b.index.name(i))
                    .chain(b.extra_names.iter().copied())
                    .collect(),
                base: Some(b.index),
                by_name: b.by_name,
                ..Owned::default()
            };
            o.add_index_rows(b.index, b.repo_bit, None, &self.arches);
            self.store = Store::Owned(Box::new(o));
        }
        match &mut self.store {
            Store::Owned(o) => o,
            Store::Base(_) => unreachable!("converted above"),
        }
    }

    /// Adds a repository and its packages. Returns the repository index.
    pub fn add_repository(
        &mut self,
        label: &str,
        tag: Option<&str>,
        available: bool,
        cache: bool,
        records: impl IntoIterator<Item = &'a IndexRecord<'a>>,
    ) -> Result<usize, DbError> {
        let repo = self.push_repo(label, tag, available, cache)?;
        let arches = self.arches.clone();
        let o = self.owned();
        for record in records {
            // Unless the parser checked every field, atoms are checked here.
            let id = o.add_package(&record.info, &record.problems, record.checked, &arches);
            o.rows[id].pkg.repos |= 1 << repo;
        }
        Ok(repo)
    }

    /// Adds a repository from a parsed index: its atoms are parsed and its
    /// names interned already. The first index of an empty universe is
    /// read in place (nothing is copied) until another source is added.
    /// Returns the repository index.
    pub fn add_index(
        &mut self,
        label: &str,
        tag: Option<&str>,
        available: bool,
        cache: bool,
        index: &'a ParsedIndex,
    ) -> Result<usize, DbError> {
        let repo = self.push_repo(label, tag, available, cache)?;
        let bit = 1u64 << repo;
        if let Store::Owned(o) = &self.store {
            if o.names.is_empty() && o.rows.is_empty() {
                let arch_ok = (0..index.arch_count() as u32)
                    .map(|a| !foreign_arch(&self.arches, index.arch(a)))
                    .collect();
                // Read in place from here on, at random: a mapped entry into
                // the caches first.
                index.prefetch_universe();
                self.store = Store::Base(Base {
                    index,
                    repo_bit: bit,
                    arch_ok,
                    extra_names: Vec::new(),
                    by_name: HashMap::default(),
                });
                return Ok(repo);
            }
        }
        let arches = self.arches.clone();
        let o = self.owned();
        let map: Vec<NameId> = (0..index.name_count() as u32)
            .map(|i| o.intern(index.name(i)))
            .collect();
        o.identities();
        o.add_index_rows(index, bit, Some(&map), &arches);
        Ok(repo)
    }

    /// Marks a package as installed (a record of `lib/apk/db/installed`),
    /// pinned to repository tag `tag` (the database's `s:`). A record whose
    /// identity a repository also lists is that package.
    pub fn add_installed(&mut self, info: &'a PackageInfo<'a>, tag: Option<&str>) -> PkgId {
        let tag = tag.map_or(DEFAULT_TAG, |t| self.tag(t));
        let arches = self.arches.clone();
        let o = self.owned();
        let id = o.add_package(info, &[], false, &arches);
        o.rows[id].pkg.installed = Some(Installed { tag });
        if !self.installed.contains(&id) {
            self.installed.push(id);
        }
        id
    }

    /// Adds a package that needs no repository (`apk add -t .virtual`).
    pub fn add_virtual(&mut self, info: &'a PackageInfo<'a>) -> PkgId {
        let arches = self.arches.clone();
        let o = self.owned();
        let id = o.add_package(info, &[], false, &arches);
        o.rows[id].pkg.virtual_package = true;
        id
    }

    /// Builds the per-name lists (providers, reverse dependencies, reverse
    /// `install_if`); call after adding everything and before solving. A
    /// universe read in place from one index has them already.
    pub fn finish(&mut self) {
        if let Store::Owned(o) = &mut self.store {
            o.finish();
        }
    }

    /// What the solver knows of package `pkg`.
    #[inline]
    pub fn package(&self, pkg: PkgId) -> Package<'a> {
        match &self.store {
            Store::Owned(o) => o.rows[pkg].pkg,
            Store::Base(b) => {
                let ix = b.index;
                let record = ix.package_record(pkg as u32);
                let (installed_size, provider_priority) = ix.record_sizes(record);
                Package {
                    name: ix.package_name(pkg as u32) as NameId,
                    version: ix.record_version(record),
                    repos: b.repo_bit,
                    installed: None,
                    virtual_package: false,
                    installable: b.installable(pkg),
                    provider_priority: provider_priority.unwrap_or(0),
                    installed_size,
                }
            }
        }
    }

    /// What discovery reads of package `pkg`: [`Db::package`] without its
    /// name, version and provider priority (on a mapped index, without
    /// reading its record).
    #[inline]
    pub(crate) fn discovery(&self, pkg: PkgId) -> Discovery {
        match &self.store {
            Store::Owned(o) => {
                let p = &o.rows[pkg].pkg;
                Discovery {
                    repos: p.repos,
                    installed: p.installed.is_some(),
                    virtual_package: p.virtual_package,
                    installable: p.installable,
                    zero_size: p.installed_size.unwrap_or(0) == 0,
                }
            }
            Store::Base(b) => Discovery {
                repos: b.repo_bit,
                installed: false,
                virtual_package: false,
                installable: b.installable(pkg),
                zero_size: b.index.package_zero_size(pkg as u32),
            },
        }
    }

    /// Whether package `pkg` is listed by a repository but can never be
    /// installed (what [`Db::package`] says, cheaper: [`Db::uninstallable`]
    /// says why).
    pub fn broken(&self, pkg: PkgId) -> bool {
        let d = self.discovery(pkg);
        !d.installed && !d.installable
    }

    /// `C:` of package `pkg`.
    #[inline]
    pub fn checksum(&self, pkg: PkgId) -> Option<Checksum> {
        match &self.store {
            Store::Owned(o) => o.rows[pkg].checksum,
            Store::Base(b) => b.index.record_checksum(b.index.package_record(pkg as u32)),
        }
    }

    /// The repositories listing package `pkg` and its installed state
    /// (what [`Db::package`] gives, cheaper).
    #[inline]
    pub fn pkg_repos(&self, pkg: PkgId) -> (u64, Option<Installed>) {
        match &self.store {
            Store::Owned(o) => (o.rows[pkg].pkg.repos, o.rows[pkg].pkg.installed),
            Store::Base(b) => (b.repo_bit, None),
        }
    }

    /// The name of package `pkg` (what [`Db::package`] gives, cheaper).
    #[inline]
    pub fn pkg_name(&self, pkg: PkgId) -> NameId {
        match &self.store {
            Store::Owned(o) => o.rows[pkg].pkg.name,
            Store::Base(b) => b.index.package_name(pkg as u32) as NameId,
        }
    }

    /// The names package `pkg` provides (what [`Db::provides`] gives,
    /// without the versions).
    #[inline]
    pub fn provided_names(&self, pkg: PkgId) -> impl List<NameId> + '_ {
        match &self.store {
            Store::Owned(o) => {
                let r = &o.rows[pkg];
                Items::<NameItem>::slice(
                    &o.provide_names[r.provides.start as usize..r.provides.end as usize],
                )
            }
            Store::Base(b) => {
                let [_, p, _] = b.index.package_atom_ranges(pkg as u32);
                Items::<NameItem>::table(b.index, p)
            }
        }
    }

    /// Why package `pkg` can never be installed (empty when it can be).
    pub fn uninstallable(&self, pkg: PkgId) -> Vec<Uninstallable> {
        match &self.store {
            Store::Owned(o) => o.rows[pkg].uninstallable.clone(),
            Store::Base(b) => {
                let record = b.index.package_record(pkg as u32);
                let row = b.index.row(record);
                uninstallable(b.index, record, row.has_problems, row.arch, &self.arches)
            }
        }
    }

    /// Every package offering `name` (under its own name, then providers),
    /// in the order they were added. Empty before [`Db::finish`].
    #[inline]
    pub fn providers(&self, name: NameId) -> impl List<Provider<'a>> + '_ {
        match &self.store {
            Store::Owned(o) => Items::<ProviderItem>::slice(o.providers.get(name)),
            Store::Base(b) => {
                Items::<ProviderItem>::table(b.index, b.index.provider_range(name as u32))
            }
        }
    }

    /// The packages of [`Db::providers`] alone.
    #[inline]
    pub fn provider_pkgs(&self, name: NameId) -> impl List<PkgId> + '_ {
        match &self.store {
            Store::Owned(o) => Items::<ProviderPkgItem>::slice(o.provider_pkgs.get(name)),
            Store::Base(b) => {
                Items::<ProviderPkgItem>::table(b.index, b.index.provider_range(name as u32))
            }
        }
    }

    /// Packages that depend on `name`; see [`Db::rdepends`] for the names
    /// they are known by.
    #[inline]
    pub fn rdepend_pkgs(&self, name: NameId) -> impl List<PkgId> + '_ {
        match &self.store {
            Store::Owned(o) => Items::<PkgItem>::slice(o.rdepend_pkgs.get(name)),
            Store::Base(b) => Items::<PkgItem>::table(b.index, b.index.rdepend_range(name as u32)),
        }
    }

    /// Names (own or provided) of packages whose `install_if` mentions
    /// `name`.
    #[inline]
    pub fn rinstall_if(&self, name: NameId) -> impl List<NameId> + '_ {
        match &self.store {
            Store::Owned(o) => Items::<IifItem>::slice(o.rinstall_if.get(name)),
            Store::Base(b) => {
                Items::<IifItem>::table(b.index, b.index.rinstall_if_range(name as u32))
            }
        }
    }

    /// `D:` of a package.
    #[inline]
    pub fn depends(&self, pkg: PkgId) -> impl List<Dep<'a>> + '_ {
        match &self.store {
            Store::Owned(o) => {
                let r = &o.rows[pkg];
                Items::<DepItem>::slice(&o.deps[r.deps.start as usize..r.iif_start as usize])
            }
            Store::Base(b) => {
                let [d, _, _] = b.index.package_atom_ranges(pkg as u32);
                Items::<DepItem>::table(b.index, d)
            }
        }
    }

    /// The names of [`Db::depends`] alone (cheaper).
    #[inline]
    pub fn depend_names(&self, pkg: PkgId) -> impl List<NameId> + '_ {
        self.atom_names(pkg, 0)
    }

    /// The names of [`Db::install_if`] alone (cheaper).
    #[inline]
    pub fn install_if_names(&self, pkg: PkgId) -> impl List<NameId> + '_ {
        self.atom_names(pkg, 2)
    }

    /// Names of the `D:` (`which` 0) or `i:` (2) atoms of a package.
    #[inline]
    fn atom_names(&self, pkg: PkgId, which: usize) -> AtomNames<'_, 'a> {
        match &self.store {
            Store::Owned(o) => {
                let r = &o.rows[pkg];
                let deps = match which {
                    0 => &o.deps[r.deps.start as usize..r.iif_start as usize],
                    _ => &o.deps[r.iif_start as usize..r.deps.end as usize],
                };
                AtomNames::Deps(deps.iter())
            }
            Store::Base(b) => {
                let range = b.index.package_atom_ranges(pkg as u32)[which].clone();
                AtomNames::Table(Items::<NameItem>::table(b.index, range))
            }
        }
    }

    /// `i:` of a package.
    #[inline]
    pub fn install_if(&self, pkg: PkgId) -> impl List<Dep<'a>> + '_ {
        match &self.store {
            Store::Owned(o) => {
                let r = &o.rows[pkg];
                Items::<DepItem>::slice(&o.deps[r.iif_start as usize..r.deps.end as usize])
            }
            Store::Base(b) => {
                let [_, _, i] = b.index.package_atom_ranges(pkg as u32);
                Items::<DepItem>::table(b.index, i)
            }
        }
    }

    /// `p:` of a package: name and version (`None` = virtual).
    #[inline]
    pub fn provides(&self, pkg: PkgId) -> impl List<(NameId, Option<&'a str>)> + '_ {
        match &self.store {
            Store::Owned(o) => {
                let r = &o.rows[pkg];
                Items::<ProvideItem>::slice(
                    &o.provides[r.provides.start as usize..r.provides.end as usize],
                )
            }
            Store::Base(b) => {
                let [_, p, _] = b.index.package_atom_ranges(pkg as u32);
                Items::<ProvideItem>::table(b.index, p)
            }
        }
    }

    /// Every field of a package's record.
    pub fn info(&self, pkg: PkgId) -> Cow<'a, PackageInfo<'a>> {
        let source = match &self.store {
            Store::Owned(o) => o.rows[pkg].source,
            Store::Base(b) => Source::Index(b.index, b.index.package_record(pkg as u32) as u32),
        };
        match source {
            Source::Info(info) => Cow::Borrowed(info),
            Source::Index(index, i) => Cow::Owned(index.record(i as usize).info),
        }
    }

    /// Parses and interns a world atom (`name@tag>=1`). The tag must exist.
    pub fn world_dep(&mut self, atom: Dependency<'a>) -> Dep<'a> {
        Dep::new(self.intern(atom.name), atom)
    }

    /// The atom `dep` was made from, as written (`!name@tag>=1.2`).
    pub fn atom(&self, dep: &Dep<'a>) -> Dependency<'a> {
        Dependency {
            name: self.name_str(dep.name),
            tag: dep.tag,
            conflict: dep.conflict,
            constraint: dep.constraint,
        }
    }

    /// Parses an atom written in the world or on a command line.
    pub fn parse_world(
        &mut self,
        text: &'a str,
    ) -> Result<Dep<'a>, apk::dependency::InvalidDependency> {
        let atom = Dependency::parse(text, Context::World)?;
        Ok(self.world_dep(atom))
    }

    /// Names (own or provided) of packages that depend on `name`, as apk
    /// links them; a name may repeat.
    pub fn rdepends(&self, name: NameId) -> impl Iterator<Item = NameId> + '_ {
        self.rdepend_pkgs(name)
            .flat_map(move |p| std::iter::once(self.pkg_name(p)).chain(self.provided_names(p)))
    }

    /// `name-version` of a package.
    pub fn pkg_label(&self, pkg: PkgId) -> String {
        let p = self.package(pkg);
        format!("{}-{}", self.name_str(p.name), p.version)
    }

    /// The name string of a name id.
    pub fn name_str(&self, name: NameId) -> &'a str {
        match &self.store {
            Store::Owned(o) => o.names[name],
            Store::Base(b) => match name.checked_sub(b.index.name_count()) {
                None => b.index.name(name as u32),
                Some(extra) => b.extra_names[extra],
            },
        }
    }
}

/// Why record `record` of `index` cannot be installed.
fn uninstallable(
    index: &ParsedIndex,
    record: usize,
    has_problems: bool,
    arch: &str,
    arches: &[String],
) -> Vec<Uninstallable> {
    let mut out: Vec<Uninstallable> = if has_problems {
        index
            .problems(record)
            .into_iter()
            .map(|p| Uninstallable::Field(p.field, p.message))
            .collect()
    } else {
        Vec::new()
    };
    if foreign_arch(arches, arch) {
        out.push(Uninstallable::Arch(arch.to_owned()));
    }
    out
}

impl<'a> Owned<'a> {
    fn intern(&mut self, name: &'a str) -> NameId {
        if let Some(id) = self.base.and_then(|b| b.lookup(name)) {
            return id as NameId;
        }
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name);
        self.by_name.insert(name, id);
        id
    }

    /// Starts tracking identities across sources (the first index added
    /// needs none: it marks its own duplicates).
    fn identities(&mut self) -> &mut HashMap<[u8; 20], PkgId> {
        let rows = &self.rows;
        self.by_identity.get_or_insert_with(|| {
            let mut map = HashMap::default();
            for (id, r) in rows.iter().enumerate() {
                if let Some(c) = r.checksum {
                    map.entry(c.identity()).or_insert(id);
                }
            }
            map
        })
    }

    /// Copies the packages of `index`, names mapped through `map` (same
    /// ids when `None`).
    fn add_index_rows(
        &mut self,
        index: &'a ParsedIndex,
        bit: u64,
        map: Option<&[NameId]>,
        arches: &[String],
    ) {
        let name = |id: u32| map.map_or(id as NameId, |m| m[id as usize]);
        self.rows.reserve(index.package_count());
        for pkg in 0..index.package_count() as u32 {
            let i = index.package_record(pkg);
            let row = index.row(i);
            let identity = row.checksum.map(|c| c.identity());
            if let Some(id) = identity.and_then(|k| self.by_identity.as_ref()?.get(&k)) {
                self.rows[*id].pkg.repos |= bit;
                continue;
            }
            let id = self.rows.len();
            let deps_start = self.deps.len() as u32;
            self.deps
                .extend(index.depends(i).map(|a| Dep::new(name(a.name), a.dep)));
            let iif_start = self.deps.len() as u32;
            self.deps
                .extend(index.install_if(i).map(|a| Dep::new(name(a.name), a.dep)));
            let deps = deps_start..self.deps.len() as u32;
            let provides_start = self.provides.len() as u32;
            self.provides
                .extend(index.provides(i).map(|(n, v)| (name(n), v)));
            self.provide_names.extend(
                self.provides[provides_start as usize..]
                    .iter()
                    .map(|&(n, _)| n),
            );
            let uninstallable = uninstallable(index, i, row.has_problems, row.arch, arches);
            self.rows.push(Row {
                pkg: Package {
                    name: name(row.name),
                    version: row.version,
                    repos: bit,
                    installed: None,
                    virtual_package: false,
                    installable: uninstallable.is_empty(),
                    provider_priority: row.provider_priority.unwrap_or(0),
                    installed_size: row.installed_size,
                },
                checksum: row.checksum,
                uninstallable,
                source: Source::Index(index, i as u32),
                deps,
                iif_start,
                provides: provides_start..self.provides.len() as u32,
            });
            if let (Some(map), Some(k)) = (&mut self.by_identity, identity) {
                map.insert(k, id);
            }
        }
    }

    /// Adds one package record, or returns the existing package with the
    /// same identity.
    /// `known` are problems found already; unless `checked`, the name,
    /// version and atoms are validated here, in the same pass that parses
    /// them.
    fn add_package(
        &mut self,
        info: &'a PackageInfo<'a>,
        known: &[FieldProblem],
        checked: bool,
        arches: &[String],
    ) -> PkgId {
        let identity = info.checksum.map(|c| c.identity());
        if let Some(i) = identity {
            if let Some(&id) = self.identities().get(&i) {
                return id;
            }
        }
        let id = self.rows.len();
        let name = self.intern(&info.name);
        let mut problems = known.to_vec();
        let mut problem = |field: char, message: String| {
            if !checked {
                problems.push(FieldProblem { field, message });
            }
        };
        if !apk::dependency::is_valid_package_name(&info.name) {
            problem('P', format!("'{}' is not a valid package name", info.name));
        }
        if let Err(e) = apk::version::Version::parse(&info.version) {
            problem('V', e.to_string());
        }
        let deps_start = self.deps.len() as u32;
        for dep in info.depends() {
            match dep {
                Ok(atom) => {
                    let name = self.intern(atom.name);
                    self.deps.push(Dep::new(name, atom));
                }
                Err(e) => problem('D', e.to_string()),
            }
        }
        let provides_start = self.provides.len() as u32;
        for p in info.provides() {
            match p {
                Ok(p) => {
                    let name = self.intern(p.name);
                    self.provides.push((name, p.version));
                    self.provide_names.push(name);
                }
                Err(e) => problem('p', e.to_string()),
            }
        }
        let iif_start = self.deps.len() as u32;
        for dep in info.install_if() {
            match dep {
                Ok(atom) => {
                    let name = self.intern(atom.name);
                    self.deps.push(Dep::new(name, atom));
                }
                Err(e) => problem('i', e.to_string()),
            }
        }
        if !checked {
            for r in info.replaces() {
                if let Err(e) = r {
                    problem('r', e.to_string());
                }
            }
        }
        let mut uninstallable: Vec<Uninstallable> = problems
            .into_iter()
            .map(|p| Uninstallable::Field(p.field, p.message))
            .collect();
        if foreign_arch(arches, &info.arch) {
            uninstallable.push(Uninstallable::Arch(info.arch.to_string()));
        }
        // `D:` atoms then `i:` atoms: the provides went to another table
        // between the two loops, so the dependency range is whole.
        self.rows.push(Row {
            pkg: Package {
                name,
                version: &info.version,
                repos: 0,
                installed: None,
                virtual_package: false,
                installable: uninstallable.is_empty(),
                provider_priority: info.provider_priority.unwrap_or(0),
                installed_size: info.installed_size,
            },
            checksum: info.checksum,
            uninstallable,
            source: Source::Info(info),
            deps: deps_start..self.deps.len() as u32,
            iif_start,
            provides: provides_start..self.provides.len() as u32,
        });
        if let Some(i) = identity {
            self.identities().insert(i, id);
        }
        id
    }

    fn finish(&mut self) {
        let names = self.names.len();
        let mut providers = Vec::with_capacity(self.rows.len() + self.provides.len());
        let mut rdepends = Vec::with_capacity(self.deps.len());
        let mut rinstall_if = Vec::new();
        // The last package pushed to each name's reverse dependencies, to
        // push a package once per name it depends on.
        let mut last = vec![usize::MAX; names];
        for (id, r) in self.rows.iter().enumerate() {
            providers.push((
                r.pkg.name as u32,
                Provider {
                    pkg: id,
                    version: Some(r.pkg.version),
                },
            ));
            let provides = &self.provides[r.provides.start as usize..r.provides.end as usize];
            for &(n, version) in provides {
                providers.push((n as u32, Provider { pkg: id, version }));
            }
            for d in &self.deps[r.deps.start as usize..r.iif_start as usize] {
                if last[d.name] != id {
                    last[d.name] = id;
                    rdepends.push((d.name as u32, id));
                }
            }
            // Install-if links name every name the package is known by.
            for d in &self.deps[r.iif_start as usize..r.deps.end as usize] {
                rinstall_if.push((d.name as u32, r.pkg.name));
                for &(n, _) in provides {
                    rinstall_if.push((d.name as u32, n));
                }
            }
        }
        self.providers = Lists::build(names, &providers);
        self.provider_pkgs = Lists {
            start: self.providers.start.clone(),
            items: self.providers.items.iter().map(|p| p.pkg).collect(),
        };
        self.rdepend_pkgs = Lists::build(names, &rdepends);
        let mut iif = Lists::build(names, &rinstall_if);
        // Keep the first occurrence of each name in each list.
        if !iif.items.is_empty() {
            let mut seen = vec![false; names];
            let mut items = Vec::with_capacity(iif.items.len());
            let mut start = vec![0u32; names + 1];
            for n in 0..names {
                let list = iif.get(n);
                for &r in list {
                    if !std::mem::replace(&mut seen[r], true) {
                        items.push(r);
                    }
                }
                for &r in list {
                    seen[r] = false;
                }
                start[n + 1] = items.len() as u32;
            }
            iif = Lists { start, items };
        }
        self.rinstall_if = iif;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apk::index::text::{self, Strictness, Validation};

    const TEXT: &str =
        "C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\nI:5\nA:x86_64\nD:b so:x\np:cmd:a=1 virt\ni:b c\n\n\
C:Q1C4uoV7SdMdDhYg4OCVmI71D8HIA=\nP:b\nV:2\nA:aarch64\np:so:x=1\nD:a\n\n\
C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\n\n\
C:Q1C4uoV7SdMdDhYg4OCVmI71D8HIB=\nP:c\nV:bad\nk:3\n";

    /// Everything the solver reads, as plain data.
    fn dump(db: &Db<'_>) -> Vec<String> {
        let mut out = Vec::new();
        for p in 0..db.package_count() {
            let k = db.package(p);
            assert_eq!(db.broken(p), k.installed.is_none() && !k.installable, "{p}");
            let d = db.discovery(p);
            assert_eq!(
                (
                    d.repos,
                    d.installed,
                    d.virtual_package,
                    d.installable,
                    d.zero_size
                ),
                (
                    k.repos,
                    k.installed.is_some(),
                    k.virtual_package,
                    k.installable,
                    k.installed_size.unwrap_or(0) == 0
                ),
                "{p}"
            );
            out.push(format!(
                "pkg {} {:?} {:?} {:?} {:?} {:?} {:?}",
                db.pkg_label(p),
                db.depends(p)
                    .map(|d| (db.name_str(d.name), db.atom(&d).to_string()))
                    .collect::<Vec<_>>(),
                db.install_if(p)
                    .map(|d| db.atom(&d).to_string())
                    .collect::<Vec<_>>(),
                db.provides(p)
                    .map(|(n, v)| (db.name_str(n), v))
                    .collect::<Vec<_>>(),
                db.uninstallable(p),
                (db.package(p), db.checksum(p)),
                db.info(p).into_owned(),
            ));
        }
        for n in 0..db.name_count() {
            out.push(format!(
                "name {} {:?} {:?} {:?}",
                db.name_str(n),
                db.providers(n).collect::<Vec<_>>(),
                db.rdepend_pkgs(n).collect::<Vec<_>>(),
                db.rinstall_if(n)
                    .map(|r| db.name_str(r))
                    .collect::<Vec<_>>(),
            ));
        }
        out
    }

    #[test]
    fn records_and_parsed_index_give_the_same_universe() {
        let parsed =
            text::parse_with(TEXT, "t", Strictness::Lenient, Validation::Deferred).unwrap();
        let index = ParsedIndex::build(TEXT, "", false, "t", [0; 32]).unwrap();
        let installed = PackageInfo {
            name: "b".into(),
            version: "2".into(),
            checksum: apk::checksum::Checksum::parse("Q1C4uoV7SdMdDhYg4OCVmI71D8HIA=").ok(),
            ..Default::default()
        };
        let extra = PackageInfo {
            name: "z".into(),
            version: "1".into(),
            depends: "a virt".into(),
            ..Default::default()
        };
        for twice in [false, true] {
            let mut from_records = Db::new(&["x86_64"]);
            from_records
                .add_repository("r", None, true, false, parsed.records.iter())
                .unwrap();
            let mut from_index = Db::new(&["x86_64"]);
            from_index
                .add_index("r", None, true, false, &index)
                .unwrap();
            if twice {
                for db in [&mut from_records, &mut from_index] {
                    db.add_virtual(&extra);
                    db.add_installed(&installed, None);
                }
                from_records
                    .add_repository("s", Some("edge"), true, false, parsed.records.iter())
                    .unwrap();
                from_index
                    .add_index("s", Some("edge"), true, false, &index)
                    .unwrap();
            }
            for db in [&mut from_records, &mut from_index] {
                db.intern("only-in-the-world");
                db.finish();
            }
            assert_eq!(dump(&from_index), dump(&from_records), "twice: {twice}");
            assert_eq!(from_index.lookup("so:x"), from_records.lookup("so:x"));
            assert!(from_index.lookup("nosuch").is_none());
        }
    }
}
