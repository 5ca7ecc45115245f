//! The package universe a solve runs over: every package from every
//! repository and the installed database, the names they are known by, and
//! the reverse links (who depends on a name, whose `install_if` mentions it)
//! that the solver walks.
//!
//! Packages are identified like apk-tools does: records with the same
//! identity (first 20 bytes of `C:`) are one package, available from every
//! repository that lists it and possibly also installed.

use rustc_hash::FxHashMap as HashMap;

use apk::dependency::{Context, Dependency};
use apk::index::IndexRecord;
use apk::package::{FieldProblem, PackageInfo};

/// Index of a name in [`Db::names`].
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

/// A package or provided name.
#[derive(Clone, Debug, Default)]
pub struct Name<'a> {
    /// The name.
    pub name: &'a str,
    /// Every package offering this name.
    pub providers: Vec<Provider<'a>>,
    /// Packages that depend on this name; see [`Db::rdepends`] for the
    /// names they are known by.
    pub rdepend_pkgs: Vec<PkgId>,
    /// Names (own or provided) of packages whose `install_if` mentions it.
    pub rinstall_if: Vec<NameId>,
    /// 0: only real providers, 1: mixed, 2: only virtual providers. Names
    /// with real packages are resolved first.
    pub priority: u8,
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

/// One package.
#[derive(Clone, Debug)]
pub struct Package<'a> {
    /// Its metadata.
    pub info: &'a PackageInfo<'a>,
    /// Its own name.
    pub name: NameId,
    /// Its version.
    pub version: &'a str,
    /// `D:`.
    pub depends: Vec<Dep<'a>>,
    /// `p:`: name and version (`None` = virtual).
    pub provides: Vec<(NameId, Option<&'a str>)>,
    /// `i:`.
    pub install_if: Vec<Dep<'a>>,
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

/// The universe: names, packages, repositories and tags.
#[derive(Clone, Debug)]
pub struct Db<'a> {
    /// All names, indexed by [`NameId`].
    pub names: Vec<Name<'a>>,
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
    by_name: HashMap<&'a str, NameId>,
    by_identity: HashMap<[u8; 20], PkgId>,
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
            names: Vec::new(),
            packages: Vec::new(),
            repos: Vec::new(),
            tags: vec![Tag {
                name: String::new(),
                repos: 0,
            }],
            arches: arches.iter().map(|a| a.to_string()).collect(),
            installed: Vec::new(),
            by_name: HashMap::default(),
            by_identity: HashMap::default(),
        }
    }

    /// The id of `name`, creating it when new.
    pub fn intern(&mut self, name: &'a str) -> NameId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(Name {
            name,
            ..Default::default()
        });
        self.by_name.insert(name, id);
        id
    }

    /// The id of `name`, if known.
    pub fn lookup(&self, name: &str) -> Option<NameId> {
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

    /// Adds a repository and its packages. Returns the repository index.
    pub fn add_repository<'r>(
        &mut self,
        label: &str,
        tag: Option<&str>,
        available: bool,
        cache: bool,
        records: impl IntoIterator<Item = &'a IndexRecord<'a>>,
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
        for record in records {
            // The index parser already checked every field.
            let id = self.add_package(&record.info, &record.problems, record.checked);
            self.packages[id].repos |= 1 << repo;
        }
        Ok(repo)
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
        if let Some(id) = identity.and_then(|i| self.by_identity.get(&i)) {
            return *id;
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
        let mut depends = Vec::new();
        for dep in info.depends() {
            match dep {
                Ok(atom) => depends.push(Dep {
                    name: self.intern(atom.name),
                    atom,
                }),
                Err(e) => problem('D', e.to_string()),
            }
        }
        let mut provides = Vec::new();
        for p in info.provides() {
            match p {
                Ok(p) => provides.push((self.intern(p.name), p.version)),
                Err(e) => problem('p', e.to_string()),
            }
        }
        let mut install_if = Vec::new();
        for dep in info.install_if() {
            match dep {
                Ok(atom) => install_if.push(Dep {
                    name: self.intern(atom.name),
                    atom,
                }),
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
        if !info.arch.is_empty()
            && info.arch != "noarch"
            && !self.arches.is_empty()
            && !self.arches.iter().any(|a| *a == info.arch)
        {
            uninstallable.push(Uninstallable::Arch(info.arch.to_string()));
        }
        self.names[name].providers.push(Provider {
            pkg: id,
            version: Some(&info.version),
        });
        for &(pname, version) in &provides {
            self.names[pname]
                .providers
                .push(Provider { pkg: id, version });
        }
        // Reverse links are kept per package (one push per dependency);
        // `Db::rdepends` expands them to every name the package is known
        // by, as apk links them.
        for d in &depends {
            push_new(&mut self.names[d.name].rdepend_pkgs, id);
        }
        // Install-if links are rare: expand them here; duplicates are
        // removed in `finish`.
        let known_as: Vec<NameId> = std::iter::once(name)
            .chain(provides.iter().map(|&(n, _)| n))
            .collect();
        for d in &install_if {
            for &n in &known_as {
                push_new(&mut self.names[d.name].rinstall_if, n);
            }
        }
        self.packages.push(Package {
            info,
            name,
            version: &info.version,
            depends,
            provides,
            install_if,
            repos: 0,
            installed: None,
            virtual_package: false,
            uninstallable,
            provider_priority: info.provider_priority.unwrap_or(0),
        });
        if let Some(i) = identity {
            self.by_identity.insert(i, id);
        }
        id
    }

    /// Computes derived data ([`Name::priority`]); call after adding
    /// everything and before solving.
    pub fn finish(&mut self) {
        let mut seen = vec![false; self.names.len()];
        for n in &mut self.names {
            dedup(&mut n.rinstall_if, &mut seen);
        }
        for n in &mut self.names {
            let virtual_count = n.providers.iter().filter(|p| p.version.is_none()).count();
            n.priority = if virtual_count == 0 {
                0
            } else if virtual_count < n.providers.len() {
                1
            } else {
                2
            };
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
        self.names[name].rdepend_pkgs.iter().flat_map(move |&p| {
            let pkg = &self.packages[p];
            std::iter::once(pkg.name).chain(pkg.provides.iter().map(|&(n, _)| n))
        })
    }

    /// `name-version` of a package.
    pub fn pkg_label(&self, pkg: PkgId) -> String {
        let p = &self.packages[pkg];
        format!("{}-{}", self.names[p.name].name, p.version)
    }

    /// The name string of a name id.
    pub fn name_str(&self, name: NameId) -> &'a str {
        self.names[name].name
    }
}

/// Removes later duplicates, keeping first occurrences in order. `seen`
/// is all false before and after.
fn dedup(list: &mut Vec<NameId>, seen: &mut [bool]) {
    list.retain(|&r| !std::mem::replace(&mut seen[r], true));
    for &r in list.iter() {
        seen[r] = false;
    }
}

/// Pushes `id` unless it is already the last element.
fn push_new(v: &mut Vec<NameId>, id: NameId) {
    if v.last() != Some(&id) {
        v.push(id);
    }
}
