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
use apk::dependency::{Context, Dependency};
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
    /// The atom as written.
    pub atom: Dependency<'a>,
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

/// One package.
#[derive(Clone, Debug)]
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
    /// Why it cannot be installed, if so.
    pub uninstallable: Vec<Uninstallable>,
    /// Provider priority (`k:`), 0 when absent.
    pub provider_priority: u64,
    /// `I:` (installed size).
    pub installed_size: Option<u64>,
    /// `C:`.
    pub checksum: Option<Checksum>,
    source: Source<'a>,
    /// `depends` then `install_if` in [`Db`]'s dependency table.
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

    /// Builds the lists from `(name, item)` pairs given in order (a
    /// stable counting sort).
    fn build(names: usize, pairs: &[(u32, T)]) -> Self {
        let mut start = vec![0u32; names + 1];
        for &(n, _) in pairs {
            start[n as usize + 1] += 1;
        }
        for i in 0..names {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut items = match pairs.first() {
            Some(&(_, filler)) => vec![filler; pairs.len()],
            None => Vec::new(),
        };
        for &(n, item) in pairs {
            let at = &mut next[n as usize];
            items[*at as usize] = item;
            *at += 1;
        }
        Lists { start, items }
    }
}

/// The universe: names, packages, repositories and tags.
#[derive(Clone, Debug)]
pub struct Db<'a> {
    /// All packages, indexed by [`PkgId`].
    pub packages: Vec<Package<'a>>,
    /// Repositories, bit `i` of [`Package::repos`] is `repos[i]`.
    pub repos: Vec<Repo>,
    /// Tags; `tags[0]` is the default.
    pub tags: Vec<Tag>,
    /// Architectures packages may have (`/etc/apk/arch`); empty = any.
    pub arches: Vec<String>,
    /// Installed packages in database order.
    pub installed: Vec<PkgId>,
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
    providers: Lists<Provider<'a>>,
    rdepend_pkgs: Lists<PkgId>,
    rinstall_if: Lists<NameId>,
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
            packages: Vec::new(),
            repos: Vec::new(),
            tags: vec![Tag {
                name: String::new(),
                repos: 0,
            }],
            arches: arches.iter().map(|a| a.to_string()).collect(),
            installed: Vec::new(),
            names: Vec::new(),
            base: None,
            by_name: HashMap::default(),
            by_identity: None,
            deps: Vec::new(),
            provides: Vec::new(),
            providers: Lists::default(),
            rdepend_pkgs: Lists::default(),
            rinstall_if: Lists::default(),
        }
    }

    /// Number of names.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// The id of `name`, creating it when new.
    pub fn intern(&mut self, name: &'a str) -> NameId {
        if let Some(id) = self.lookup(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name);
        self.by_name.insert(name, id);
        id
    }

    /// The id of `name`, if known.
    pub fn lookup(&self, name: &str) -> Option<NameId> {
        if let Some(id) = self.base.and_then(|b| b.lookup(name)) {
            return Some(id as NameId);
        }
        self.by_name.get(name).copied()
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
        for record in records {
            // Unless the parser checked every field, atoms are checked here.
            let id = self.add_package(&record.info, &record.problems, record.checked);
            self.packages[id].repos |= 1 << repo;
        }
        Ok(repo)
    }

    /// Adds a repository from a parsed index: its atoms are parsed and its
    /// names interned already, so this only copies rows. Returns the
    /// repository index.
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
        // Table name id → our name id.
        let map: Option<Vec<NameId>> = if self.names.is_empty() && self.base.is_none() {
            self.base = Some(index);
            self.names = (0..index.name_count() as u32)
                .map(|i| index.name(i))
                .collect();
            None
        } else {
            Some(
                (0..index.name_count() as u32)
                    .map(|i| self.intern(index.name(i)))
                    .collect(),
            )
        };
        let name = |id: u32| map.as_ref().map_or(id as NameId, |m| m[id as usize]);
        if !self.packages.is_empty() {
            self.identities();
        }
        self.packages.reserve(index.len());
        for i in 0..index.len() {
            let row = index.row(i);
            if row.duplicate {
                continue;
            }
            let identity = row.checksum.map(|c| c.identity());
            if let Some(id) = identity.and_then(|k| self.by_identity.as_ref()?.get(&k)) {
                self.packages[*id].repos |= bit;
                continue;
            }
            let id = self.packages.len();
            let deps_start = self.deps.len() as u32;
            self.deps.extend(index.depends(i).map(|a| Dep {
                name: name(a.name),
                atom: a.dep,
            }));
            let iif_start = self.deps.len() as u32;
            self.deps.extend(index.install_if(i).map(|a| Dep {
                name: name(a.name),
                atom: a.dep,
            }));
            let deps = deps_start..self.deps.len() as u32;
            let provides_start = self.provides.len() as u32;
            self.provides
                .extend(index.provides(i).map(|(n, v)| (name(n), v)));
            let provides = provides_start..self.provides.len() as u32;
            let mut uninstallable: Vec<Uninstallable> = if row.has_problems {
                index
                    .problems(i)
                    .into_iter()
                    .map(|p| Uninstallable::Field(p.field, p.message))
                    .collect()
            } else {
                Vec::new()
            };
            if self.foreign_arch(row.arch) {
                uninstallable.push(Uninstallable::Arch(row.arch.to_owned()));
            }
            self.packages.push(Package {
                name: name(row.name),
                version: row.version,
                repos: bit,
                installed: None,
                virtual_package: false,
                uninstallable,
                provider_priority: row.provider_priority.unwrap_or(0),
                installed_size: row.installed_size,
                checksum: row.checksum,
                source: Source::Index(index, i as u32),
                deps,
                iif_start,
                provides,
            });
            if let (Some(map), Some(k)) = (&mut self.by_identity, identity) {
                map.insert(k, id);
            }
        }
        Ok(repo)
    }

    /// Starts tracking identities across sources (the first index added
    /// needs none: it marks its own duplicates).
    fn identities(&mut self) -> &mut HashMap<[u8; 20], PkgId> {
        let packages = &self.packages;
        self.by_identity.get_or_insert_with(|| {
            let mut map = HashMap::default();
            for (id, p) in packages.iter().enumerate() {
                if let Some(c) = p.checksum {
                    map.entry(c.identity()).or_insert(id);
                }
            }
            map
        })
    }

    fn foreign_arch(&self, arch: &str) -> bool {
        !arch.is_empty()
            && arch != "noarch"
            && !self.arches.is_empty()
            && !self.arches.iter().any(|a| *a == arch)
    }

    /// Marks a package as installed (a record of `lib/apk/db/installed`),
    /// pinned to repository tag `tag` (the database's `s:`). A record whose
    /// identity a repository also lists is that package.
    pub fn add_installed(&mut self, info: &'a PackageInfo<'a>, tag: Option<&str>) -> PkgId {
        let id = self.add_package(info, &[], false);
        let tag = tag.map_or(DEFAULT_TAG, |t| self.tag(t));
        self.packages[id].installed = Some(Installed { tag });
        if !self.installed.contains(&id) {
            self.installed.push(id);
        }
        id
    }

    /// Adds a package that needs no repository (`apk add -t .virtual`).
    pub fn add_virtual(&mut self, info: &'a PackageInfo<'a>) -> PkgId {
        let id = self.add_package(info, &[], false);
        self.packages[id].virtual_package = true;
        id
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
    ) -> PkgId {
        let identity = info.checksum.map(|c| c.identity());
        if let Some(i) = identity {
            if let Some(&id) = self.identities().get(&i) {
                return id;
            }
        }
        let id = self.packages.len();
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
                    self.deps.push(Dep { name, atom });
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
                }
                Err(e) => problem('p', e.to_string()),
            }
        }
        let iif_start = self.deps.len() as u32;
        for dep in info.install_if() {
            match dep {
                Ok(atom) => {
                    let name = self.intern(atom.name);
                    self.deps.push(Dep { name, atom });
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
        if self.foreign_arch(&info.arch) {
            uninstallable.push(Uninstallable::Arch(info.arch.to_string()));
        }
        // `D:` atoms then `i:` atoms: the provides were pushed between the
        // two loops into another table, so the dependency range is whole.
        self.packages.push(Package {
            name,
            version: &info.version,
            repos: 0,
            installed: None,
            virtual_package: false,
            uninstallable,
            provider_priority: info.provider_priority.unwrap_or(0),
            installed_size: info.installed_size,
            checksum: info.checksum,
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

    /// Builds the per-name lists (providers, reverse dependencies, reverse
    /// `install_if`); call after adding everything and before solving.
    pub fn finish(&mut self) {
        let names = self.names.len();
        let mut providers = Vec::with_capacity(self.packages.len() + self.provides.len());
        let mut rdepends = Vec::with_capacity(self.deps.len());
        let mut rinstall_if = Vec::new();
        // The last package pushed to each name's reverse dependencies, to
        // push a package once per name it depends on.
        let mut last = vec![usize::MAX; names];
        for (id, p) in self.packages.iter().enumerate() {
            providers.push((
                p.name as u32,
                Provider {
                    pkg: id,
                    version: Some(p.version),
                },
            ));
            let provides = &self.provides[p.provides.start as usize..p.provides.end as usize];
            for &(n, version) in provides {
                providers.push((n as u32, Provider { pkg: id, version }));
            }
            for d in &self.deps[p.deps.start as usize..p.iif_start as usize] {
                if last[d.name] != id {
                    last[d.name] = id;
                    rdepends.push((d.name as u32, id));
                }
            }
            // Install-if links name every name the package is known by.
            for d in &self.deps[p.iif_start as usize..p.deps.end as usize] {
                rinstall_if.push((d.name as u32, p.name));
                for &(n, _) in provides {
                    rinstall_if.push((d.name as u32, n));
                }
            }
        }
        self.providers = Lists::build(names, &providers);
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

    /// Every package offering `name` (its own packages and providers), in
    /// the order they were added. Empty before [`Db::finish`].
    pub fn providers(&self, name: NameId) -> &[Provider<'a>] {
        self.providers.get(name)
    }

    /// Packages that depend on `name`; see [`Db::rdepends`] for the names
    /// they are known by.
    pub fn rdepend_pkgs(&self, name: NameId) -> &[PkgId] {
        self.rdepend_pkgs.get(name)
    }

    /// Names (own or provided) of packages whose `install_if` mentions
    /// `name`.
    pub fn rinstall_if(&self, name: NameId) -> &[NameId] {
        self.rinstall_if.get(name)
    }

    /// `D:` of a package.
    pub fn depends(&self, pkg: PkgId) -> &[Dep<'a>] {
        let p = &self.packages[pkg];
        &self.deps[p.deps.start as usize..p.iif_start as usize]
    }

    /// `i:` of a package.
    pub fn install_if(&self, pkg: PkgId) -> &[Dep<'a>] {
        let p = &self.packages[pkg];
        &self.deps[p.iif_start as usize..p.deps.end as usize]
    }

    /// `p:` of a package: name and version (`None` = virtual).
    pub fn provides(&self, pkg: PkgId) -> &[(NameId, Option<&'a str>)] {
        let p = &self.packages[pkg];
        &self.provides[p.provides.start as usize..p.provides.end as usize]
    }

    /// Every field of a package's record.
    pub fn info(&self, pkg: PkgId) -> Cow<'a, PackageInfo<'a>> {
        match self.packages[pkg].source {
            Source::Info(info) => Cow::Borrowed(info),
            Source::Index(index, i) => Cow::Owned(index.record(i as usize).info),
        }
    }

    /// Parses and interns a world atom (`name@tag>=1`). The tag must exist.
    pub fn world_dep(&mut self, atom: Dependency<'a>) -> Dep<'a> {
        Dep {
            name: self.intern(atom.name),
            atom,
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
        self.rdepend_pkgs(name).iter().flat_map(move |&p| {
            std::iter::once(self.packages[p].name).chain(self.provides(p).iter().map(|&(n, _)| n))
        })
    }

    /// `name-version` of a package.
    pub fn pkg_label(&self, pkg: PkgId) -> String {
        let p = &self.packages[pkg];
        format!("{}-{}", self.names[p.name], p.version)
    }

    /// The name string of a name id.
    pub fn name_str(&self, name: NameId) -> &'a str {
        self.names[name]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apk::index::text::{self, Strictness, Validation};

    const TEXT: &str =
        "C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\nA:x86_64\nD:b so:x\np:cmd:a=1 virt\ni:b c\n\n\
C:Q1C4uoV7SdMdDhYg4OCVmI71D8HIA=\nP:b\nV:2\nA:aarch64\np:so:x=1\nD:a\n\n\
C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=\nP:a\nV:1\n\n\
C:Q1C4uoV7SdMdDhYg4OCVmI71D8HIB=\nP:c\nV:bad\nk:3\n";

    /// Everything the solver reads, as plain data.
    fn dump(db: &Db<'_>) -> Vec<String> {
        let mut out = Vec::new();
        for p in 0..db.packages.len() {
            let k = &db.packages[p];
            out.push(format!(
                "pkg {} {:?} {:?} {:?} {:?} {:?} {:?}",
                db.pkg_label(p),
                db.depends(p)
                    .iter()
                    .map(|d| (db.name_str(d.name), d.atom.to_string()))
                    .collect::<Vec<_>>(),
                db.install_if(p)
                    .iter()
                    .map(|d| d.atom.to_string())
                    .collect::<Vec<_>>(),
                db.provides(p)
                    .iter()
                    .map(|&(n, v)| (db.name_str(n), v))
                    .collect::<Vec<_>>(),
                k.uninstallable,
                (k.repos, k.provider_priority, k.installed_size, k.checksum),
                db.info(p).into_owned(),
            ));
        }
        for n in 0..db.name_count() {
            out.push(format!(
                "name {} {:?} {:?} {:?}",
                db.name_str(n),
                db.providers(n),
                db.rdepend_pkgs(n),
                db.rinstall_if(n)
                    .iter()
                    .map(|&r| db.name_str(r))
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
            from_records.finish();
            from_index.finish();
            assert_eq!(dump(&from_index), dump(&from_records), "twice: {twice}");
            assert_eq!(from_index.lookup("so:x"), from_records.lookup("so:x"));
            assert!(from_index.lookup("nosuch").is_none());
        }
    }
}
