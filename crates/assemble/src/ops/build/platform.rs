//! Phase 2: the plan of one architecture — the source's apk state, the
//! keyring, verified indexes of the configured repositories (and, as
//! optional extras, of those the source image lists), and the resolution
//! of the declared atoms under the image policy with the lock's pins.
//! Nothing is fetched or written.

use std::path::Path;

use apk::checksum::Checksum;
use apk::index::archive::Trust;
use apk::package::PackageInfo;
use apk::signature::{self, Keyring};
use apk_repo::Fetcher;
use apk_solve::resolve::{self, Index, Inputs, Installed, Pins, ResolveRequest};
use apk_solve::Policy;
use oci_image::layout::PlatformImage;
use oci_image::rootfs::RootFs;

use super::app::{self, Crate, PlatformApp};
use super::source::{self, SourceImage};
use super::{BuildError, BuildOptions, Log, PlatformReport};
use crate::layer::BaseState;
use crate::lock::LockedPackage;
use crate::model::{Image, Repository};
use crate::ops::repos::{self, LoadedIndex};
use crate::ops::{Step, Warning};

/// What one architecture of a build will do.
pub(super) struct PlatformPlan<'s> {
    pub arch: String,
    /// The source image of this architecture (`None` for `scratch`).
    pub image: Option<&'s PlatformImage>,
    /// The source's effective filesystem.
    pub fs: RootFs,
    /// The source's apk state.
    pub base: BaseState,
    /// Configured keys to install into the image: file name, PEM.
    pub key_files: Vec<(String, Vec<u8>)>,
    /// The repositories packages come from (configured, then the
    /// source's), as numbered in [`PlannedPackage::repo`].
    pub repos: Vec<Repository>,
    /// The packages to add, in install order.
    pub packages: Vec<PlannedPackage>,
    /// Manifest digest of the source image (`scratch` for none).
    pub source_digest: String,
    /// The application: built binaries, their needs, run settings.
    pub app: PlatformApp,
    /// Files, directories and config the declaration's extras add.
    pub generated: super::extras::Generated,
}

/// One package to add.
pub(super) struct PlannedPackage {
    pub name: String,
    pub version: String,
    pub identity: Checksum,
    pub size: Option<u64>,
    /// Index into [`PlatformPlan::repos`].
    pub repo: usize,
}

impl PlatformPlan<'_> {
    /// The added packages as the lock records them, sorted.
    pub fn locked_packages(&self) -> Vec<LockedPackage> {
        let mut out: Vec<LockedPackage> = self
            .packages
            .iter()
            .map(|p| LockedPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                checksum: p.identity.to_string(),
                repository: self.repos[p.repo].as_written.clone(),
            })
            .collect();
        out.sort();
        out
    }

    /// The report of a dry run.
    pub fn report(&self) -> PlatformReport {
        let packages = self.locked_packages();
        PlatformReport {
            arch: self.arch.clone(),
            manifest_digest: String::new(),
            added: packages
                .iter()
                .map(|p| format!("{}-{}", p.name, p.version))
                .collect(),
            layer_size: 0,
            sbom: Default::default(),
            source_digest: self.source_digest.clone(),
            packages,
            application: self.application(),
        }
    }

    /// The application part of the report, when the image has one.
    pub fn application(&self) -> Option<app::AppReport> {
        (self.app.report != app::AppReport::default()).then(|| self.app.report.clone())
    }
}

/// Plans `arch` of `image`.
pub(super) fn plan<'s>(
    image: &Image,
    source: &'s SourceImage,
    krate: Option<&Crate>,
    arch: &str,
    fetcher: &Fetcher,
    options: &BuildOptions,
    log: &mut Log<'_>,
) -> Result<PlatformPlan<'s>, BuildError> {
    log.step(image, arch, Step::ReadingSource);
    let platform = source.platform(arch)?;
    let (fs, files) = source.scan(image, platform)?;
    let base = source::base_state(image, arch, &fs, &files)?;
    let (keyring, key_files) = keyring(image, &files)?;
    let generated = super::extras::generate(image, arch, &fs, &files, &key_files)?;

    log.step(image, arch, Step::LoadingIndexes);
    let (repos, indexes) = load_indexes(image, arch, &base, &keyring, fetcher, options, log)?;

    // The image's /etc/passwd, which a named `user` must be in: the one the
    // accounts merge writes, else the base's (its links followed).
    let passwd = generated
        .files
        .iter()
        .find(|f| f.path == "etc/passwd")
        .map(|f| f.content.as_slice())
        .or_else(|| {
            let real = fs.resolve("etc/passwd")?;
            files.get(&real).map(Vec::as_slice)
        });
    let app = app::prepare(image, krate, arch, &fs, &base, passwd, options, log)?;

    log.step(image, arch, Step::Resolving);
    let packages = resolve(image, arch, &base, &repos, &indexes, options, &app)?;
    Ok(PlatformPlan {
        arch: arch.to_owned(),
        image: platform,
        fs,
        base,
        key_files,
        repos,
        packages,
        source_digest: source::digest(platform),
        app,
        generated,
    })
}

/// The source's keys (`etc/apk/keys`), then the configured ones; and the
/// configured key files to install into the image.
#[allow(clippy::type_complexity)]
fn keyring(
    image: &Image,
    files: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Result<(Keyring, Vec<(String, Vec<u8>)>), BuildError> {
    let mut keyring = Keyring::new();
    for (path, pem) in files {
        if let Some(name) = path.strip_prefix("etc/apk/keys/") {
            if let Some(k) = signature::parse_public_key(&String::from_utf8_lossy(pem)) {
                keyring.insert(name.to_owned(), k);
            }
        }
    }
    let mut key_files = Vec::new();
    for key in &image.keyring {
        let path = &key.path;
        keyring.add_path(path).map_err(|error| BuildError::Key {
            path: path.clone(),
            error,
        })?;
        let write_err = |error| BuildError::Write {
            path: path.clone(),
            error,
        };
        for file in repos::key_files(&[path.as_path()]).map_err(write_err)? {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let pem = std::fs::read(&file).map_err(|error| BuildError::Write {
                path: file.clone(),
                error,
            })?;
            key_files.push((name, pem));
        }
    }
    Ok((keyring, key_files))
}

/// Verified indexes: the configured repositories (a failure is an error),
/// then the `http(s)` repositories the source image lists that are not
/// configured already (optional: a failure is a warning). Lines of the
/// source naming a tag or a local path are skipped: tags are declared in
/// assembly.toml, and paths inside the image mean nothing on this machine.
fn load_indexes(
    image: &Image,
    arch: &str,
    base: &BaseState,
    keyring: &Keyring,
    fetcher: &Fetcher,
    options: &BuildOptions,
    log: &mut Log<'_>,
) -> Result<(Vec<Repository>, Vec<LoadedIndex>), BuildError> {
    let mut repos = Vec::new();
    let mut indexes = Vec::new();
    for r in &image.repositories {
        let index = repos::load(fetcher, r, arch, keyring, Trust::Verify).map_err(|error| {
            BuildError::Index {
                arch: arch.to_owned(),
                repository: r.as_written.clone(),
                error: Box::new(error),
            }
        })?;
        repos.push(r.value.clone());
        indexes.push(index);
    }
    let listed: Vec<Repository> = base
        .repositories
        .as_deref()
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@'))
        .filter_map(|l| Repository::parse(l, Path::new("/")).ok())
        .filter(|r| r.is_remote())
        .filter(|r| !image.repositories.iter().any(|c| c.location == r.location))
        .collect();
    if listed.is_empty() {
        return Ok((repos, indexes));
    }
    // Often unreachable from a build machine: one attempt each.
    let optional =
        repos::fetcher(&options.fetch, true).map_err(|e| BuildError::Fetcher(Box::new(e)))?;
    for r in listed {
        match repos::load(&optional, &r, arch, keyring, Trust::Verify) {
            Ok(index) => {
                repos.push(r);
                indexes.push(index);
            }
            Err(error) => log.warn(Warning::SourceRepositorySkipped {
                arch: arch.to_owned(),
                repository: r.as_written.clone(),
                error: Box::new(error),
            }),
        }
    }
    Ok((repos, indexes))
}

/// No locked versions.
static NONE: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();

/// Resolves the declared atoms over the source's packages and the indexes.
fn resolve(
    image: &Image,
    arch: &str,
    base: &BaseState,
    repos: &[Repository],
    indexes: &[LoadedIndex],
    options: &BuildOptions,
    app: &PlatformApp,
) -> Result<Vec<PlannedPackage>, BuildError> {
    let universe_indexes: Vec<Index<'_, '_>> = indexes
        .iter()
        .zip(repos)
        .map(|(i, r)| Index::parsed(&i.label, &i.index).tagged(r.tag.as_deref()))
        .collect();
    let infos: Vec<PackageInfo<'_>> = base.installed.records.iter().map(|r| r.info()).collect();
    let installed: Vec<Installed<'_>> = infos
        .iter()
        .map(|info| Installed { info, tag: None })
        .collect();
    let mut db = resolve::universe(&Inputs {
        arches: &[arch, "noarch"],
        indexes: &universe_indexes,
        installed: &installed,
        ..Default::default()
    })
    .map_err(|error| BuildError::Universe {
        arch: arch.to_owned(),
        error,
    })?;
    // What the binaries need: a library no package provides is named as
    // such rather than as the solver's failure.
    app.check_providers(|atom| {
        db.lookup(atom)
            .is_some_and(|name| db.provider_pkgs(name).len() > 0)
    })?;
    let needed: Vec<apk::dependency::Atom> = app
        .atoms
        .iter()
        .filter_map(|a| apk::dependency::Atom::parse(a).ok())
        .collect();
    let request = ResolveRequest {
        world: image
            .packages
            .iter()
            .map(|a| a.dependency())
            .chain(needed.iter().map(|a| a.dependency()))
            .collect(),
        policy: Policy::Image,
        pins: Some(Pins {
            keep: options.pins.keep.get(arch).unwrap_or(&NONE),
            exact: options
                .pins
                .exact
                .as_ref()
                .map(|e| e.get(arch).unwrap_or(&NONE)),
        }),
        ..Default::default()
    };
    let resolution = resolve::resolve(&mut db, &request).map_err(|error| BuildError::Resolve {
        arch: arch.to_owned(),
        error,
    })?;
    let mut out = Vec::new();
    for change in resolution.added(&db) {
        let Some(p) = change.new else { continue };
        let pkg = db.package(p);
        let repo = resolve::source_repository(&db, change);
        let (Some(repo), Some(identity)) = (repo, db.checksum(p)) else {
            return Err(BuildError::Unfetchable {
                arch: arch.to_owned(),
                package: db.pkg_label(p),
            });
        };
        out.push(PlannedPackage {
            name: db.name_str(pkg.name).to_owned(),
            version: pkg.version.to_owned(),
            identity,
            size: db.info(p).size,
            repo,
        });
    }
    Ok(out)
}
